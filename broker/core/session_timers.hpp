// The deadlines of a worker's offline sessions: a will's delay and the
// session's expiry. One heap entry per scheduling; a session that comes back
// online or is scheduled again bumps its timer_generation, so an entry that
// no longer applies is skipped when it falls due rather than searched for.
// Worker thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

#include "session/session.hpp"

namespace strata::core {

class session_timers {
public:
    struct entry {
        time_point due;
        std::uint64_t session_id;
        std::uint64_t generation;  // the session's timer_generation when scheduled
        bool operator>(const entry& o) const { return due > o.due; }
    };

    void schedule(const session& s, time_point due) { heap_.push(entry{due, s.id(), s.timer_generation}); }
    // The next entry due at `now`, taken off the heap; nullopt when none is.
    std::optional<entry> next_due(time_point now) {
        if (heap_.empty() || heap_.top().due > now) return std::nullopt;
        entry e = heap_.top();
        heap_.pop();
        return e;
    }

private:
    std::priority_queue<entry, std::vector<entry>, std::greater<>> heap_;
};

}  // namespace strata::core
