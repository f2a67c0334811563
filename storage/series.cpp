#include "series.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace strata::storage {

std::optional<aggregation> parse_aggregation(std::string_view name) {
    if (name == "avg") return aggregation::avg;
    if (name == "min") return aggregation::min;
    if (name == "max") return aggregation::max;
    if (name == "count") return aggregation::count;
    if (name == "last") return aggregation::last;
    if (name == "sum") return aggregation::sum;
    return std::nullopt;
}

std::string_view aggregation_name(aggregation a) {
    switch (a) {
        case aggregation::avg: return "avg";
        case aggregation::min: return "min";
        case aggregation::max: return "max";
        case aggregation::count: return "count";
        case aggregation::last: return "last";
        case aggregation::sum: return "sum";
    }
    return "avg";
}

series_builder::series_builder(std::uint64_t step_us, aggregation agg) : step_us_(step_us), agg_(agg) {}

void series_builder::add(std::uint64_t ts_us, double value) {
    const std::uint64_t start = ts_us - ts_us % step_us_;
    if (open_ && start != current_.start_us) close_bucket();
    if (!open_) {
        current_ = bucket{start, 0, 0, value, value, value};
        open_ = true;
    }
    ++current_.count;
    current_.sum += value;
    current_.min = std::min(current_.min, value);
    current_.max = std::max(current_.max, value);
    current_.last = value;
}

void series_builder::close_bucket() {
    series_point p{current_.start_us, 0, current_.count};
    switch (agg_) {
        case aggregation::avg: p.value = current_.sum / static_cast<double>(current_.count); break;
        case aggregation::min: p.value = current_.min; break;
        case aggregation::max: p.value = current_.max; break;
        case aggregation::count: p.value = static_cast<double>(current_.count); break;
        case aggregation::last: p.value = current_.last; break;
        case aggregation::sum: p.value = current_.sum; break;
    }
    points_.push_back(p);
    open_ = false;
}

std::vector<series_point> series_builder::finish() {
    if (open_) close_bucket();
    return std::move(points_);
}

namespace {

std::optional<double> as_number(const nlohmann::json& v) {
    if (!v.is_number()) return std::nullopt;  // is_number() is false for booleans
    return v.get<double>();
}

}  // namespace

std::optional<double> numeric_field(const nlohmann::json& doc, std::string_view path) {
    if (!doc.is_object() || path.empty()) return std::nullopt;
    if (auto it = doc.find(std::string(path)); it != doc.end()) return as_number(*it);
    const nlohmann::json* at = &doc;
    while (!path.empty()) {
        const auto dot = path.find('.');
        const auto name = path.substr(0, dot);
        if (!at->is_object()) return std::nullopt;
        auto it = at->find(std::string(name));
        if (it == at->end()) return std::nullopt;
        at = &*it;
        path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    }
    return as_number(*at);
}

std::optional<double> numeric_field_of_payload(std::string_view payload, std::string_view path) {
    // Cheap rejection of payloads that cannot be a JSON object (most non-JSON sensors).
    const auto first = payload.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || payload[first] != '{') return std::nullopt;
    const auto doc = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return std::nullopt;
    return numeric_field(doc, path);
}

}  // namespace strata::storage
