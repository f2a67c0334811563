// Counters kept by each worker and summed for $SYS and the logs. Written by
// the owning worker only; relaxed atomics let another thread read them.
#pragma once

#include <atomic>
#include <cstdint>

namespace strata::core {

struct worker_stats {
    std::atomic<std::uint64_t> messages_received{0};  // PUBLISH packets from clients
    std::atomic<std::uint64_t> messages_sent{0};      // PUBLISH packets to clients
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> bytes_sent{0};
    std::atomic<std::uint64_t> messages_dropped{0};   // queue full, too large for the client, or a slow consumer's QoS 0
    std::atomic<std::uint64_t> clients_connected{0};
    std::atomic<std::uint64_t> sessions{0};
    std::atomic<std::uint64_t> subscriptions{0};
    std::atomic<std::uint64_t> retained_messages{0};

    void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

}  // namespace strata::core
