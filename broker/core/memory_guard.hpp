// memory_limit, as in Mosquitto: past the limit, an incoming message is
// dropped and its publisher disconnected, and an outgoing one is dropped and
// its receiver disconnected (a session offline queues nothing), so a flood
// cannot take the machine's memory. Mosquitto counts its own allocations; strata samples the process
// heap (glibc's mallinfo2: what is allocated, the store's memtables and block
// cache included) from worker 0's 250 ms tick, and workers read one atomic
// flag per PUBLISH.
#pragma once

#include <atomic>
#include <cstdint>

namespace strata {
class logger;
}

namespace strata::core {

class memory_guard {
public:
    // 0 = no limit.
    void set_limit(std::uint64_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }
    // Samples the heap; logs when it crosses the limit either way.
    void sample(logger& log);
    bool over_limit() const { return over_.load(std::memory_order_relaxed); }
    // The flag itself, for sessions (delivery_limits::over_memory_limit).
    const std::atomic<bool>& over_limit_flag() const { return over_; }
    std::uint64_t heap_bytes() const { return heap_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> limit_{0};
    std::atomic<std::uint64_t> heap_{0};
    std::atomic<bool> over_{false};
};

}  // namespace strata::core
