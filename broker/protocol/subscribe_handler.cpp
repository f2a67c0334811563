// SUBSCRIBE, UNSUBSCRIBE and DISCONNECT from the client (sections 3.8, 3.10, 3.14).
#include "core/logger.hpp"
#include "protocol/connection.hpp"
#include "topic/topic_name.hpp"

namespace strata::protocol {

using codec::packet_type;
using codec::protocol_version;
using codec::reason_code;

namespace {

// The DISCONNECT reason codes a client may send (table 3.14.2.1, "Client" or
// "Client or Server"); the others are the server's to send.
bool client_may_send(reason_code rc) {
    switch (rc) {
        case reason_code::success:
        case reason_code::disconnect_with_will:
        case reason_code::unspecified_error:
        case reason_code::malformed_packet:
        case reason_code::protocol_error:
        case reason_code::implementation_specific_error:
        case reason_code::topic_name_invalid:
        case reason_code::receive_maximum_exceeded:
        case reason_code::topic_alias_invalid:
        case reason_code::packet_too_large:
        case reason_code::message_rate_too_high:
        case reason_code::quota_exceeded:
        case reason_code::administrative_action:
        case reason_code::payload_format_invalid: return true;
        default: return false;
    }
}

// The filter as stored: the listener's mount point goes in front of the
// topic part (after "$share/group/" for shared subscriptions).
std::string mounted_filter(std::string_view mount_point, std::string_view raw, const topic::subscription_filter& f) {
    if (mount_point.empty()) return std::string(raw);
    std::string out;
    if (f.shared) {
        out = "$share/";
        out += f.group;
        out += '/';
    }
    out += mount_point;
    out += f.filter;
    return out;
}

}  // namespace

// A filter that breaks the wildcard rules (section 4.7.1), is empty
// [MQTT-4.7.3-1], is a shared subscription without a valid ShareName and
// filter [MQTT-4.8.2-2], or has more levels than max_topic_levels makes the
// packet malformed: the connection closes
// (5.0: DISCONNECT 0x81) before any of its filters takes effect, as in
// Mosquitto. SUBACK 0x8F is left for well-formed filters the server refuses.
bool connection::filter_well_formed(std::string_view filter) {
    topic::subscription_filter f;
    if (topic::parse_subscription_filter(filter, f)) {
        if (!topic::deeper_than(f.filter, broker_->config().max_topic_levels)) return true;
        protocol_violation(reason_code::malformed_packet, "topic filter deeper than max_topic_levels");
        return false;
    }
    std::string what = "invalid topic filter '";
    what += filter;
    what += '\'';
    protocol_violation(reason_code::malformed_packet, what);
    return false;
}

void connection::handle_subscribe(codec::bytes_view body) {
    codec::subscribe_packet p;
    const auto rc = codec::decode_subscribe(body, version_, p);
    if (rc != reason_code::success) {
        protocol_violation(rc, "invalid SUBSCRIBE");
        return;
    }
    for (const auto& req : p.subscriptions) {
        if (!filter_well_formed(req.filter)) return;
    }
    const auto& cfg = broker_->config();
    const bool v5 = version_ == protocol_version::v5;
    const std::uint32_t identifier = p.props.subscription_identifiers.empty() ? 0 : p.props.subscription_identifiers[0];

    std::vector<retained_request> retained;
    codec::subscribe_ack_packet ack;
    ack.type = packet_type::suback;
    ack.packet_id = p.packet_id;
    for (const auto& req : p.subscriptions) {
        topic::subscription_filter f;
        topic::parse_subscription_filter(req.filter, f);  // well formed: checked above
        if (f.shared && req.no_local) {  // [MQTT-3.8.3-4]
            protocol_violation(reason_code::protocol_error, "No Local on a shared subscription");
            return;
        }
        subscription_options o;
        o.qos = std::min(req.qos, cfg.max_qos);
        o.no_local = req.no_local;
        o.retain_as_published = req.retain_as_published;
        o.retain_handling = req.retain_handling;
        if (bridge_ && !v5) {
            o.no_local = true;
            o.retain_as_published = true;
        }
        const auto verdict = broker_->may_subscribe(*session_, plugin_client(), req.filter,
                                                                   mounted(f.filter), mount_point(), f, o, identifier);
        if (verdict != reason_code::success) {
            ack.reasons.push_back(v5 ? static_cast<std::uint8_t>(verdict) : 0x80);
            continue;
        }
        std::string filter = mounted_filter(mount_point(), req.filter, f);
        const bool is_new = broker_->subscribe(*session_, filter, o, identifier);
        ack.reasons.push_back(o.qos);
        broker_->log().log(config::log_subscribe, client_id(), " ", static_cast<int>(o.qos), " ", req.filter);
        // Retained messages: never for shared subscriptions (section 4.8.2), and as
        // retain handling says: 0 always, 1 only for a new subscription, 2 never.
        if (!f.shared && (o.retain_handling == 0 || (o.retain_handling == 1 && is_new))) {
            retained.push_back({std::move(filter), o});
        }
    }
    // The SUBACK promises that what is published from now on reaches the
    // subscriber, whichever worker its publisher is on: it waits until every
    // worker routes by the new subscriptions (docs/architecture.md, "Routing
    // by interest"). Later packets of this client wait with it, so they are
    // answered in order.
    if (!broker_->interest_pending()) {
        send_suback(ack, retained, identifier);
        return;
    }
    awaiting_interest_ = true;
    broker_->when_interest_visible([&port = *broker_, id = id, ack = std::move(ack), retained = std::move(retained),
                                   identifier] {
        auto* c = port.find_connection(id);
        if (c && c->awaiting_interest_) c->complete_subscribe(ack, retained, identifier);
    });
}

void connection::send_suback(const codec::subscribe_ack_packet& ack, const std::vector<retained_request>& retained,
                             std::uint32_t identifier) {
    codec::encode_subscribe_ack(out_.bytes(), version_, ack);
    for (const auto& r : retained) broker_->send_retained(*session_, r.filter, r.options, identifier);
    notify_transport();
}

void connection::complete_subscribe(const codec::subscribe_ack_packet& ack, const std::vector<retained_request>& retained,
                                    std::uint32_t identifier) {
    awaiting_interest_ = false;
    if (state_ != connection_state::active) return;
    send_suback(ack, retained, identifier);
    // What the client sent meanwhile (a posted handler: nothing is being parsed now).
    if (!paused() && !input_.empty()) on_input({});
}

void connection::handle_unsubscribe(codec::bytes_view body) {
    codec::unsubscribe_packet p;
    const auto rc = codec::decode_unsubscribe(body, version_, p);
    if (rc != reason_code::success) {
        protocol_violation(rc, "invalid UNSUBSCRIBE");
        return;
    }
    codec::subscribe_ack_packet ack;
    ack.type = packet_type::unsuback;
    ack.packet_id = p.packet_id;
    for (auto raw : p.filters) {
        if (!filter_well_formed(raw)) return;
    }
    for (auto raw : p.filters) {
        topic::subscription_filter f;
        topic::parse_subscription_filter(raw, f);  // well formed: checked above
        if (const auto refused = broker_->may_unsubscribe(plugin_client(), mount_point(), f);
            refused != reason_code::success) {
            ack.reasons.push_back(static_cast<std::uint8_t>(refused));
            continue;
        }
        const bool existed = broker_->unsubscribe(*session_, mounted_filter(mount_point(), raw, f));
        ack.reasons.push_back(static_cast<std::uint8_t>(existed ? reason_code::success : reason_code::no_subscription_existed));
        broker_->log().log(config::log_unsubscribe, client_id(), " ", raw);
    }
    codec::encode_subscribe_ack(out_.bytes(), version_, ack);
    notify_transport();
}

void connection::handle_disconnect(codec::bytes_view body) {
    codec::disconnect_packet p;
    const auto rc = codec::decode_disconnect(body, version_, p);
    if (rc != reason_code::success) {
        protocol_violation(rc, "invalid DISCONNECT");
        return;
    }
    if (version_ == protocol_version::v5) {
        if (!client_may_send(p.reason)) {
            protocol_violation(reason_code::protocol_error, "DISCONNECT reason code a client may not send");
            return;
        }
        if (p.props.session_expiry_interval) {
            // Zero at CONNECT cannot become non-zero at DISCONNECT [MQTT-3.14.2-2].
            if (connect_session_expiry_ == 0 && *p.props.session_expiry_interval != 0) {
                protocol_violation(reason_code::protocol_error, "session expiry set in DISCONNECT after 0 in CONNECT");
                return;
            }
            std::uint32_t expiry = *p.props.session_expiry_interval;
            const auto cap = broker_->config().persistent_client_expiration;
            if (cap != 0 && expiry > cap) expiry = cap;
            session_->expiry_interval = expiry;
        }
        if (p.props.server_reference) {  // only a server may send one
            protocol_violation(reason_code::protocol_error, "Server Reference in DISCONNECT from a client");
            return;
        }
    }
    // Only a normal disconnection (0x00) discards the will [MQTT-3.14.4-3],
    // [MQTT-3.1.2-10]: 0x04 asks for it, and a client that ends with an error
    // code (0x80 and up) did not end normally. Mosquitto 2.0 differs: it drops
    // the will for every code but 0x04 (see docs/architecture.md).
    will_suppressed_ = p.reason == reason_code::success;
    note_close(p.reason, true);
    if (broker_->config().log.connection_messages) broker_->log().notice("Client ", client_id(), " disconnected.");
    begin_close();
}

}  // namespace strata::protocol
