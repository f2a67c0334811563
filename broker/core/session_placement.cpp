#include "core/session_placement.hpp"

#include <time.h>

#include "core/broker.hpp"
#include "core/worker.hpp"
#include "protocol/connection.hpp"

namespace strata::core {

namespace {

std::uint64_t nanoseconds(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

void session_placement::note_publish(session& s) {
    if (s.placement_streak == requested || !home_.config().publisher_affinity) return;
    const std::uint32_t sole_target = home_.routing().sole_remote_target();
    if (sole_target == router::no_sole_target || sole_target > 0xFE) {
        s.placement_streak = 0;
        return;
    }
    if (s.placement_target != sole_target || s.placement_streak == 0) {
        s.placement_target = static_cast<std::uint8_t>(sole_target);
        s.placement_streak = 1;
        return;
    }
    if (++s.placement_streak < streak_to_move) return;
    if (requests_.size() >= max_requests) {
        s.placement_streak = 0;
        return;
    }
    s.placement_streak = requested;
    requests_.push_back(request{s.id(), sole_target, 0});
}

void session_placement::tick() {
    measure_load();
    arrivals_left_.store(load() < busy_load ? arrivals_per_tick : 0, std::memory_order_relaxed);
    for (std::size_t i = 0; i < requests_.size();) {
        if (try_move(requests_[i])) {
            requests_[i] = requests_.back();
            requests_.pop_back();
        } else {
            ++i;
        }
    }
}

bool session_placement::admit() {
    auto left = arrivals_left_.load(std::memory_order_relaxed);
    while (left > 0) {
        if (arrivals_left_.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return true;
    }
    return false;
}

bool session_placement::try_move(request& r) {
    session* s = home_.find_session(r.session_id);
    if (!s) return true;  // ended meanwhile
    const auto give_up = [s] {
        s->placement_streak = 0;
        return true;
    };
    auto* c = static_cast<protocol::connection*>(s->sink());
    if (!c || !home_.config().publisher_affinity || r.target >= home_.owner().worker_count()) return give_up();
    // Not now (a message in flight, a plugin deciding, the target busy): the
    // next tick tries again, a few times.
    const bool ready = c->movable() && !home_.authenticating(s->client_id());
    if (ready && home_.owner().worker_at(r.target).placement().admit() && c->move_to(r.target)) return give_up();
    if (++r.attempts >= max_attempts) return give_up();
    return false;
}

void session_placement::measure_load() {
    const std::uint64_t cpu = nanoseconds(CLOCK_THREAD_CPUTIME_ID);
    const std::uint64_t wall = nanoseconds(CLOCK_MONOTONIC);
    if (last_wall_ns_ != 0 && wall > last_wall_ns_) {
        load_.store(static_cast<std::uint32_t>((cpu - last_cpu_ns_) * 1000 / (wall - last_wall_ns_)),
                    std::memory_order_relaxed);
    }
    last_cpu_ns_ = cpu;
    last_wall_ns_ = wall;
}

}  // namespace strata::core
