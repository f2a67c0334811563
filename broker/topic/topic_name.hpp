// Topic names, topic filters and shared-subscription filters (section 4.7
// and 4.8.2). Strings are assumed to be valid MQTT UTF-8 already (the codec
// checks that); these functions check the MQTT structure.
#pragma once

#include <string_view>

namespace strata::topic {

// Whether `s` holds a '+' or '#' character. A valid filter without one
// matches only the topic spelled the same.
inline bool has_wildcard(std::string_view s) { return s.find_first_of("+#") != std::string_view::npos; }

// A topic name for PUBLISH: at least one character, no wildcards [MQTT-4.7.3-1], [MQTT-3.3.2-2].
bool is_valid_name(std::string_view name);

// A topic filter: '#' only as the whole last level, '+' only as a whole level [MQTT-4.7.1-1..3].
bool is_valid_filter(std::string_view filter);

// `$share/{group}/{filter}` split into its parts.
struct subscription_filter {
    bool shared = false;
    std::string_view group;   // empty unless shared
    std::string_view filter;  // the filter that topics are matched against
};

// Splits a SUBSCRIBE/UNSUBSCRIBE filter. Returns false for an invalid filter or
// an invalid shared subscription (empty group, group with '/', '+' or '#',
// missing filter) [MQTT-4.8.2-1], [MQTT-4.8.2-2].
bool parse_subscription_filter(std::string_view raw, subscription_filter& out);

// Whether a topic name or filter has more than `levels` levels (0: no
// limit). Counts only when the string is long enough to have that many.
inline bool deeper_than(std::string_view topic, std::size_t levels) {
    if (levels == 0 || topic.size() < levels) return false;
    std::size_t count = 1;
    for (const char c : topic) count += c == '/';
    return count > levels;
}

// True when `topic` matches `filter`, including the rule that filters starting
// with a wildcard do not match topics starting with '$' [MQTT-4.7.2-1].
bool matches(std::string_view filter, std::string_view topic);

// Iterates over the '/'-separated levels of a topic or filter.
class level_iterator {
public:
    explicit level_iterator(std::string_view s) : rest_(s), done_(false) {}
    // Returns false once every level has been produced. "a//b" has levels
    // "a", "", "b"; "" has the single level "".
    bool next(std::string_view& level) {
        if (done_) return false;
        const auto slash = rest_.find('/');
        if (slash == std::string_view::npos) {
            level = rest_;
            done_ = true;
        } else {
            level = rest_.substr(0, slash);
            rest_.remove_prefix(slash + 1);
        }
        return true;
    }

private:
    std::string_view rest_;
    bool done_;
};

}  // namespace strata::topic
