// The client role: CONNECT and CONNACK, both QoS flows in both directions,
// SUBSCRIBE and UNSUBSCRIBE, keep alive and closing.
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

}  // namespace

client_connection::client_connection(client_options options, client_handler& handler)
    : options_(std::move(options)), handler_(handler) {}

std::chrono::seconds client_connection::keep_alive() const {
    return std::chrono::seconds(server_.server_keep_alive.value_or(options_.keep_alive));
}

bool client_connection::window_open() const {
    return state_ == state::connected && outgoing_.size() < server_.receive_maximum;
}

// ---- transport side ----------------------------------------------------------

void client_connection::start(client_clock::time_point now) {
    if (state_ != state::idle) on_transport_closed();
    server_ = connack_info{};
    codec::connect_packet c;
    c.version = options_.version;
    c.bridge = options_.bridge;
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
    codec::encode_connect(queue(), c);
    state_ = state::connecting;
    started_at_ = last_sent_ = now;
    sent_since_tick_ = false;
}

void client_connection::on_input(std::span<const std::uint8_t> bytes, client_clock::time_point) {
    if (state_ != state::connecting && state_ != state::connected) return;
    const auto data = input_.begin(bytes);
    const std::uint32_t max_size = v5() ? options_.maximum_packet_size : 0;
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
    input_.clear();
    out_.clear();
    ping_sent_.reset();
    inbound_aliases_.clear();
    // The server sends unacknowledged QoS 1 messages again; QoS 2 ids stay,
    // so that a message we hold is not handed over twice.
    std::erase_if(inbound_, [](const auto& e) { return e.second == inbound_state::qos1_unacknowledged; });
    // SUBSCRIBE and UNSUBSCRIBE are not session state: the caller subscribes again.
    for (auto id : pending_subscriptions_) ids_.release(id);
    pending_subscriptions_.clear();
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
    if (p.reason != 0) {
        handler_.on_connack(server_);  // still `connecting`: nothing can be sent
        begin_close(refusal_reason(options_.version, p.reason), "connection refused");
        return;
    }
    if (p.session_present && options_.clean_start) {
        // [MQTT-3.2.2-4]: a session we asked to start afresh cannot be present.
        server_violation(reason_code::protocol_error, "session present after a clean start");
        return;
    }
    state_ = state::connected;
    // What was in flight goes first, before anything the handler sends now.
    send_waiting();
    handler_.on_connack(server_);
}

void client_connection::handle_publish(std::uint8_t flags, codec::bytes_view body) {
    codec::publish_packet p;
    if (const auto rc = codec::decode_publish(body, flags, options_.version, p); rc != reason_code::success) {
        server_violation(rc, "malformed PUBLISH");
        return;
    }
    if (v5() && !resolve_topic_alias(p)) return;
    if (p.qos == 0) {
        handler_.on_message(p);
        return;
    }
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
        handler_.on_message(p);
        if (state_ == state::connected) send_ack(packet_type::puback, p.packet_id);
        return;
    }
    const auto id = p.packet_id;
    inbound_[id] = p.qos == 1 ? inbound_state::qos1_unacknowledged : inbound_state::qos2_unacknowledged;
    handler_.on_message(p);
    if (!options_.manual_acks && state_ == state::connected) acknowledge(2, id);
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
        if (known && it->qos == 1) finish_outgoing(it, a.reason);
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
            return;
        }
        it->released = true;
        it->packet.clear();
        it->packet.shrink_to_fit();  // after PUBREC only the id is sent again
        send_ack(packet_type::pubrel, a.packet_id);
        return;
    }
    if (known && it->qos == 2 && it->released) finish_outgoing(it, a.reason);  // PUBCOMP
}

