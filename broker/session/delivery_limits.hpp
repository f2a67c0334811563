// Per-broker limits that govern delivery to one session. Owned by the worker
// thread and replaced on configuration reload; sessions read them at use.
#pragma once

#include <cstdint>

namespace strata {

struct delivery_limits {
    std::uint16_t max_inflight_messages = 20;  // 0 = no limit beyond the client's Receive Maximum
    std::uint32_t max_queued_messages = 1000;  // 0 = no limit
    bool queue_qos0_messages = false;
    bool upgrade_outgoing_qos = false;
};

}  // namespace strata
