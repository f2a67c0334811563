#include "stats.hpp"

#include <bit>
#include <cstring>

namespace strata::bench {

std::size_t latency_histogram::index_of(std::uint64_t v) {
    if (v < sub_buckets) return static_cast<std::size_t>(v);
    // Magnitude m >= 1 covers [64 << (m-1), 64 << m) in 64 equal steps.
    const int top = 63 - std::countl_zero(v);      // position of the highest bit, >= 6
    const int magnitude = top - 5;                 // 1 for [64, 128)
    const auto sub = static_cast<std::size_t>((v >> (top - 6)) & (sub_buckets - 1));
    return static_cast<std::size_t>(magnitude) * sub_buckets + sub;
}

std::uint64_t latency_histogram::value_of(std::size_t index) {
    const std::size_t magnitude = index / sub_buckets;
    const std::uint64_t sub = index % sub_buckets;
    if (magnitude == 0) return sub;
    // Upper edge of the bucket, so quantiles never understate.
    const int shift = static_cast<int>(magnitude) - 1;
    return ((sub_buckets + sub + 1) << shift) - 1;
}

void latency_histogram::record(std::uint64_t ns) {
    const auto i = index_of(ns);
    if (i < buckets_.size()) ++buckets_[i];
    else ++buckets_.back();
    ++count_;
    if (ns > max_) max_ = ns;
}

void latency_histogram::merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    if (other.max_ > max_) max_ = other.max_;
}

std::uint64_t latency_histogram::quantile(double q) const {
    if (count_ == 0) return 0;
    const auto target = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        seen += buckets_[i];
        if (seen >= target) return std::min(value_of(i), max_);
    }
    return max_;
}

bool sequence_tracker::record(std::uint32_t publisher, std::uint32_t seq) {
    auto& p = publishers_[publisher];
    const std::size_t word = seq / 64;
    if (p.seen.size() <= word) p.seen.resize(word + 1 + word / 2, 0);
    const std::uint64_t bit = std::uint64_t{1} << (seq % 64);
    if (p.seen[word] & bit) {
        ++duplicates_;
        return false;
    }
    p.seen[word] |= bit;
    ++unique_;
    if (p.any && seq < p.highest) ++reordered_;
    if (!p.any || seq > p.highest) p.highest = seq;
    p.any = true;
    return true;
}

void payload_header::write(std::uint8_t* out) const {
    std::memcpy(out, &publisher, 4);
    std::memcpy(out + 4, &seq, 4);
    std::memcpy(out + 8, &sent_ns, 8);
}

bool payload_header::read(const std::uint8_t* in, std::size_t len, payload_header& out) {
    if (len < size) return false;
    std::memcpy(&out.publisher, in, 4);
    std::memcpy(&out.seq, in + 4, 4);
    std::memcpy(&out.sent_ns, in + 8, 8);
    return true;
}

}  // namespace strata::bench
