// Slow consumers. A client that reads slower than messages arrive for it, or
// not at all, must not make the broker's memory grow without bound: the
// output waiting for its socket (out_, behind the one write under way) is
// capped at max_client_output_bytes. A QoS 0 message that does not fit is
// dropped, or the client is disconnected (slow_client_action). QoS 1/2
// messages are not checked here: the in-flight window bounds how many are
// sent, and the session queue (max_queued_messages/bytes) how many wait.
// The transport adds the other half: it stops reading a client whose output
// is over the cap, so that answers to its own packets cannot pile up either.
// memory_limit bounds the whole broker's heap: over it, every outgoing
// PUBLISH is dropped and its receiver disconnected, as in Mosquitto.

#include "core/logger.hpp"
#include "protocol/connection.hpp"

namespace strata::protocol {

bool connection::output_has_room(std::uint32_t packet_bytes) {
    const auto& cfg = broker_->config();
    const std::uint64_t cap = cfg.max_client_output_bytes;
    // An empty queue takes any packet, so a message larger than the cap still goes, alone.
    if (cap == 0 || out_.empty() || out_.size() + packet_bytes <= cap) return true;
    broker_->stats().add(broker_->stats().messages_dropped);
    if (slow_drops_++ == 0 && cfg.slow_client == config::slow_client_action::drop_qos0) {
        broker_->log().notice("Client ", client_id(), " from ", peer_, " does not read fast enough (", out_.size(),
                             " bytes wait for it): dropping QoS 0 messages to it.");
    }
    if (cfg.slow_client == config::slow_client_action::disconnect && !slow_disconnect_posted_) {
        slow_disconnect_posted_ = true;
        // Not from here: this runs inside a fan-out that holds the session, and
        // closing detaches the session (and may end it) under the router.
        broker_->defer([&port = *broker_, id = id] {
            if (auto* c = port.find_connection(id)) c->disconnect_slow_client();
        });
    }
    return false;
}

bool connection::over_memory_limit() {
    if (!broker_->memory_over_limit()) return false;
    broker_->stats().add(broker_->stats().messages_dropped);
    if (!slow_disconnect_posted_) {
        slow_disconnect_posted_ = true;
        // Posted for the same reason as a slow client's disconnect.
        broker_->defer([&port = *broker_, id = id] {
            auto* c = port.find_connection(id);
            if (!c || c->state_ != connection_state::active) return;
            port.log().notice("Client ", c->client_id(), " from ", c->peer_,
                           ": a message for it was dropped, the broker is over memory_limit; disconnecting.");
            c->disconnect(codec::reason_code::quota_exceeded);
        });
    }
    return true;
}

void connection::disconnect_slow_client() {
    if (state_ != connection_state::active) return;
    broker_->log().notice("Client ", client_id(), " from ", peer_, " does not read fast enough (", out_.size(),
                         " bytes wait for it), disconnecting.");
    // What has not reached the socket yet is dropped: the client was not
    // reading it, and the DISCONNECT should not wait behind it. QoS 1/2
    // messages among it stay in flight in the session, resent on reconnection.
    out_.clear();
    disconnect(codec::reason_code::quota_exceeded);
}

void connection::log_slow_drops() const {
    if (slow_drops_ == 0) return;
    broker_->log().notice("Client ", client_id(), " from ", peer_, ": ", slow_drops_,
                         " QoS 0 messages were dropped because it did not read fast enough.");
}

}  // namespace strata::protocol
