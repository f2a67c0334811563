// Start-up: rebuilds the persistent sessions (subscriptions, queued and
// in-flight messages, inbound QoS 2 packet ids) and the retained messages
// from the store, on the broker's workers, before any client connects.
#pragma once

#include <string>
#include <vector>

#include "session/message.hpp"
#include "store.hpp"

namespace strata::core {
class broker;
}

namespace strata::storage {

// A message of the messages column family as a broker message (topic from
// the dictionary, arrival time adjusted so that message expiry continues).
// Null when the message is gone (e.g. removed by retention).
mutable_message_ref load_message(store& s, const message_key& key);

struct restore_report {
    std::size_t sessions = 0;
    std::size_t deliveries = 0;
    std::size_t retained = 0;
    std::uint64_t unreferenced_removed = 0;  // without history: records a crash left behind
    std::uint64_t ended_sessions_records = 0;  // delivery records of sessions that had ended
    std::vector<std::string> warnings;  // records that could not be restored, and why
};

// Loads everything into the broker's workers (their threads must not run yet)
// and gives every worker its persistence object.
restore_report restore_into(store& s, core::broker& b);

}  // namespace strata::storage
