#include "http/request.hpp"

#include <algorithm>
#include <charconv>

#include "topic/topic_name.hpp"

namespace strata::http {

namespace {

constexpr std::size_t default_message_limit = 100;
constexpr std::size_t default_topic_limit = 1000;
constexpr std::size_t max_limit = 10'000;

// A parameter the client got wrong: answered with 400 and this message.
struct bad_request {
    std::string message;
};

// The parameters of one request: each may be given once, and only the ones
// an endpoint knows are accepted, so a typo is an error instead of a
// silently ignored filter.
class params_view {
public:
    params_view(const query_params& p, std::initializer_list<std::string_view> accepted) : p_(p) {
        for (std::size_t i = 0; i < p.size(); ++i) {
            const auto& name = p[i].first;
            if (std::find(accepted.begin(), accepted.end(), name) == accepted.end()) {
                std::string list;
                for (auto a : accepted) list += (list.empty() ? "" : ", ") + std::string(a);
                throw bad_request{"unknown parameter '" + name + "' (accepted: " + (list.empty() ? "none" : list) +
                                  ")"};
            }
            for (std::size_t j = 0; j < i; ++j) {
                if (p[j].first == name) throw bad_request{"parameter '" + name + "' given more than once"};
            }
        }
    }

    std::optional<std::string_view> get(std::string_view name) const {
        for (const auto& [k, v] : p_) {
            if (k == name) return std::string_view(v);
        }
        return std::nullopt;
    }

    std::string_view required(std::string_view name, std::string_view what) const {
        auto v = get(name);
        if (!v || v->empty()) throw bad_request{std::string(name) + ": required, " + std::string(what)};
        return *v;
    }

    std::string filter(std::string_view name, bool required) const {
        const auto v = required ? this->required(name, "a topic filter such as sensors/# (send # as %23)")
                                : get(name).value_or("#");
        if (!topic::is_valid_filter(v)) {
            throw bad_request{std::string(name) + ": invalid topic filter '" + std::string(v) +
                              "' ('#' only as the whole last level, '+' only as a whole level)"};
        }
        return std::string(v);
    }

    std::optional<std::uint64_t> time(std::string_view name) const {
        const auto v = get(name);
        if (!v) return std::nullopt;
        std::string error;
        const auto us = storage::parse_time(*v, error);
        if (!us) throw bad_request{std::string(name) + ": " + error + ", got '" + std::string(*v) + "'"};
        return us;
    }

    std::size_t limit(std::size_t fallback) const {
        const auto v = get("limit");
        if (!v) return fallback;
        std::size_t limit = 0;
        const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), limit);
        if (ec != std::errc() || end != v->data() + v->size() || limit < 1 || limit > max_limit) {
            throw bad_request{"limit: expected an integer from 1 to " + std::to_string(max_limit) + ", got '" +
                              std::string(*v) + "'"};
        }
        return limit;
    }

    std::optional<std::string> topic_cursor() const {
        const auto v = get("cursor");
        if (!v) return std::nullopt;
        auto name = decode_topic_cursor(*v);
        if (!name) throw bad_request{"cursor: not a cursor returned by this API, got '" + std::string(*v) + "'"};
        return name;
    }

private:
    const query_params& p_;
};

