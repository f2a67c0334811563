#include "http/api.hpp"

#include "http/render.hpp"
#include "reader.hpp"
#include "store.hpp"
#include "topic/topic_name.hpp"

namespace strata::http {

namespace {

api_response ok(nlohmann::ordered_json body) { return {200, std::move(body), {}}; }

bool has_wildcard(std::string_view filter) { return filter.find_first_of("+#") != std::string_view::npos; }

// The asker's view of the tree: their names are the store's without the mount point.
class mounted {
public:
    explicit mounted(const request_scope& scope) : scope_(scope) {}

    std::string to_store(std::string_view name) const { return scope_.mount_point + std::string(name); }
    std::string to_client(std::string_view name) const {
        return std::string(name.substr(std::min(name.size(), scope_.mount_point.size())));
    }
    std::optional<std::string> to_store_cursor(const std::optional<std::string>& name) const {
        if (!name) return std::nullopt;
        return to_store(*name);
    }
    // A filter naming one topic the asker may not read is refused; a wildcard
    // just leaves out what they may not read (the gate does that).
    bool refused(const std::string& store_filter) const {
        if (!scope_.gate || has_wildcard(store_filter)) return false;
        scope_.gate->prepare({store_filter});
        return !scope_.gate->visible(store_filter);
    }

private:
    const request_scope& scope_;
};

api_response not_readable(std::string_view topic) {
    return error_response(403, "not authorized to read '" + std::string(topic) + "'");
}

}  // namespace

api_response api::handle(std::string_view method, std::string_view target, const request_scope& scope) {
    auto parsed = parse_request(method, target);
    if (auto* refusal = std::get_if<api_response>(&parsed)) return std::move(*refusal);
    return run(std::get<parsed_request>(parsed), scope);
}

api_response api::handle(std::string_view method, std::string_view path, const query_params& params,
                         const request_scope& scope) {
    auto parsed = parse_request(method, path, params);
    if (auto* refusal = std::get_if<api_response>(&parsed)) return std::move(*refusal);
    return run(std::get<parsed_request>(parsed), scope);
}

api_response api::run(const parsed_request& r, const request_scope& scope) {
    if (admin_only(r.what) && !scope.admin) {
        return error_response(403, r.what == endpoint::purge
                                       ? "deleting messages needs a user named in http_admin"
                                       : "this endpoint needs a user named in http_admin");
    }
    const mounted view(scope);
    try {
        switch (r.what) {
            case endpoint::health: {
                const bool writable = writer_ && writer_->writable();
                return ok({{"status", "ok"}, {"store", writable ? "writable" : "read-only"}});
            }
            case endpoint::exporters:
                if (!exporters_) return ok({{"exporters", nlohmann::ordered_json::array()}});
                return ok(nlohmann::ordered_json::parse(exporters_()));
            case endpoint::topics: {
                const auto filter = view.to_store(r.filter);
                if (view.refused(filter)) return not_readable(r.filter);
                const auto page = reader_.topics(filter, scope.gate, view.to_store_cursor(r.after_topic), r.limit);
                auto list = nlohmann::ordered_json::array();
                for (auto t : page.items) {
                    t.name = view.to_client(t.name);
                    list.push_back(topic_json(t));
                }
                nlohmann::ordered_json body{{"topics", std::move(list)}, {"more", page.more}};
                body["next_cursor"] = page.more ? nlohmann::ordered_json(encode_topic_cursor(view.to_client(page.items.back().name)))
                                                : nlohmann::ordered_json(nullptr);
                return ok(std::move(body));
            }
            case endpoint::latest: {
                const auto filter = view.to_store(r.filter);
                if (view.refused(filter)) return not_readable(r.filter);
                const auto page = reader_.latest(filter, scope.gate, view.to_store_cursor(r.after_topic), r.limit);
                auto list = nlohmann::ordered_json::array();
                for (auto m : page.items) {
                    m.topic = view.to_client(m.topic);
                    list.push_back(message_json(m));
                }
                nlohmann::ordered_json body{{"messages", std::move(list)}, {"more", page.more}};
                body["next_cursor"] = page.more ? nlohmann::ordered_json(encode_topic_cursor(view.to_client(page.items.back().topic)))
                                                : nlohmann::ordered_json(nullptr);
                return ok(std::move(body));
            }
            case endpoint::purge: {
                if (!writer_) return error_response(405, "this reader cannot delete: use strata purge or the broker's HTTP API");
                if (writer_->failed()) return error_response(500, "the store failed to write (see the log); nothing deleted");
                nlohmann::ordered_json body{{"topic", r.filter}, {"deleted", writer_->purge(view.to_store(r.filter), r.before_us)}};
                put_time(body, "before", r.before_us);
                return ok(std::move(body));
            }
            case endpoint::messages: {
                const auto filter = view.to_store(r.filter);
                if (view.refused(filter)) return not_readable(r.filter);
                const auto page = reader_.messages(filter, r.from_us, r.to_us, r.limit, r.after, scope.gate);
                auto list = nlohmann::ordered_json::array();
                for (auto m : page.items) {
                    m.topic = view.to_client(m.topic);
                    list.push_back(message_json(m));
                }
                nlohmann::ordered_json body{{"messages", std::move(list)}, {"more", page.more}};
                // Where the next request continues: after the last item (also
                // when nothing more exists yet, to poll for new messages).
                if (!page.items.empty()) {
                    body["next_cursor"] = storage::encode_cursor(storage::position_of(page.items.back().key));
                } else if (r.after) {
                    body["next_cursor"] = storage::encode_cursor(*r.after);
                } else {
                    body["next_cursor"] = nullptr;
                }
                return ok(std::move(body));
            }
            case endpoint::series: {
                const auto topic = view.to_store(r.filter);
                if (view.refused(topic)) return not_readable(r.filter);
                const auto result = reader_.series(topic, r.field, r.from_us, r.to_us, r.step_us, r.agg);
                auto points = nlohmann::ordered_json::array();
                for (const auto& pt : result.points) {
                    nlohmann::ordered_json j;
                    put_time(j, "ts", pt.start_us);
                    j["value"] = pt.value;
                    j["count"] = pt.count;
                    points.push_back(std::move(j));
                }
                return ok({{"topic", r.filter},
                           {"field", r.field},
                           {"agg", storage::aggregation_name(r.agg)},
                           {"step", r.step_text},
                           {"step_ms", r.step_us / 1000},
                           {"points", std::move(points)},
                           {"samples", result.samples},
                           {"skipped", result.skipped}});
            }
        }
    } catch (const storage::read_error& e) {
        return error_response(e.which() == storage::read_error::kind::timeout ? 503 : 500, e.what());
    }
    return error_response(500, "unknown endpoint");
}

}  // namespace strata::http
