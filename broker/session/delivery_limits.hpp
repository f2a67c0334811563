// Per-broker limits that govern delivery to one session. Owned by the worker
// thread and replaced on configuration reload; sessions read them at use.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace strata {

struct delivery_limits {
    std::uint16_t max_inflight_messages = 20;  // 0 = no limit beyond the client's Receive Maximum
    // Payload bytes of the QoS 1/2 messages in flight: a message goes in flight
    // while those in flight hold fewer bytes (so one larger message still goes
    // out alone), as Mosquitto. 0 = no limit.
    std::uint32_t max_inflight_bytes = 0;
    std::uint32_t max_queued_messages = 1000;  // 0 = no limit
    // Payload bytes of the queued messages: one is queued while the queue holds
    // fewer bytes. Whichever of the two queue limits is reached first drops. 0 = no limit.
    std::uint32_t max_queued_bytes = 0;
    bool queue_qos0_messages = false;
    bool upgrade_outgoing_qos = false;
    // The worker's count of dropped messages ($SYS/broker/publish/messages/dropped),
    // written on the worker's thread only; null: not counted (tests).
    std::atomic<std::uint64_t>* dropped_messages = nullptr;
    // Set while the heap is over memory_limit (core/memory_guard.hpp): a
    // session then queues nothing, as Mosquitto. Null: no limit (tests).
    const std::atomic<bool>* over_memory_limit = nullptr;

    // The QoS a message published at `message_qos` goes out at to a
    // subscription of `subscription_qos`: the lower of the two, or the
    // subscription's with upgrade_outgoing_qos (Mosquitto's option).
    std::uint8_t delivered_qos(std::uint8_t message_qos, std::uint8_t subscription_qos) const {
        return upgrade_outgoing_qos ? subscription_qos : std::min(message_qos, subscription_qos);
    }
};

}  // namespace strata
