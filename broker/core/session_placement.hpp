// Where a publisher's session lives: next to the subscribers of what it
// publishes, while that costs nothing.
//
// A message published on one worker for a subscriber on another costs a
// wake-up of that worker (a cross-thread post: epoll_ctl, futex, a context
// switch). At the load most deployments have, devices that each publish
// every few seconds, nothing batches those wake-ups, so with connections
// spread over N workers the CPU per message grew with N. A client whose
// messages all go to one other worker therefore moves there with its
// session, and its messages are then routed on one thread.
//
// Only what moves safely moves: a session with no subscription and nothing
// in flight, queued, held or waiting for the store (session::movable), on a
// plain TCP connection that is waiting for input with nothing to write
// (net/tcp_connection.cpp, move_to). Nothing is then in transit to it, so no
// message can be lost or reordered by the move; what it published before
// leaves its old worker (outboxes and the store's write set) before it
// arrives at the new one. The client registry names the new worker before
// anyone can find the session there (client_registry::rehome).
//
// A worker takes moves in only while its own load is low, and a bounded
// number per tick, so that under saturation the connections stay spread
// over the cores.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "session/session.hpp"

namespace strata::core {

class worker;

class session_placement {
public:
    // Consecutive messages that must all go to one other worker before the
    // publisher moves there.
    static constexpr std::uint8_t streak_to_move = 3;
    // Moves a worker takes in per tick (250 ms), and the load (thread CPU
    // time per wall time, in thousandths) above which it takes none.
    static constexpr std::uint32_t arrivals_per_tick = 64;
    static constexpr std::uint32_t busy_load = 500;

    explicit session_placement(worker& home) : home_(home) {}
    session_placement(const session_placement&) = delete;
    session_placement& operator=(const session_placement&) = delete;

    // `s` published a message just now: the router says whether it went to
    // exactly one other worker (router::sole_remote_target).
    void note_publish(session& s);

    // Periodic (on the worker's thread): measures this worker's load, opens
    // its arrivals for the next tick, and moves the sessions that asked.
    void tick();

    // This worker's load over the last tick, in thousandths of one core.
    std::uint32_t load() const { return load_.load(std::memory_order_relaxed); }
    // Another worker asks to move a session here: false when this worker is
    // busy or took its share of arrivals this tick.
    bool admit();

private:
    static constexpr std::uint8_t requested = 0xFF;  // placement_streak of a session in requests_
    static constexpr std::size_t max_requests = 1024;
    static constexpr std::uint8_t max_attempts = 8;
    struct request {
        std::uint64_t session_id = 0;
        std::uint32_t target = 0;
        std::uint8_t attempts = 0;
    };

    void measure_load();
    // Tries one request: true when it is done with (moved, or given up).
    bool try_move(request& r);

    worker& home_;
    std::vector<request> requests_;
    std::atomic<std::uint32_t> load_{0};
    std::atomic<std::uint32_t> arrivals_left_{arrivals_per_tick};
    std::uint64_t last_cpu_ns_ = 0;
    std::uint64_t last_wall_ns_ = 0;
};

}  // namespace strata::core