void client_connection::handle_subscribe_ack(packet_type type, codec::bytes_view body) {
    codec::subscribe_ack_packet a;
    if (const auto rc = codec::decode_subscribe_ack(body, type, options_.version, a); rc != reason_code::success) {
        server_violation(rc, "malformed SUBACK or UNSUBACK");
        return;
    }
    const auto it = std::find(pending_subscriptions_.begin(), pending_subscriptions_.end(), a.packet_id);
    if (it == pending_subscriptions_.end()) return;  // not ours: tolerated
    pending_subscriptions_.erase(it);
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

// ---- our messages ----------------------------------------------------------------

client_connection::publish_result client_connection::publish(const codec::publish_packet& in, std::uint64_t token) {
    if (state_ != state::connected) return publish_result::not_connected;
    codec::publish_packet p = in;
    p.qos = std::min(p.qos, server_.maximum_qos);
    if (!server_.retain_available) p.retain = false;
    p.dup = false;
    p.packet_id = 0;
    if (server_.maximum_packet_size && codec::publish_packet_size(options_.version, p) > server_.maximum_packet_size) {
        return publish_result::too_large;
    }
    if (p.qos == 0) {
        codec::encode_publish(queue(), options_.version, p);
        return publish_result::sent;
    }
    if (!window_open()) return publish_result::window_full;
    p.packet_id = ids_.allocate();
    if (p.packet_id == 0) return publish_result::window_full;
    outgoing o;
    o.packet_id = p.packet_id;
    o.qos = p.qos;
    o.token = token;
    codec::encode_publish(o.packet, options_.version, p);
    outgoing_.push_back(std::move(o));
    send_outgoing(outgoing_.back());
    return publish_result::sent;
}

void client_connection::send_outgoing(outgoing& o) {
    o.on_wire = true;
    if (o.released) {
        send_ack(packet_type::pubrel, o.packet_id);
        return;
    }
    auto& out = queue();
    out.insert(out.end(), o.packet.begin(), o.packet.end());
    o.packet[0] |= 0x08;  // any later copy is a resend: DUP [MQTT-3.3.1-1]
}

// In the order first sent, as long as the server's Receive Maximum allows:
// after a reconnect (with DUP) and whenever an acknowledgement frees room.
void client_connection::send_waiting() {
    std::size_t on_wire = 0;
    for (auto& o : outgoing_) {
        if (o.on_wire) {
            ++on_wire;
            continue;
        }
        if (on_wire >= server_.receive_maximum) return;
        send_outgoing(o);
        ++on_wire;
    }
}

std::deque<client_connection::outgoing>::iterator client_connection::find_outgoing(std::uint16_t packet_id) {
    return std::find_if(outgoing_.begin(), outgoing_.end(), [&](const outgoing& o) { return o.packet_id == packet_id; });
}

void client_connection::finish_outgoing(std::deque<outgoing>::iterator it, reason_code reason) {
    const auto token = it->token;
    ids_.release(it->packet_id);
    outgoing_.erase(it);
    if (outgoing_.empty()) ids_.shrink();
    if (state_ == state::connected) send_waiting();
    handler_.on_published(token, reason);
}

std::uint16_t client_connection::subscribe(std::span<const codec::subscription_request> filters,
                                           std::uint32_t subscription_id) {
    if (state_ != state::connected || filters.empty()) return 0;
    codec::subscribe_packet s;
    s.packet_id = ids_.allocate();
    if (s.packet_id == 0) return 0;
    s.subscriptions.assign(filters.begin(), filters.end());
    if (subscription_id && v5()) s.props.subscription_identifiers = {subscription_id};
    codec::encode_subscribe(queue(), options_.version, s);
    pending_subscriptions_.push_back(s.packet_id);
    return s.packet_id;
}

std::uint16_t client_connection::unsubscribe(std::span<const std::string_view> filters) {
    if (state_ != state::connected || filters.empty()) return 0;
    codec::unsubscribe_packet u;
    u.packet_id = ids_.allocate();
    if (u.packet_id == 0) return 0;
    u.filters.assign(filters.begin(), filters.end());
    codec::encode_unsubscribe(queue(), options_.version, u);
    pending_subscriptions_.push_back(u.packet_id);
    return u.packet_id;
}

void client_connection::acknowledge(std::uint8_t qos, std::uint16_t packet_id) {
    const auto it = inbound_.find(packet_id);
    if (it == inbound_.end()) return;
    const bool connected = state_ == state::connected;
    if (qos == 1 && it->second == inbound_state::qos1_unacknowledged) {
        inbound_.erase(it);
        if (connected) send_ack(packet_type::puback, packet_id);
    } else if (qos == 2 && it->second == inbound_state::qos2_unacknowledged) {
        // Not connected: the server sends the PUBLISH again and gets its PUBREC then.
        it->second = inbound_state::qos2_received;
        if (connected) send_ack(packet_type::pubrec, packet_id);
    }
}

void client_connection::disconnect(reason_code reason) {
    if (state_ == state::connected) {
        codec::disconnect_packet d;
        d.reason = reason;
        codec::encode_disconnect(queue(), options_.version, d);
    }
    begin_close(reason, "disconnect requested");
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
