#pragma once
// Background work (exporters) gives way to the broker's I/O threads and the
// store's writer when the CPUs are busy: routing and acknowledging publishes
// is what clients wait on, while an exporter that falls behind for a moment
// only grows its lag and catches up when the load eases. Linux applies a nice
// value to the calling thread alone; raising it needs no privilege.
#include <sys/resource.h>
#include <unistd.h>

namespace strata {

inline constexpr int background_nice = 10;

inline void make_this_thread_background() {
    // Best effort: a failure (a seccomp filter, say) leaves the default priority.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), background_nice);
}

}  // namespace strata
