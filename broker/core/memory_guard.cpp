#include "core/memory_guard.hpp"

#include <malloc.h>

#include "core/logger.hpp"

namespace strata::core {

void memory_guard::sample(logger& log) {
    const auto limit = limit_.load(std::memory_order_relaxed);
    if (limit == 0) {
        if (over_.exchange(false, std::memory_order_relaxed)) log.notice("memory_limit lifted.");
        return;
    }
    const struct mallinfo2 info = ::mallinfo2();
    const std::uint64_t heap = info.uordblks + info.hblkhd;
    heap_.store(heap, std::memory_order_relaxed);
    const bool over = heap > limit;
    if (over_.exchange(over, std::memory_order_relaxed) != over) {
        if (over) {
            log.warning("Warning: the heap (", heap, " bytes) is over memory_limit (", limit,
                        " bytes): incoming messages are dropped and their publishers disconnected.");
        } else {
            log.notice("The heap (", heap, " bytes) is under memory_limit again.");
        }
    }
}

}  // namespace strata::core
