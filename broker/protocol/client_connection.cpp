// The client role, the network's side: CONNECT and CONNACK, the packets the
// server sends (its PUBLISH and the acknowledgements of ours), keep alive and
// closing. The application's side is in client_requests.cpp.
#include "protocol/client_connection.hpp"

#include <algorithm>

namespace strata::protocol {

using codec::packet_type;
using codec::reason_code;

namespace {

// MQTT 3.1.1 CONNACK return codes as MQTT 5 reason codes, for on_closing().
reason_code refusal_reason(codec::protocol_version v, std::uint8_t code) {
    if (v == codec::protocol_version::v5) return static_cast<reason_code>(code);
    switch (code) {
        case 1: return reason_code::unsupported_protocol_version;
        case 2: return reason_code::client_identifier_not_valid;
        case 3: return reason_code::server_unavailable;
        case 4: return reason_code::bad_username_or_password;
        case 5: return reason_code::not_authorized;
        default: return reason_code::unspecified_error;
    }
}

// A connection that never got a CONNACK gives up after this long when keep alive is off.
constexpr std::chrono::seconds default_connack_wait{60};

using client_limits::max_string;
using client_limits::valid_topic;

}  // namespace

std::optional<std::string> problem_with(const client_options& o) {
    if (o.client_id.size() > max_string) return "the client id is longer than 65535 bytes";
    if (o.username && o.username->size() > max_string) return "the username is longer than 65535 bytes";
    if (o.password && o.password->size() > max_string) return "the password is longer than 65535 bytes";
    if (o.password && !o.username && o.version != codec::protocol_version::v5) {
        return "a password without a username needs MQTT 5";  // [MQTT-3.1.2-22]
    }
    if (o.will) {
        if (!valid_topic(o.will->topic)) return "the will topic is empty, too long or has wildcards";
        if (o.will->payload.size() > max_string) return "the will payload is longer than 65535 bytes";
        if (o.will->qos > 2) return "the will QoS is not 0, 1 or 2";
    }
    if (o.receive_maximum == 0) return "a Receive Maximum of 0";  // the server must treat it as a protocol error
    return std::nullopt;
}

client_connection::client_connection(client_options options, client_handler& handler)
    : options_(std::move(options)), handler_(handler), options_problem_(problem_with(options_)) {}

std::chrono::seconds client_connection::keep_alive() const {
    return std::chrono::seconds(server_.server_keep_alive.value_or(options_.keep_alive));
}

bool client_connection::window_open() const {
    return state_ == state::connected && outgoing_.size() < server_.receive_maximum;
}

// ---- transport side ----------------------------------------------------------

void client_connection::start(client_clock::time_point now) {
    if (state_ != state::idle) on_transport_closed();
    ++transport_generation_;
    server_ = connack_info{};
    started_at_ = last_sent_ = now;
    sent_since_tick_ = false;
    if (options_problem_) {
        state_ = state::connecting;
        begin_close(reason_code::implementation_specific_error, *options_problem_);
        return;
    }
    codec::connect_packet c;
    c.version = options_.version;
    // MQTT 5 has no bridge bit: Mosquitto 2.0 closes a connection whose
    // level is 0x85; a v5 bridge subscribes with No Local and Retain As
    // Published instead.
    c.bridge = options_.bridge && !v5();
    c.clean_start = options_.clean_start;
    c.keep_alive = options_.keep_alive;
    c.client_id = options_.client_id;
    if (options_.username) {
        c.has_username = true;
        c.username = *options_.username;
    }
    if (options_.password) {
        c.has_password = true;
        c.password = codec::as_bytes(*options_.password);
    }
    if (options_.will) {
        c.has_will = true;
        c.will.topic = options_.will->topic;
        c.will.payload = codec::as_bytes(options_.will->payload);
        c.will.qos = options_.will->qos;
        c.will.retain = options_.will->retain;
    }
    if (v5()) {
        if (options_.session_expiry) c.props.session_expiry_interval = options_.session_expiry;
        if (options_.receive_maximum != 65535) c.props.receive_maximum = options_.receive_maximum;
        if (options_.maximum_packet_size) c.props.maximum_packet_size = options_.maximum_packet_size;
        if (options_.topic_alias_maximum) c.props.topic_alias_maximum = options_.topic_alias_maximum;
    }
    codec::encode_connect(out_, c);
    state_ = state::connecting;
}

void client_connection::on_input(std::span<const std::uint8_t> bytes, client_clock::time_point) {
    if (state_ != state::connecting && state_ != state::connected) return;
    const auto data = input_.begin(bytes);
    const std::uint32_t max_size = options_.maximum_packet_size;
    const auto generation = transport_generation_;
    std::size_t consumed = 0;
    while (state_ == state::connecting || state_ == state::connected) {
        codec::fixed_header h;
        codec::bytes_view body;
        const auto status = packet_framer::next(data, consumed, max_size, h, body);
        if (status == packet_framer::status::incomplete) break;
        if (status == packet_framer::status::malformed) {
            server_violation(reason_code::malformed_packet, "malformed fixed header");
            break;
        }
        if (status == packet_framer::status::too_large) {
            server_violation(reason_code::packet_too_large, "packet larger than our Maximum Packet Size");
            break;
        }
        handle_packet(h, body);
        // A handler ended this network connection (and maybe began the next):
        // `data` may be gone, and the rest of it belongs to no one.
        if (transport_generation_ != generation) return;
    }
    if (state_ == state::closing) {
        input_.clear();
        return;
    }
    input_.end(data, consumed);
}

void client_connection::on_transport_closed() {
    if (state_ == state::idle) return;
    state_ = state::idle;
    ++transport_generation_;
    input_.clear();
    out_.clear();
    ping_sent_.reset();
    inbound_aliases_.clear();
    // The server sends unacknowledged QoS 1 messages again; QoS 2 ids stay,
    // so that a message we hold is not handed over twice.
    std::erase_if(inbound_, [](const auto& e) { return e.second == inbound_state::qos1_unacknowledged; });
    // SUBSCRIBE and UNSUBSCRIBE are not session state: the caller subscribes again.
    for (const auto& r : pending_requests_) ids_.release(r.packet_id);
    pending_requests_.clear();
    for (auto& o : outgoing_) o.on_wire = false;
}

void client_connection::tick(client_clock::time_point now) {
    if (sent_since_tick_) {
        last_sent_ = now;
        sent_since_tick_ = false;
    }
    const auto ka = keep_alive();
    if (state_ == state::connecting) {
        if (now - started_at_ >= (ka.count() ? ka : default_connack_wait)) {
            begin_close(reason_code::keep_alive_timeout, "no CONNACK from the server");
        }
        return;
    }
    if (state_ != state::connected || ka.count() == 0) return;
    if (ping_sent_) {
        if (now - *ping_sent_ >= ka) begin_close(reason_code::keep_alive_timeout, "no PINGRESP from the server");
        return;
    }
    if (now - last_sent_ >= ka) {
        codec::encode_pingreq(queue());
        ping_sent_ = now;
        last_sent_ = now;
        sent_since_tick_ = false;
    }
}

// ---- incoming packets ----------------------------------------------------------

void client_connection::handle_packet(const codec::fixed_header& h, codec::bytes_view body) {
    if (state_ == state::connecting && h.type != packet_type::connack) {
        server_violation(reason_code::protocol_error, "packet before CONNACK");
        return;
    }
    switch (h.type) {
        case packet_type::connack:
            if (state_ != state::connecting) {
                server_violation(reason_code::protocol_error, "second CONNACK");
                return;
            }
            handle_connack(body);
            return;
        case packet_type::publish: handle_publish(h.flags, body); return;
        case packet_type::puback:
        case packet_type::pubrec:
        case packet_type::pubrel:
        case packet_type::pubcomp: handle_ack(h.type, body); return;
        case packet_type::suback:
        case packet_type::unsuback: handle_subscribe_ack(h.type, body); return;
        case packet_type::pingresp:
            if (!body.empty()) {
                server_violation(reason_code::malformed_packet, "PINGRESP with a body");
                return;
            }
            ping_sent_.reset();
            return;
        case packet_type::disconnect: handle_disconnect(body); return;
        case packet_type::auth:
            // Enhanced authentication is not something this client asks for.
            server_violation(v5() ? reason_code::protocol_error : reason_code::malformed_packet, "unexpected AUTH");
            return;
        case packet_type::connect:
        case packet_type::subscribe:
        case packet_type::unsubscribe:
        case packet_type::pingreq:
            server_violation(reason_code::protocol_error, "packet type only a client may send");
            return;
    }
}

void client_connection::handle_connack(codec::bytes_view body) {
    codec::connack_packet p;
    if (const auto rc = codec::decode_connack(body, options_.version, p); rc != reason_code::success) {
        server_violation(rc, "malformed CONNACK");
        return;
    }
    server_.session_present = p.session_present;
    server_.reason = p.reason;
    if (p.props.assigned_client_identifier) server_.assigned_client_id = *p.props.assigned_client_identifier;
    if (p.props.reason_string) server_.reason_string = *p.props.reason_string;
    if (p.props.receive_maximum) server_.receive_maximum = *p.props.receive_maximum;
    if (p.props.maximum_qos) server_.maximum_qos = *p.props.maximum_qos;
    if (p.props.retain_available) server_.retain_available = *p.props.retain_available != 0;
    if (p.props.maximum_packet_size) server_.maximum_packet_size = *p.props.maximum_packet_size;
    server_.server_keep_alive = p.props.server_keep_alive;
    if (p.props.subscription_identifier_available) {
        server_.subscription_identifiers_available = *p.props.subscription_identifier_available != 0;
    }
    if (p.reason != 0) {
        const auto generation = transport_generation_;
        handler_.on_connack(server_);  // still `connecting`: nothing can be sent
        if (transport_generation_ != generation) return;  // the handler moved on to a new connection
        begin_close(refusal_reason(options_.version, p.reason), "connection refused");
        return;
    }
    if (p.session_present && options_.clean_start) {
        // [MQTT-3.2.2-4]: a session we asked to start afresh cannot be present.
        server_violation(reason_code::protocol_error, "session present after a clean start");
        return;
    }
    // A server-assigned identifier is ours from now on, so that a reconnect resumes the session.
    if (options_.client_id.empty() && !server_.assigned_client_id.empty()) {
        options_.client_id = server_.assigned_client_id;
    }
    state_ = state::connected;
    if (!p.session_present) session_lost();
    // What was in flight goes first, before anything the handler sends now.
    send_waiting();
    if (state_ == state::connected) handler_.on_connack(server_);
}

void client_connection::session_lost() {
    ++session_epoch_;
    inbound_.clear();
    for (auto& o : outgoing_) {
        // A new message to the new session: DUP off, the whole flow again
        // [MQTT-4.4.0-1 only allows resending with DUP within a session].
        o.released = false;
        o.packet[0] &= static_cast<std::uint8_t>(~0x08);
    }
}

void client_connection::handle_publish(std::uint8_t flags, codec::bytes_view body) {
    codec::publish_packet p;
    if (const auto rc = codec::decode_publish(body, flags, options_.version, p); rc != reason_code::success) {
        server_violation(rc, "malformed PUBLISH");
        return;
    }
    if (v5() && !resolve_topic_alias(p)) return;
    if (p.topic.empty()) {
        server_violation(reason_code::protocol_error, "PUBLISH without a topic");  // section 3.3.2.1
        return;
    }
    if (p.qos == 0) {
        handler_.on_message(p, 0);
        return;
    }
    const auto token = make_token(session_epoch_, p.qos, p.packet_id);
    const auto known = inbound_.find(p.packet_id);
    if (known != inbound_.end() && p.qos == 2) {
        // A resend of a QoS 2 message we hold: not handed over again.
        if (known->second == inbound_state::qos2_received) send_ack(packet_type::pubrec, p.packet_id);
        return;
    }
    if (known == inbound_.end() && v5() && inbound_.size() >= options_.receive_maximum) {
        server_violation(reason_code::receive_maximum_exceeded, "more unacknowledged messages than Receive Maximum");
        return;
    }
    if (p.qos == 1 && !options_.manual_acks) {
        handler_.on_message(p, token);
        if (state_ == state::connected) send_ack(packet_type::puback, p.packet_id);
        return;
    }
    inbound_[p.packet_id] = p.qos == 1 ? inbound_state::qos1_unacknowledged : inbound_state::qos2_unacknowledged;
    handler_.on_message(p, token);
    // Even when the handler closed the connection: the QoS 2 id must not stay
    // unacknowledged, or the server's resends would be ignored for good.
    if (!options_.manual_acks) acknowledge(token);
}

bool client_connection::resolve_topic_alias(codec::publish_packet& p) {
    if (!p.props.topic_alias) return true;
    const auto alias = *p.props.topic_alias;
    if (alias == 0 || alias > options_.topic_alias_maximum) {
        server_violation(reason_code::topic_alias_invalid, "topic alias out of range");
        return false;
    }
    if (inbound_aliases_.size() <= alias) inbound_aliases_.resize(alias + std::size_t{1});
    if (!p.topic.empty()) {
        inbound_aliases_[alias] = p.topic;
    } else if (inbound_aliases_[alias].empty()) {
        server_violation(reason_code::protocol_error, "unknown topic alias");
        return false;
    } else {
        p.topic = inbound_aliases_[alias];
    }
    return true;
}

void client_connection::handle_ack(packet_type type, codec::bytes_view body) {
    codec::ack_packet a;
    if (const auto rc = codec::decode_ack(body, type, options_.version, a); rc != reason_code::success) {
        server_violation(rc, "malformed acknowledgement");
        return;
    }
    if (type == packet_type::pubrel) {
        const auto it = inbound_.find(a.packet_id);
        const bool known = it != inbound_.end();
        if (known && it->second == inbound_state::qos2_unacknowledged) return;  // no PUBREC sent yet
        if (known) inbound_.erase(it);
        send_ack(packet_type::pubcomp, a.packet_id,
                 !known && v5() ? reason_code::packet_identifier_not_found : reason_code::success);
        return;
    }
    const auto it = find_outgoing(a.packet_id);
    const bool known = it != outgoing_.end() && it->on_wire;
    if (type == packet_type::puback) {
        // An acknowledgement for an id we do not know is ignored, as Mosquitto's bridge does.
        if (known && it->qos == 1) {
            finish_outgoing(it, a.reason);
            if (state_ == state::connected) send_waiting();
        }
        return;
    }
    if (type == packet_type::pubrec) {
        if (!known || it->qos != 2) {
            // The server holds an id we have no message for: release it, so it does not wait forever.
            send_ack(packet_type::pubrel, a.packet_id,
                     v5() ? reason_code::packet_identifier_not_found : reason_code::success);
            return;
        }
        if (static_cast<std::uint8_t>(a.reason) >= 0x80) {
            finish_outgoing(it, a.reason);  // refused: the flow ends here (MQTT 5)
            if (state_ == state::connected) send_waiting();
            return;
        }
        // The PUBLISH is kept: a server that loses our session gets it again.
        it->released = true;
        send_ack(packet_type::pubrel, a.packet_id);
        return;
    }
    if (known && it->qos == 2 && it->released) {  // PUBCOMP
        finish_outgoing(it, a.reason);
        if (state_ == state::connected) send_waiting();
    }
}

void client_connection::handle_subscribe_ack(packet_type type, codec::bytes_view body) {
    codec::subscribe_ack_packet a;
    if (const auto rc = codec::decode_subscribe_ack(body, type, options_.version, a); rc != reason_code::success) {
        server_violation(rc, "malformed SUBACK or UNSUBACK");
        return;
    }
    const auto it = std::find_if(pending_requests_.begin(), pending_requests_.end(),
                                 [&](const pending_request& r) { return r.packet_id == a.packet_id; });
    if (it == pending_requests_.end() || it->ack != type) return;  // not ours: tolerated
    // One reason per filter [MQTT-3.8.4-6] (a 3.1.1 UNSUBACK has none).
    const bool counted = !(type == packet_type::unsuback && !v5());
    if (counted && a.reasons.size() != it->filters) {
        server_violation(reason_code::protocol_error, "acknowledgement with a reason count unlike the request's");
        return;
    }
    pending_requests_.erase(it);
    ids_.release(a.packet_id);
    handler_.on_subscribe_ack(type, a.packet_id, a.reasons);
}

void client_connection::handle_disconnect(codec::bytes_view body) {
    if (!v5()) {
        begin_close(reason_code::success, "server sent DISCONNECT");
        return;
    }
    codec::disconnect_packet d;
    if (const auto rc = codec::decode_disconnect(body, options_.version, d); rc != reason_code::success) {
        server_violation(rc, "malformed DISCONNECT");
        return;
    }
    const std::string why =
        d.props.reason_string ? "server sent DISCONNECT: " + std::string(*d.props.reason_string) : "server sent DISCONNECT";
    begin_close(d.reason, why);
}

// ---- helpers -----------------------------------------------------------------------

void client_connection::send_ack(packet_type type, std::uint16_t packet_id, reason_code reason) {
    codec::ack_packet a;
    a.type = type;
    a.packet_id = packet_id;
    a.reason = reason;
    codec::encode_ack(queue(), options_.version, a);
}

void client_connection::server_violation(reason_code reason, std::string_view what) {
    if (state_ != state::connecting && state_ != state::connected) return;
    if (v5() && state_ == state::connected) {
        codec::disconnect_packet d;
        d.reason = reason;
        codec::encode_disconnect(queue(), options_.version, d);
    }
    begin_close(reason, what);
}

void client_connection::begin_close(reason_code reason, std::string_view why) {
    if (state_ != state::connecting && state_ != state::connected) return;
    state_ = state::closing;
    handler_.on_closing(reason, why);
}

}  // namespace strata::protocol
