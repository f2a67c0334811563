// strata-bench output: mqtt-bench's "Result :" line, strata's receive,
// latency and loss lines, progress lines and the JSON summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "client.hpp"
#include "options.hpp"

namespace strata::bench {

struct run_summary {
    std::string action;
    std::string pattern;
    std::uint64_t publishers = 0;
    std::uint64_t subscribers = 0;
    std::uint64_t connections = 0;     // conn mode: connected clients
    std::uint64_t expected = 0;        // unique messages the subscribers should see
    std::uint64_t lost = 0;
    std::uint64_t duplicates = 0;
    double publish_ms = 0;
    double receive_ms = 0;
    double connect_ms = 0;
    bool timed_out = false;
};

// Prints the human-readable lines, then (with -json) one JSON line.
void print_report(const options& o, const run_totals& t, const run_summary& s);

// "progress: ..." once per period on long runs.
void print_progress(double seconds, const run_totals& t, std::uint64_t published_before, std::uint64_t received_before,
                    double period_s);

double milliseconds_between(steady::time_point a, steady::time_point b);

}  // namespace strata::bench
