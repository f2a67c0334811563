#include "topic/topic_name.hpp"

namespace strata::topic {

bool is_valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 65535 && !has_wildcard(name);
}

bool is_valid_filter(std::string_view filter) {
    if (filter.empty() || filter.size() > 65535) return false;
    level_iterator it(filter);
    std::string_view level;
    bool seen_hash = false;
    while (it.next(level)) {
        if (seen_hash) return false;  // '#' must be the last level
        if (!has_wildcard(level)) continue;
        if (level == "#") {
            seen_hash = true;
        } else if (level != "+") {
            return false;
        }
    }
    return true;
}

bool parse_subscription_filter(std::string_view raw, subscription_filter& out) {
    constexpr std::string_view prefix = "$share/";
    out = {};
    if (!raw.starts_with(prefix)) {
        out.filter = raw;
        return is_valid_filter(raw);
    }
    const auto rest = raw.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return false;
    out.shared = true;
    out.group = rest.substr(0, slash);
    out.filter = rest.substr(slash + 1);
    if (has_wildcard(out.group)) return false;
    return is_valid_filter(out.filter);
}

bool matches(std::string_view filter, std::string_view topic) {
    if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#'))
        return false;
    level_iterator f(filter), t(topic);
    std::string_view fl, tl;
    while (f.next(fl)) {
        if (fl == "#") return true;  // also matches the parent level ("a/#" matches "a")
        if (!t.next(tl)) return false;
        if (fl != "+" && fl != tl) return false;
    }
    return !t.next(tl);
}

}  // namespace strata::topic
