// Downsampling of a numeric JSON field into time buckets (the series query):
// pure, so the aggregation is tested without a store.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace strata::storage {

enum class aggregation { avg, min, max, count, last, sum };

std::optional<aggregation> parse_aggregation(std::string_view name);
std::string_view aggregation_name(aggregation a);

// One bucket of a series: [start_us, start_us + step).
struct series_point {
    std::uint64_t start_us = 0;
    double value = 0;         // the aggregate
    std::uint64_t count = 0;  // samples in the bucket
};

// Buckets are aligned on multiples of the step since the epoch (a 1h step
// starts buckets on the hour in UTC), so two queries over overlapping ranges
// agree on their common buckets. Buckets without samples are not produced.
class series_builder {
public:
    series_builder(std::uint64_t step_us, aggregation agg);
    // Samples in time order (the order of one topic's keys); `last` keeps the
    // latest sample of each bucket.
    void add(std::uint64_t ts_us, double value);
    std::vector<series_point> finish();

private:
    struct bucket {
        std::uint64_t start_us = 0;
        std::uint64_t count = 0;
        double sum = 0, min = 0, max = 0, last = 0;
    };
    void close_bucket();

    std::uint64_t step_us_;
    aggregation agg_;
    bool open_ = false;
    bucket current_;
    std::vector<series_point> points_;
};

// The number at `path` in a JSON document: a top-level key, or a dotted
// path "a.b.c" through objects (a top-level key that itself contains dots
// wins). Booleans, strings and absent keys give nullopt.
std::optional<double> numeric_field(const nlohmann::json& doc, std::string_view path);
// Same on a payload; nullopt when the payload is not JSON.
std::optional<double> numeric_field_of_payload(std::string_view payload, std::string_view path);

}  // namespace strata::storage
