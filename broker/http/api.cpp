#include "http/api.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>

#include "http/render.hpp"
#include "query_params.hpp"
#include "reader.hpp"
#include "series.hpp"
#include "store.hpp"
#include "topic/topic_name.hpp"

namespace strata::http {

namespace {

constexpr std::size_t default_limit = 100;
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

    std::string_view filter(std::string_view name, bool required) const {
        const auto v = required ? this->required(name, "a topic filter such as sensors/# (send # as %23)")
                                : get(name).value_or("#");
        if (!topic::is_valid_filter(v)) {
            throw bad_request{std::string(name) + ": invalid topic filter '" + std::string(v) +
                              "' ('#' only as the whole last level, '+' only as a whole level)"};
        }
        return v;
    }

    std::optional<std::uint64_t> time(std::string_view name) const {
        const auto v = get(name);
        if (!v) return std::nullopt;
        std::string error;
        const auto us = storage::parse_time(*v, error);
        if (!us) throw bad_request{std::string(name) + ": " + error + ", got '" + std::string(*v) + "'"};
        return us;
    }

private:
    const query_params& p_;
};

struct time_range {
    std::uint64_t from = 0;
    std::uint64_t to = std::numeric_limits<std::uint64_t>::max();
};

time_range range_of(const params_view& p) {
    time_range r;
    if (auto from = p.time("from")) r.from = *from;
    if (auto to = p.time("to")) r.to = *to;
    if (r.from >= r.to) throw bad_request{"from: must be before to (the range is [from, to))"};
    return r;
}

api_response ok(nlohmann::ordered_json body) { return {200, std::move(body), {}}; }

api_response error(unsigned status, std::string message, std::string allow = {}) {
    return {status, nlohmann::ordered_json{{"error", std::move(message)}}, std::move(allow)};
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

}  // namespace

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

api_response api::handle(std::string_view method, std::string_view target) {
    std::string path, message;
    query_params params;
    if (!parse_target(target, path, params, message)) return error(400, message);
    return handle(method, path, params);
}

api_response api::handle(std::string_view method, std::string_view path, const query_params& params) {
    // Known paths and their methods: a known path with another method is 405.
    struct route {
        std::string_view path;
        std::string_view allow;
    };
    static constexpr route routes[] = {{"/health", "GET"},          {"/api/v1/topics", "GET"},
                                       {"/api/v1/messages", "GET, DELETE"}, {"/api/v1/latest", "GET"},
                                       {"/api/v1/series", "GET"}, {"/api/v1/exporters", "GET"}};
    const auto r = std::find_if(std::begin(routes), std::end(routes), [&](const route& x) { return x.path == path; });
    if (r == std::end(routes)) return error(404, "no such endpoint: " + std::string(path) + " (see docs/http-api.md)");
    if (!allows(r->allow, method)) {
        return error(405, "method " + std::string(method) + " not allowed on " + std::string(path) + " (allowed: " +
                              std::string(r->allow) + ")",
                     std::string(r->allow));
    }

    try {
        if (path == "/health") {
            params_view p(params, {});
            const bool writable = writer_ && writer_->writable();
            return ok({{"status", "ok"}, {"store", writable ? "writable" : "read-only"}});
        }
        if (path == "/api/v1/exporters") {
            params_view p(params, {});
            if (!exporters_) return ok({{"exporters", nlohmann::ordered_json::array()}});
            return ok(nlohmann::ordered_json::parse(exporters_()));
        }
        if (path == "/api/v1/topics") {
            params_view p(params, {"filter"});
            auto list = nlohmann::ordered_json::array();
            for (const auto& t : reader_.topics(p.filter("filter", false))) list.push_back(topic_json(t));
            return ok({{"topics", std::move(list)}});
        }
        if (path == "/api/v1/latest") {
            params_view p(params, {"filter"});
            auto list = nlohmann::ordered_json::array();
            for (const auto& m : reader_.latest(p.filter("filter", false))) list.push_back(message_json(m));
            return ok({{"messages", std::move(list)}});
        }
        if (path == "/api/v1/messages" && method == "DELETE") {
            params_view p(params, {"topic", "before"});
            const auto filter = p.filter("topic", true);
            p.required("before", "an RFC 3339 time or epoch milliseconds: messages older than it are deleted");
            const auto before = *p.time("before");
            if (!writer_) return error(405, "this reader cannot delete: use strata purge or the broker's HTTP API");
            if (writer_->failed()) return error(500, "the store failed to write (see the log); nothing deleted");
            nlohmann::ordered_json body{{"topic", filter}, {"deleted", writer_->purge(filter, before)}};
            put_time(body, "before", before);
            return ok(std::move(body));
        }
        if (path == "/api/v1/messages") {
            params_view p(params, {"topic", "from", "to", "limit", "cursor"});
            const auto filter = p.filter("topic", true);
            const auto range = range_of(p);
            std::size_t limit = default_limit;
            if (const auto v = p.get("limit")) {
                const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), limit);
                if (ec != std::errc() || end != v->data() + v->size() || limit < 1 || limit > max_limit) {
                    throw bad_request{"limit: expected an integer from 1 to " + std::to_string(max_limit) + ", got '" +
                                      std::string(*v) + "'"};
                }
            }
            std::optional<storage::position> after;
            if (const auto v = p.get("cursor")) {
                after = storage::decode_cursor(*v);
                if (!after) throw bad_request{"cursor: not a cursor returned by this API, got '" + std::string(*v) + "'"};
            }
            const auto page = reader_.messages(filter, range.from, range.to, limit, after);
            auto list = nlohmann::ordered_json::array();
            for (const auto& m : page.items) list.push_back(message_json(m));
            nlohmann::ordered_json body{{"messages", std::move(list)}, {"more", page.more}};
            // Where the next request continues: after the last item (also
            // when nothing more exists yet, to poll for new messages).
            if (!page.items.empty()) body["next_cursor"] = storage::encode_cursor(storage::position_of(page.items.back().key));
            else if (after) body["next_cursor"] = storage::encode_cursor(*after);
            else body["next_cursor"] = nullptr;
            return ok(std::move(body));
        }
        // /api/v1/series
        params_view p(params, {"topic", "field", "from", "to", "step", "agg"});
        const auto topic = p.required("topic", "a topic name (no wildcards)");
        if (!topic::is_valid_name(topic)) {
            throw bad_request{"topic: a series is of one topic, so '" + std::string(topic) +
                              "' must be a topic name without wildcards"};
        }
        const auto field = p.required("field", "a top-level key of the JSON payloads, or a dotted path such as a.b");
        const auto range = range_of(p);
        const auto step_text = p.get("step").value_or("1m");
        std::string step_error;
        const auto step = storage::parse_step(step_text, step_error);
        if (!step) throw bad_request{"step: " + step_error + ", got '" + std::string(step_text) + "'"};
        const auto agg_text = p.get("agg").value_or("avg");
        const auto agg = storage::parse_aggregation(agg_text);
        if (!agg) {
            throw bad_request{"agg: expected one of avg, min, max, count, last, sum, got '" + std::string(agg_text) + "'"};
        }
        const auto result = reader_.series(topic, field, range.from, range.to, *step, *agg);
        auto points = nlohmann::ordered_json::array();
        for (const auto& pt : result.points) {
            nlohmann::ordered_json j;
            put_time(j, "ts", pt.start_us);
            j["value"] = pt.value;
            j["count"] = pt.count;
            points.push_back(std::move(j));
        }
        nlohmann::ordered_json body{{"topic", topic},
                            {"field", field},
                            {"agg", storage::aggregation_name(*agg)},
                            {"step", step_text},
                            {"step_ms", *step / 1000},
                            {"points", std::move(points)},
                            {"samples", result.samples},
                            {"skipped", result.skipped}};
        return ok(std::move(body));
    } catch (const bad_request& e) {
        return error(400, e.message);
    } catch (const storage::read_error& e) {
        return error(e.which() == storage::read_error::kind::timeout ? 503 : 500, e.what());
    }
}

}  // namespace strata::http