void read_range(const params_view& p, parsed_request& r) {
    if (auto from = p.time("from")) r.from_us = *from;
    if (auto to = p.time("to")) r.to_us = *to;
    if (r.from_us >= r.to_us) throw bad_request{"from: must be before to (the range is [from, to))"};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

// `allow` is a list such as "GET, DELETE".
bool allows(std::string_view allow, std::string_view method) {
    while (!allow.empty()) {
        const auto comma = allow.find(", ");
        if (allow.substr(0, comma) == method) return true;
        allow = comma == std::string_view::npos ? std::string_view() : allow.substr(comma + 2);
    }
    return false;
}

parsed_request parse_params(endpoint what, const query_params& params) {
    parsed_request r;
    r.what = what;
    switch (what) {
        case endpoint::health:
        case endpoint::exporters: params_view(params, {}); break;
        case endpoint::topics:
        case endpoint::latest: {
            params_view p(params, {"filter", "limit", "cursor"});
            r.filter = p.filter("filter", false);
            r.limit = p.limit(default_topic_limit);
            r.after_topic = p.topic_cursor();
            break;
        }
        case endpoint::purge: {
            params_view p(params, {"topic", "before"});
            r.filter = p.filter("topic", true);
            p.required("before", "an RFC 3339 time or epoch milliseconds: messages older than it are deleted");
            r.before_us = *p.time("before");
            break;
        }
        case endpoint::messages: {
            params_view p(params, {"topic", "from", "to", "limit", "cursor"});
            r.filter = p.filter("topic", true);
            read_range(p, r);
            r.limit = p.limit(default_message_limit);
            if (const auto v = p.get("cursor")) {
                r.after = storage::decode_cursor(*v);
                if (!r.after) throw bad_request{"cursor: not a cursor returned by this API, got '" + std::string(*v) + "'"};
            }
            break;
        }
        case endpoint::series: {
            params_view p(params, {"topic", "field", "from", "to", "step", "agg"});
            r.filter = std::string(p.required("topic", "a topic name (no wildcards)"));
            if (!topic::is_valid_name(r.filter)) {
                throw bad_request{"topic: a series is of one topic, so '" + r.filter +
                                  "' must be a topic name without wildcards"};
            }
            r.field = std::string(
                p.required("field", "a top-level key of the JSON payloads, or a dotted path such as a.b"));
            read_range(p, r);
            r.step_text = std::string(p.get("step").value_or("1m"));
            std::string step_error;
            const auto step = storage::parse_step(r.step_text, step_error);
            if (!step) throw bad_request{"step: " + step_error + ", got '" + r.step_text + "'"};
            r.step_us = *step;
            const auto agg_text = p.get("agg").value_or("avg");
            const auto agg = storage::parse_aggregation(agg_text);
            if (!agg) {
                throw bad_request{"agg: expected one of avg, min, max, count, last, sum, got '" +
                                  std::string(agg_text) + "'"};
            }
            r.agg = *agg;
            break;
        }
    }
    return r;
}

}  // namespace

api_response error_response(unsigned status, std::string message, std::string allow) {
    return {status, nlohmann::ordered_json{{"error", std::move(message)}}, std::move(allow)};
}

bool admin_only(endpoint e) { return e == endpoint::purge || e == endpoint::exporters; }

bool parse_target(std::string_view target, std::string& path, query_params& params, std::string& error) {
    params.clear();
    const auto q = target.find('?');
    if (!percent_decode(target.substr(0, q), path)) {
        error = "malformed percent-encoding in the path";
        return false;
    }
    if (q == std::string_view::npos) return true;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto part = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        std::string name, value;
        if (!percent_decode(part.substr(0, eq), name) ||
            !percent_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), value)) {
            error = "malformed percent-encoding in the query string";
            return false;
        }
        params.emplace_back(std::move(name), std::move(value));
    }
    return true;
}

std::string to_text(const nlohmann::ordered_json& doc, int indent) {
    return doc.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

parse_result parse_request(std::string_view method, std::string_view target) {
    std::string path, message;
    query_params params;
    if (!parse_target(target, path, params, message)) return error_response(400, message);
    return parse_request(method, path, params);
}

parse_result parse_request(std::string_view method, std::string_view path, const query_params& params) {
    // Known paths and their methods: a known path with another method is 405.
    struct route {
        std::string_view path;
        std::string_view allow;
        endpoint get;
    };
    static constexpr route routes[] = {{"/health", "GET", endpoint::health},
                                       {"/api/v1/topics", "GET", endpoint::topics},
                                       {"/api/v1/messages", "GET, DELETE", endpoint::messages},
                                       {"/api/v1/latest", "GET", endpoint::latest},
                                       {"/api/v1/series", "GET", endpoint::series},
                                       {"/api/v1/exporters", "GET", endpoint::exporters}};
    const auto r = std::find_if(std::begin(routes), std::end(routes), [&](const route& x) { return x.path == path; });
    if (r == std::end(routes)) {
        return error_response(404, "no such endpoint: " + std::string(path) + " (see docs/http-api.md)");
    }
    if (!allows(r->allow, method)) {
        return error_response(405, "method " + std::string(method) + " not allowed on " + std::string(path) +
                                       " (allowed: " + std::string(r->allow) + ")",
                              std::string(r->allow));
    }
    try {
        return parse_params(method == "DELETE" ? endpoint::purge : r->get, params);
    } catch (const bad_request& e) {
        return error_response(400, e.message);
    }
}

std::string encode_topic_cursor(std::string_view topic) { return storage::base64_encode("t" + std::string(topic), true); }

std::optional<std::string> decode_topic_cursor(std::string_view text) {
    auto raw = storage::base64url_decode(text);
    if (!raw || raw->empty() || raw->front() != 't') return std::nullopt;
    return raw->substr(1);
}

}  // namespace strata::http
