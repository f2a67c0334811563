#include "report.hpp"

#include <cstdio>

namespace strata::bench {

double milliseconds_between(steady::time_point a, steady::time_point b) {
    if (a == steady::time_point{} || b == steady::time_point{} || b < a) return 0;
    return std::chrono::duration<double, std::milli>(b - a).count();
}

namespace {

double per_second(std::uint64_t n, double ms) { return ms > 0 ? static_cast<double>(n) * 1000.0 / ms : 0; }

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

void print_progress(double seconds, const run_totals& t, std::uint64_t published_before, std::uint64_t received_before,
                    double period_s) {
    std::printf("progress: t=%.0fs published=%llu (%.0f/s) received=%llu (%.0f/s)\n", seconds,
                static_cast<unsigned long long>(t.published), static_cast<double>(t.published - published_before) / period_s,
                static_cast<unsigned long long>(t.received), static_cast<double>(t.received - received_before) / period_s);
    std::fflush(stdout);
}

void print_report(const options& o, const run_totals& t, const run_summary& s) {
    const bool pubs = s.publishers > 0;
    const bool subs = s.subscribers > 0;
    if (s.action == "conn") {
        std::printf("Result : broker=%s, clients=%lld, connected=%llu, failed=%llu, duration=%.0fms, throughput=%.2fconnections/sec\n",
                    o.broker.c_str(), static_cast<long long>(o.clients), static_cast<unsigned long long>(s.connections),
                    static_cast<unsigned long long>(t.connect_failures), s.connect_ms, per_second(s.connections, s.connect_ms));
    } else if (pubs) {
        // mqtt-bench's line, for the publishers.
        std::printf("Result : broker=%s, clients=%llu, totalCount=%llu, duration=%.0fms, throughput=%.2fmessages/sec\n",
                    o.broker.c_str(), static_cast<unsigned long long>(s.publishers),
                    static_cast<unsigned long long>(t.published), s.publish_ms, per_second(t.published, s.publish_ms));
    } else if (subs) {
        std::printf("Result : broker=%s, clients=%llu, totalCount=%llu, duration=%.0fms, throughput=%.2fmessages/sec\n",
                    o.broker.c_str(), static_cast<unsigned long long>(s.subscribers),
                    static_cast<unsigned long long>(t.received), s.receive_ms, per_second(t.received, s.receive_ms));
    }
    if (pubs && subs) {
        std::printf("Received : subscribers=%llu, totalCount=%llu, unique=%llu, expected=%llu, duration=%.0fms, throughput=%.2fmessages/sec\n",
                    static_cast<unsigned long long>(s.subscribers), static_cast<unsigned long long>(t.received),
                    static_cast<unsigned long long>(t.unique), static_cast<unsigned long long>(s.expected), s.receive_ms,
                    per_second(t.received, s.receive_ms));
    }
    if (t.latency.count() > 0) {
        std::printf("Latency : p50=%.0fus p90=%.0fus p99=%.0fus max=%.0fus (%llu samples)\n", us(t.latency.quantile(0.50)),
                    us(t.latency.quantile(0.90)), us(t.latency.quantile(0.99)), us(t.latency.max()),
                    static_cast<unsigned long long>(t.latency.count()));
    }
    if (s.lost > 0) std::printf("WARNING: %llu messages lost\n", static_cast<unsigned long long>(s.lost));
    if (s.duplicates > 0) std::printf("WARNING: %llu duplicate messages\n", static_cast<unsigned long long>(s.duplicates));
    if (t.reordered > 0) std::printf("WARNING: %llu messages out of order\n", static_cast<unsigned long long>(t.reordered));
    if (t.errors > 0) std::printf("WARNING: %llu connections lost during the run\n", static_cast<unsigned long long>(t.errors));
    if (t.connect_failures > 0 && s.action != "conn") {
        std::printf("WARNING: %llu connections failed\n", static_cast<unsigned long long>(t.connect_failures));
    }
    if (s.timed_out) std::printf("WARNING: the run hit its -timeout before completing\n");
    if (!o.json) return;
    std::printf(
        "{\"broker\":\"%s\",\"action\":\"%s\",\"pattern\":\"%s\",\"qos\":%lld,\"size\":%lld,\"version\":%lld,"
        "\"publishers\":%llu,\"subscribers\":%llu,\"connections\":%llu,\"published\":%llu,\"publish_ms\":%.3f,"
        "\"publish_rate\":%.2f,\"received\":%llu,\"unique\":%llu,\"expected\":%llu,\"receive_ms\":%.3f,"
        "\"receive_rate\":%.2f,\"lost\":%llu,\"duplicates\":%llu,\"reordered\":%llu,\"errors\":%llu,"
        "\"connect_failures\":%llu,\"connect_ms\":%.3f,\"timed_out\":%s,"
        "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"samples\":%llu}}\n",
        o.broker.c_str(), s.action.c_str(), s.pattern.c_str(), static_cast<long long>(o.qos),
        static_cast<long long>(o.size), static_cast<long long>(o.version), static_cast<unsigned long long>(s.publishers),
        static_cast<unsigned long long>(s.subscribers), static_cast<unsigned long long>(s.connections),
        static_cast<unsigned long long>(t.published), s.publish_ms, per_second(t.published, s.publish_ms),
        static_cast<unsigned long long>(t.received), static_cast<unsigned long long>(t.unique),
        static_cast<unsigned long long>(s.expected), s.receive_ms, per_second(t.received, s.receive_ms),
        static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.duplicates),
        static_cast<unsigned long long>(t.reordered), static_cast<unsigned long long>(t.errors),
        static_cast<unsigned long long>(t.connect_failures), s.connect_ms, s.timed_out ? "true" : "false",
        us(t.latency.quantile(0.50)), us(t.latency.quantile(0.90)), us(t.latency.quantile(0.99)), us(t.latency.max()),
        static_cast<unsigned long long>(t.latency.count()));
}

}  // namespace strata::bench
