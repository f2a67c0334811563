#include "route.hpp"

#include "codec/utf8.hpp"
#include "topic/topic_name.hpp"

namespace strata::exporters {

route::route(const config::export_route_config& cfg) : cfg_(cfg) {
    topic::level_iterator levels(cfg.filter);
    std::string_view level;
    for (std::size_t i = 0; levels.next(level); ++i) {
        if (i > 0) filter_ += '/';
        if (level.size() > 1 && level.front() == '+') {
            captures_.emplace_back(i, std::string(level.substr(1)));
            filter_ += '+';
        } else {
            filter_ += level;
        }
    }
}

bool route::matches(std::string_view topic) const { return topic::matches(filter_, topic); }

void route::map(std::string_view payload, export_row& row, json_reader& json) const {
    row.route = &cfg_;
    if (!captures_.empty()) {
        topic::level_iterator levels(row.topic);
        std::string_view level;
        std::size_t next = 0;
        for (std::size_t i = 0; levels.next(level) && next < captures_.size(); ++i) {
            if (captures_[next].first == i) row.captures.emplace_back(captures_[next++].second, std::string(level));
        }
    }
    if (cfg_.payload != "json") {
        // Text that is not UTF-8 would be refused by the database (MariaDB,
        // PostgreSQL, MongoDB strings) and stall the exporter on that batch.
        if (cfg_.payload == "text" && !codec::is_valid_utf8(payload)) row.error = "payload is not UTF-8 text";
        row.payload.assign(payload);
        return;
    }
    if (cfg_.all_fields) {
        auto parsed = json.parse(payload);
        if (!parsed) {
            row.error = "payload is not JSON";
            row.payload.assign(payload);
        } else if (!parsed->is_object()) {
            // A bare value (a number, a string) is kept under "value".
            row.fields = nlohmann::json::object({{"value", std::move(*parsed)}});
        } else {
            row.fields = std::move(*parsed);
        }
        return;
    }
    auto& picked = json.picked();
    const auto shape = json.pick(payload, cfg_.fields);
    if (shape != json_reader::shape::object) {
        row.error = shape == json_reader::shape::not_json ? "payload is not JSON"
                                                          : "payload is JSON but not an object with fields";
        row.payload.assign(payload);
        return;
    }
    row.fields = nlohmann::json::object();
    for (std::size_t i = 0; i < cfg_.fields.size(); ++i) {
        const auto& name = cfg_.fields[i];
        const auto& type = cfg_.field_types[i];
        auto& value = picked[i];
        std::string problem;
        if (!value) problem = "field '" + name + "' missing";
        else if (type == "number" && !value->is_number() && !value->is_boolean()) problem = "field '" + name + "' is not a number";
        else if (type == "text" && !value->is_string()) problem = "field '" + name + "' is not a string";
        if (!problem.empty()) {
            row.error = std::move(problem);
            row.fields = nullptr;
            row.payload.assign(payload);
            return;
        }
        row.fields[cfg_.field_names[i]] = std::move(*value);
    }
}

void route::map(std::string_view payload, export_row& row) const {
    json_reader json;
    map(payload, row, json);
}

route_table::route_table(const std::vector<config::export_route_config>& routes) {
    routes_.reserve(routes.size());
    for (const auto& r : routes) routes_.emplace_back(r);
}

const route* route_table::find(std::string_view topic) const {
    for (const auto& r : routes_) {
        if (r.matches(topic)) return &r;
    }
    return nullptr;
}

}  // namespace strata::exporters
