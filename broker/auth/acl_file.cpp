#include "auth/acl_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "topic/topic_name.hpp"

namespace strata::auth {

namespace {

constexpr std::string_view blanks = " \t\r\n";

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

// Splits off the first word of `s` (which is left with the rest, trimmed).
std::string_view first_word(std::string_view& s) {
    const auto end = std::min(s.find_first_of(blanks), s.size());
    const auto word = s.substr(0, end);
    s = trim(s.substr(end));
    return word;
}

bool is_dollar(std::string_view level) { return !level.empty() && level.front() == '$'; }
bool is_wildcard(std::string_view level) { return level == "+" || level == "#"; }

std::string substitute(std::string_view pattern, const std::string* username, std::string_view client_id) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && (pattern[i + 1] == 'c' || pattern[i + 1] == 'u')) {
            out += pattern[i + 1] == 'c' ? client_id : std::string_view(*username);
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

}  // namespace

bool filters_intersect(std::string_view a, std::string_view b) {
    topic::level_iterator ia(a), ib(b);
    std::string_view la, lb;
    for (bool first = true;; first = false) {
        const bool has_a = ia.next(la);
        const bool has_b = ib.next(lb);
        // Filters starting with a wildcard match no '$' topic [MQTT-4.7.2-1].
        if (first && ((is_dollar(la) && is_wildcard(lb)) || (is_dollar(lb) && is_wildcard(la)))) return false;
        if ((has_a && la == "#") || (has_b && lb == "#")) return true;  // "x/#" also matches "x"
        if (!has_a || !has_b) return has_a == has_b;
        if (la != "+" && lb != "+" && la != lb) return false;
    }
}

bool filter_covers(std::string_view outer, std::string_view inner) {
    topic::level_iterator io(outer), ii(inner);
    std::string_view lo, li;
    for (bool first = true;; first = false) {
        const bool has_o = io.next(lo);
        const bool has_i = ii.next(li);
        if (first && is_wildcard(lo) && is_dollar(li)) return false;
        if (has_o && lo == "#") return true;
        if (!has_o || !has_i) return has_o == has_i;
        if (li == "#") return false;  // any depth, which the outer filter does not allow
        if (lo == "+") continue;
        if (li == "+" || lo != li) return false;
    }
}

client_acl::client_acl(std::vector<acl_rule> rules) : rules_(std::move(rules)) {
    std::stable_partition(rules_.begin(), rules_.end(), [](const acl_rule& r) { return r.access == acl_deny; });
}

bool client_acl::allows(std::string_view topic, std::uint8_t access) const {
    for (const auto& r : rules_) {
        if (!topic::matches(r.filter, topic)) continue;
        if (r.access == acl_deny) return false;
        if (r.access & access) return true;
    }
    return false;
}

bool client_acl::may_subscribe(std::string_view filter) const {
    bool readable = false;
    for (const auto& r : rules_) {
        if (r.access == acl_deny) {
            if (filter_covers(r.filter, filter)) return false;
        } else if ((r.access & acl_read) && filters_intersect(r.filter, filter)) {
            readable = true;
        }
    }
    return readable;
}

std::shared_ptr<const acl_file> acl_file::load(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = path + ": cannot read the ACL file: " + std::strerror(errno);
        return nullptr;
    }
    auto file = std::make_shared<acl_file>();
    file->path_ = path;
    std::vector<acl_rule>* current = &file->anonymous_;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        std::string_view rest = trim(line);
        if (rest.empty() || rest.front() == '#') continue;
        const auto where = path + ":" + std::to_string(number) + ": ";
        const auto keyword = first_word(rest);
        if (keyword == "user") {
            if (rest.empty()) {
                error = where + "user needs a username";
                return nullptr;
            }
            current = &file->users_[std::string(rest)];
            continue;
        }
        if (keyword != "topic" && keyword != "pattern") {
            error = where + "expected topic, pattern or user, got '" + std::string(keyword) + "'";
            return nullptr;
        }
        acl_rule rule{.filter = {}, .access = acl_read | acl_write};
        std::string_view filter = rest;
        std::string_view after = rest;
        const auto word = first_word(after);
        if (!after.empty()) {
            if (word == "read") rule.access = acl_read;
            else if (word == "write") rule.access = acl_write;
            else if (word == "readwrite") rule.access = acl_read | acl_write;
            else if (word == "deny") rule.access = acl_deny;
            else {
                error = where + "expected read, write, readwrite or deny, got '" + std::string(word) + "'";
                return nullptr;
            }
            filter = after;
        }
        if (filter.empty() || !topic::is_valid_filter(filter)) {
            error = where + "'" + std::string(filter) + "' is not a valid topic filter";
            return nullptr;
        }
        rule.filter = std::string(filter);
        (keyword == "pattern" ? file->patterns_ : *current).push_back(std::move(rule));
    }
    return file;
}

client_acl acl_file::resolve(const std::string* username, std::string_view client_id, bool* unsafe_names) const {
    std::vector<acl_rule> rules;
    if (!username) {
        rules = anonymous_;
    } else if (const auto it = users_.find(*username); it != users_.end()) {
        rules = it->second;
    }
    const auto unsafe = [](std::string_view s) { return s.find_first_of("+#/") != std::string_view::npos; };
    if (!patterns_.empty() && ((username && unsafe(*username)) || unsafe(client_id))) {
        if (unsafe_names) *unsafe_names = true;
        return client_acl(std::move(rules));
    }
    for (const auto& p : patterns_) {
        if (!username && p.filter.find("%u") != std::string::npos) continue;
        rules.push_back({substitute(p.filter, username, client_id), p.access});
    }
    return client_acl(std::move(rules));
}

}  // namespace strata::auth
