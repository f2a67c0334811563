// What strata-bench measures: a latency histogram with ~1.6% resolution
// (log-linear buckets, like HdrHistogram, fixed memory), and per-publisher
// sequence tracking that finds lost and duplicated messages.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace strata::bench {

class latency_histogram {
public:
    void record(std::uint64_t nanoseconds);
    void merge(const latency_histogram& other);
    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return max_; }
    // Value (ns) at or below which `q` (0..1) of the samples fall.
    std::uint64_t quantile(double q) const;

private:
    static constexpr int sub_buckets = 64;
    static constexpr int magnitudes = 58;
    static std::size_t index_of(std::uint64_t v);
    static std::uint64_t value_of(std::size_t index);

    std::array<std::uint64_t, sub_buckets * magnitudes> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
};

// Received sequence numbers per publisher, for one subscriber.
class sequence_tracker {
public:
    // Returns false when (publisher, seq) was already seen: a duplicate.
    bool record(std::uint32_t publisher, std::uint32_t seq);
    std::uint64_t unique() const { return unique_; }
    std::uint64_t duplicates() const { return duplicates_; }
    // Sequence numbers out of order (a later one arrived before an earlier one).
    std::uint64_t reordered() const { return reordered_; }

private:
    struct per_publisher {
        std::vector<std::uint64_t> seen;
        std::uint32_t highest = 0;
        bool any = false;
    };
    std::unordered_map<std::uint32_t, per_publisher> publishers_;
    std::uint64_t unique_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t reordered_ = 0;
};

// The bytes strata-bench puts at the start of each payload (rest is filler).
// 16 bytes: publisher id, sequence number, send time (steady clock, ns).
struct payload_header {
    static constexpr std::size_t size = 16;
    std::uint32_t publisher = 0;
    std::uint32_t seq = 0;
    std::uint64_t sent_ns = 0;

    void write(std::uint8_t* out) const;
    static bool read(const std::uint8_t* in, std::size_t len, payload_header& out);
};

}  // namespace strata::bench
