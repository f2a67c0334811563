// The client role, the application's side: our PUBLISH in its window (sent,
// resent after a reconnect, fitted to each server's limits), SUBSCRIBE and
// UNSUBSCRIBE, acknowledgements of what we received, DISCONNECT.
#include <algorithm>

#include "protocol/client_connection.hpp"

namespace strata::protocol {

using codec::packet_type;
using codec::reason_code;
using client_limits::max_string;
using client_limits::max_variable_int;
using client_limits::valid_topic;
// ---- our messages ----------------------------------------------------------------

client_connection::publish_result client_connection::publish(const codec::publish_packet& in, std::uint64_t token) {
    if (state_ != state::connected) return publish_result::not_connected;
    if (!valid_topic(in.topic)) return publish_result::invalid;
    codec::publish_packet p = in;
    // A server sends these to us; we do not send them [MQTT-3.3.4-6], and we
    // never learned the server's Topic Alias Maximum.
    p.props.subscription_identifiers.clear();
    p.props.topic_alias.reset();
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
    // What this server cannot take as it was encoded (after a reconnect to a
    // server with other limits) ends with the reason; the caller may publish
    // it again, re-encoded.
    // From the front each time: the handler may publish or reconnect.
    for (;;) {
        reason_code why = reason_code::success;
        const auto unfit = std::find_if(outgoing_.begin(), outgoing_.end(), [&](const outgoing& o) {
            if (o.on_wire) return false;
            why = unfit_for_server(o);
            return why != reason_code::success;
        });
        if (unfit == outgoing_.end()) break;
        finish_outgoing(unfit, why);
        if (state_ != state::connected) return;
    }
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

reason_code client_connection::unfit_for_server(const outgoing& o) const {
    if (o.released) return reason_code::success;  // only the PUBREL goes out
    if (o.qos > server_.maximum_qos) return reason_code::qos_not_supported;
    if ((o.packet[0] & 0x01) && !server_.retain_available) return reason_code::retain_not_supported;
    if (server_.maximum_packet_size && o.packet.size() > server_.maximum_packet_size) {
        return reason_code::packet_too_large;
    }
    return reason_code::success;
}

std::deque<client_connection::outgoing>::iterator client_connection::find_outgoing(std::uint16_t packet_id) {
    return std::find_if(outgoing_.begin(), outgoing_.end(), [&](const outgoing& o) { return o.packet_id == packet_id; });
}

void client_connection::finish_outgoing(std::deque<outgoing>::iterator it, reason_code reason) {
    const auto token = it->token;
    ids_.release(it->packet_id);
    outgoing_.erase(it);
    if (outgoing_.empty()) ids_.shrink();
    handler_.on_published(token, reason);
}

std::uint16_t client_connection::subscribe(std::span<const codec::subscription_request> filters,
                                           std::uint32_t subscription_id) {
    if (state_ != state::connected || filters.empty() || subscription_id > max_variable_int) return 0;
    for (const auto& f : filters) {
        if (f.filter.empty() || f.filter.size() > max_string || f.qos > 2 || f.retain_handling > 2) return 0;
    }
    codec::subscribe_packet s;
    s.packet_id = ids_.allocate();
    if (s.packet_id == 0) return 0;
    s.subscriptions.assign(filters.begin(), filters.end());
    if (subscription_id && v5() && server_.subscription_identifiers_available) {
        s.props.subscription_identifiers = {subscription_id};
    }
    codec::encode_subscribe(queue(), options_.version, s);
    pending_requests_.push_back({s.packet_id, packet_type::suback, filters.size()});
    return s.packet_id;
}

std::uint16_t client_connection::unsubscribe(std::span<const std::string_view> filters) {
    if (state_ != state::connected || filters.empty()) return 0;
    for (const auto f : filters) {
        if (f.empty() || f.size() > max_string) return 0;
    }
    codec::unsubscribe_packet u;
    u.packet_id = ids_.allocate();
    if (u.packet_id == 0) return 0;
    u.filters.assign(filters.begin(), filters.end());
    codec::encode_unsubscribe(queue(), options_.version, u);
    pending_requests_.push_back({u.packet_id, packet_type::unsuback, filters.size()});
    return u.packet_id;
}

void client_connection::acknowledge(std::uint64_t ack_token) {
    if ((ack_token >> 24) != session_epoch_) return;  // a message of an earlier session
    acknowledge(static_cast<std::uint8_t>((ack_token >> 16) & 0xFF), static_cast<std::uint16_t>(ack_token & 0xFFFF));
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

}  // namespace strata::protocol
