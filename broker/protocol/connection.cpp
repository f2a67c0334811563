// Framing, dispatch, timeouts and closing. The packet handlers are in the
// *_handler.cpp files next to this one.
#include "protocol/connection.hpp"

#include "core/logger.hpp"
#include "protocol/plugin_state.hpp"

namespace strata::protocol {

using codec::packet_type;
using codec::reason_code;

namespace {

// Bytes a client may send while its packets wait for a deferred plugin decision.
constexpr std::size_t max_held_input = 1 << 20;

}  // namespace

connection::connection(broker_port& broker, transport& t, std::string peer, const listener_settings& listener)
    : broker_(&broker),
      transport_(t),
      peer_(std::move(peer)),
      listener_(listener),
      created_at_(steady_clock::now()),
      last_packet_at_(created_at_) {
    broker_->add_connection(this);
}

connection::~connection() {
    // Only reached with a session attached when the worker itself is being
    // destroyed: mark the session offline and touch nothing else.
    if (session_) session_->detach();
    if (broker_) broker_->remove_connection(this);
}

void connection::leave_worker() {
    broker_->remove_connection(this);
    broker_ = nullptr;  // in transit: no worker's until join_worker()
}

void connection::join_worker(broker_port& broker) {
    broker_ = &broker;
    broker_->add_connection(this);
}

bool connection::movable() const {
    return state_ == connection_state::active && session_ && !paused() && !refusal_pending_ &&
           !slow_disconnect_posted_ && out_.empty() && session_->movable();
}

bool connection::move_to(std::size_t target) { return movable() && transport_.move_to(target); }

void connection::on_input(std::span<const std::uint8_t> bytes) {
    if (state_ != connection_state::awaiting_connect && state_ != connection_state::active) return;
    if (paused() && input_.held() + bytes.size() > max_held_input) {
        // Packets wait while a plugin decides; a client cannot make them pile up without bound.
        broker_->log().notice("Client from ", peer_, " sent too much while a plugin was deciding, closing.");
        begin_close();
        return;
    }
    broker_->stats().add(broker_->stats().bytes_received, bytes.size());
    const auto data = input_.begin(bytes);
    const std::uint32_t max_size = broker_->config().max_packet_size;
    std::size_t consumed = 0;
    bool progressed = false;
    while ((state_ == connection_state::awaiting_connect || state_ == connection_state::active) && !paused()) {
        const std::size_t packet_start = consumed;
        codec::fixed_header h;
        codec::bytes_view body;
        const auto status = packet_framer::next(data, consumed, max_size, h, body);
        if (status == packet_framer::status::incomplete) break;
        if (status == packet_framer::status::malformed) {
            protocol_violation(reason_code::malformed_packet, "malformed fixed header");
            break;
        }
        if (status == packet_framer::status::too_large) {
            protocol_violation(reason_code::packet_too_large, "packet larger than max_packet_size");
            break;
        }
        if (!progressed) {
            last_packet_at_ = steady_clock::now();
            progressed = true;
        }
        handle_packet(h, body);
        if (state_ == connection_state::migrating) {
            consumed = packet_start;  // the CONNECT is replayed on the home worker
            break;
        }
    }
    if (state_ == connection_state::closing || state_ == connection_state::closed) {
        input_.clear();
        return;
    }
    input_.end(data, consumed);
}

std::vector<std::uint8_t> connection::take_unread_input() { return input_.take(); }

void connection::handle_packet(const codec::fixed_header& h, codec::bytes_view body) {
    if (refusal_pending_) {
        // Nothing may follow a CONNECT before its CONNACK [MQTT-3.1.0-2].
        begin_close();
        return;
    }
    // Only CONNECT comes first; AUTH packets may follow it while plugins authenticate.
    if (state_ == connection_state::awaiting_connect && h.type != packet_type::connect &&
        !(h.type == packet_type::auth && plugin_)) {
        // The first packet must be CONNECT [MQTT-3.1.0-1]: close without answering.
        broker_->log().notice("Client from ", peer_, " sent ", codec::to_string(h.type), " before CONNECT, closing.");
        begin_close();
        return;
    }
    switch (h.type) {
        case packet_type::connect:
            if (state_ != connection_state::awaiting_connect || plugin_) {
                protocol_violation(reason_code::protocol_error, "second CONNECT");  // [MQTT-3.1.0-2]
                return;
            }
            handle_connect(body);
            return;
        case packet_type::publish: handle_publish(h.flags, body); return;
        case packet_type::puback:
        case packet_type::pubrec:
        case packet_type::pubrel:
        case packet_type::pubcomp: handle_ack(h.type, body); return;
        case packet_type::subscribe: handle_subscribe(body); return;
        case packet_type::unsubscribe: handle_unsubscribe(body); return;
        case packet_type::pingreq:
            if (!body.empty()) {
                protocol_violation(reason_code::malformed_packet, "PINGREQ with a body");
                return;
            }
            codec::encode_pingresp(out_.bytes());
            notify_transport();
            return;
        case packet_type::disconnect: handle_disconnect(body); return;
        case packet_type::auth:
            if (version_ != codec::protocol_version::v5) {
                protocol_violation(reason_code::malformed_packet, "reserved packet type 15");
                return;
            }
            handle_auth(body);
            return;
        case packet_type::connack:
        case packet_type::suback:
        case packet_type::unsuback:
        case packet_type::pingresp:
            protocol_violation(reason_code::protocol_error, "packet type only a server may send");
            return;
    }
}

void connection::tick(time_point now) {
    if (state_ == connection_state::awaiting_connect && !refusal_pending_) {
        const auto limit = std::chrono::seconds(broker_->config().connect_timeout);
        if (limit.count() > 0 && now - created_at_ > limit) {
            broker_->log().notice("Client from ", peer_, " sent no CONNECT within ", broker_->config().connect_timeout,
                                 " s, closing.");
            begin_close();
        }
        return;
    }
    // Not while the broker itself is not reading (the store's backpressure).
    if (state_ != connection_state::active || keep_alive_ == 0 || broker_->intake_paused()) return;
    // The server closes after one and a half keep-alive periods of silence (section 3.1.2.10).
    const auto limit = std::chrono::milliseconds(std::uint64_t{keep_alive_} * 1500);
    if (now - last_packet_at_ > limit) {
        broker_->log().notice("Client ", client_id(), " has exceeded timeout, disconnecting.");
        disconnect(reason_code::keep_alive_timeout);
    }
}

void connection::disconnect(reason_code rc, bool suppress_will) {
    if (state_ != connection_state::active && state_ != connection_state::awaiting_connect) return;
    note_close(rc, false);
    if (suppress_will) will_suppressed_ = true;
    if (state_ == connection_state::active && version_ == codec::protocol_version::v5) {
        codec::disconnect_packet d;
        d.reason = rc;
        codec::encode_disconnect(out_.bytes(), version_, d);
    }
    begin_close();
}

void connection::protocol_violation(reason_code rc, std::string_view what) {
    if (state_ != connection_state::active && state_ != connection_state::awaiting_connect) return;
    note_close(rc, false);
    broker_->log().notice("Client ", client_id().empty() ? std::string_view("<unknown>") : std::string_view(client_id()),
                         " from ", peer_, ": ", what, " (", codec::to_string(rc), "), disconnecting.");
    if (version_ == codec::protocol_version::v5 && state_ == connection_state::active) {
        codec::disconnect_packet d;
        d.reason = rc;
        // The reason string is optional: left out when it would make the packet
        // larger than the client accepts [MQTT-3.14.2-3], and when the client
        // asked for no problem information (Request Problem Information 0; the
        // spec allows one on DISCONNECT even then [MQTT-3.1.2-29], but the
        // client said it does not want it).
        const std::uint32_t props = 3 + static_cast<std::uint32_t>(what.size());
        const std::uint32_t body = 1 + codec::varint_size(props) + props;
        const std::uint32_t total = 1 + codec::varint_size(body) + body;
        if (wants_problem_information() && (client_maximum_packet_size_ == 0 || total <= client_maximum_packet_size_)) {
            d.props.reason_string = what;
        }
        codec::encode_disconnect(out_.bytes(), version_, d);
    }
    begin_close();
}

void connection::begin_close() {
    if (state_ == connection_state::closing || state_ == connection_state::closed) return;
    if (plugin_) plugin_closing();
    log_slow_drops();
    if (state_ == connection_state::active) {
        broker_->stats().add(broker_->stats().clients_connected, static_cast<std::uint64_t>(-1));
    }
    state_ = connection_state::closing;
    if (session_) {
        auto* s = session_;
        forget_session();
        s->detach();
        broker_->detach(*s, !will_suppressed_);
    }
    notify_transport();
}

void connection::forget_session() {
    if (!session_) return;
    client_id_ = session_->client_id();
    session_ = nullptr;
}

void connection::on_transport_closed() {
    if (state_ == connection_state::closed) return;
    if (awaiting_interest_ && !input_.empty()) {
        // A client that sent SUBSCRIBE and DISCONNECT and closed before the
        // SUBACK: what it sent still counts (a DISCONNECT keeps the will back).
        awaiting_interest_ = false;
        on_input({});
        if (state_ == connection_state::closed) return;
    }
    if (state_ == connection_state::active) {
        broker_->log().notice("Client ", client_id(), " closed its connection.");
    }
    begin_close();
    state_ = connection_state::closed;
}

void connection::notify_transport() { transport_.output_ready(); }

}  // namespace strata::protocol
