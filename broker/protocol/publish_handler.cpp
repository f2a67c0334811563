// PUBLISH in both directions and the QoS 1/2 acknowledgements (sections
// 3.3 to 3.7, 4.3).
#include <algorithm>

#include "codec/utf8.hpp"
#include "core/logger.hpp"
#include "plugin/worker_hooks.hpp"
#include "protocol/connection.hpp"
#include "topic/topic_name.hpp"

namespace strata::protocol {

using codec::packet_type;
using codec::protocol_version;
using codec::reason_code;

namespace {

// Clients may not publish to $SYS (the broker's own) or to $share topics,
// which only exist as subscription filters; Mosquitto answers "not authorized".
bool reserved_for_broker(std::string_view topic) {
    // Bridges (and monitoring tools) publish their state to
    // $SYS/broker/connection/NAME/state; Mosquitto lets clients write there.
    if (topic.starts_with("$SYS/broker/connection/") && topic::matches("$SYS/broker/connection/+/state", topic)) {
        return false;
    }
    return topic.starts_with("$SYS") || topic.starts_with("$share");
}

}  // namespace

bool connection::resolve_topic_alias(codec::publish_packet& p) {
    if (!p.props.topic_alias) {
        if (p.topic.empty()) {
            protocol_violation(reason_code::protocol_error, "empty topic without a topic alias");  // [MQTT-3.3.2-8]
            return false;
        }
        return true;
    }
    const std::uint16_t alias = *p.props.topic_alias;
    if (alias == 0 || alias > server_topic_alias_maximum_) {  // [MQTT-3.3.2-9], [MQTT-3.3.2-10]
        protocol_violation(reason_code::topic_alias_invalid, "topic alias out of range");
        return false;
    }
    auto& inbound = aliases().inbound;
    if (inbound.size() <= alias) inbound.resize(server_topic_alias_maximum_ + 1u);
    if (!p.topic.empty()) {
        inbound[alias].assign(p.topic);
        return true;
    }
    if (inbound[alias].empty()) {
        protocol_violation(reason_code::protocol_error, "unknown topic alias");
        return false;
    }
    p.topic = inbound[alias];
    return true;
}

// A PUBLISH from the client, in the order a message meets its checks: the
// packet itself, a QoS 2 resend, the broker's capacity, what the broker
// accepts, who may publish where; then the message goes on by the path its
// QoS and the store decide.
void connection::handle_publish(std::uint8_t flags, codec::bytes_view body) {
    auto& p = broker_->scratch().publish;
    if (!decode_publish_checked(flags, body, p)) return;
    if (p.qos == 2 && session_->inbound_pending(p.packet_id)) {
        answer_qos2_resend(p.packet_id);
        return;
    }
    if (!room_for_publish(p)) return;
    if (const auto verdict = broker_verdict(p); verdict != reason_code::success) {
        broker_->log().debug("Denied PUBLISH from ", client_id(), " (q", static_cast<int>(p.qos), ", '", p.topic, "', ",
                            p.payload.size(), " bytes): ", codec::to_string(verdict), ".");
        acknowledge_publish(p.qos, p.packet_id, verdict);  // the QoS flow completes
        return;
    }
    std::string_view topic = p.topic;
    std::string mounted_topic;  // only with a mount point: no allocation otherwise
    if (!mount_point().empty()) {
        mounted_topic = mounted(p.topic);
        topic = mounted_topic;
    }
    const plugin::message_draft* rewritten = nullptr;
    if (!authorize_publish(p, topic, rewritten)) return;

    auto& forwarded = broker_->scratch().forwarded_properties;
    forwarded.clear();
    if (version_ == protocol_version::v5) encode_forwarded_properties(p.props, forwarded);
    message::init in;
    in.topic = topic;
    in.payload = p.payload;
    in.forwarded_properties = forwarded;
    in.qos = p.qos;
    in.retain = p.retain;
    in.origin_session = session_->id();
    in.has_expiry = p.props.message_expiry_interval.has_value();
    in.expiry_interval = p.props.message_expiry_interval.value_or(0);
    // A retained message keeps its publisher, for check_retain_source.
    const message_source source = publisher();
    if (p.retain) in.source = &source;
    if (rewritten) rewritten->apply(in, forwarded);
    if (broker_->log().enabled(config::log_debug)) {
        broker_->log().debug("Received PUBLISH from ", client_id(), " (d", p.dup ? 1 : 0, ", q", static_cast<int>(p.qos),
                            ", r", p.retain ? 1 : 0, ", m", p.packet_id, ", '", p.topic, "', ... (", p.payload.size(),
                            " bytes))");
    }
    pass_on(p, in);
}

bool connection::decode_publish_checked(std::uint8_t flags, codec::bytes_view body, codec::publish_packet& p) {
    const auto rc = codec::decode_publish(body, flags, version_, p);
    if (rc != reason_code::success) {
        protocol_violation(rc, "invalid PUBLISH");
        return false;
    }
    broker_->stats().add(broker_->stats().messages_received);
    const auto& cfg = broker_->config();
    if (version_ == protocol_version::v5) {
        if (!p.props.subscription_identifiers.empty()) {  // [MQTT-3.3.4-6]
            protocol_violation(reason_code::protocol_error, "subscription identifier in PUBLISH");
            return false;
        }
        if (!resolve_topic_alias(p)) return false;
    }
    if (topic::deeper_than(p.topic, cfg.max_topic_levels)) {  // a guard against hostile input, as Mosquitto
        protocol_violation(reason_code::protocol_error, "topic deeper than max_topic_levels");
        return false;
    }
    if (p.qos > cfg.max_qos) {  // [MQTT-3.2.2-11]
        protocol_violation(reason_code::qos_not_supported, "QoS above maximum_qos");
        return false;
    }
    if (p.retain && !cfg.retain_available) {  // [MQTT-3.2.2-14]
        protocol_violation(reason_code::retain_not_supported, "retain not available");
        return false;
    }
    return true;
}

void connection::answer_qos2_resend(std::uint16_t packet_id) {
    // A resent QoS 2 PUBLISH already received: acknowledge again, deliver
    // once [MQTT-4.3.3-10]. If its PUBREC still waits for the store (also
    // when the first copy came over an earlier connection), that PUBREC,
    // sent after the commit, answers this copy too.
    if (!session_->awaiting_commit(commit_wait_kind::pubrec, packet_id)) {
        send_ack(packet_type::pubrec, packet_id, reason_code::success);
    }
}

bool connection::room_for_publish(const codec::publish_packet& p) {
    // Only MQTT 5 has a Receive Maximum: a 3.1.1 client was never told one.
    if (version_ == protocol_version::v5 && p.qos > 0 &&
        session_->inbound_count() + session_->awaiting_pubacks() >= server_receive_maximum_) {  // [MQTT-3.3.4-9]
        protocol_violation(reason_code::receive_maximum_exceeded, "more QoS 1/2 messages in flight than Receive Maximum");
        return false;
    }
    if (broker_->memory_over_limit()) {
        // memory_limit, as Mosquitto: the message is dropped and its publisher disconnected.
        broker_->stats().add(broker_->stats().messages_dropped);
        protocol_violation(reason_code::quota_exceeded, "memory_limit reached");
        return false;
    }
    if (!broker_->can_keep(p.qos)) {
        // Disk full or failing: refuse what we could not keep; subscribers are still served.
        broker_->log().warning("Refused QoS ", static_cast<int>(p.qos), " PUBLISH from ", client_id(),
                              ": the store cannot write.");
        if (version_ == protocol_version::v5) {
            acknowledge_publish(p.qos, p.packet_id, reason_code::quota_exceeded);
        } else {
            protocol_violation(reason_code::quota_exceeded, "store cannot write");
        }
        return false;
    }
    return true;
}

reason_code connection::broker_verdict(const codec::publish_packet& p) const {
    const auto& cfg = broker_->config();
    if (p.props.payload_format_indicator.value_or(0) == 1 && !codec::is_valid_utf8(codec::as_chars(p.payload))) {
        return reason_code::payload_format_invalid;
    }
    if (cfg.message_size_limit != 0 && p.payload.size() > cfg.message_size_limit) {
        // Dropped, and the QoS flow still completes (a plain PUBACK/PUBREC in
        // 3.1.1, as Mosquitto). Mosquitto 2.0 answers 0x95 (Packet too large),
        // which is no PUBACK/PUBREC reason code (tables 3.4.2.1, 3.5.2.1), and the
        // packet did fit the Maximum Packet Size (else DISCONNECT 0x95). The limit
        // is the broker's policy, which is what 0x83 (Implementation specific
        // error: valid, but not accepted) says; 0x97 (Quota exceeded) is kept for
        // a store that cannot write.
        return reason_code::implementation_specific_error;
    }
    if (reserved_for_broker(p.topic)) return reason_code::not_authorized;
    return reason_code::success;
}

bool connection::authorize_publish(const codec::publish_packet& p, std::string_view topic,
                                   const plugin::message_draft*& rewritten) {
    std::string reason;
    const auto verdict = broker_->may_publish(*session_, plugin_client(), topic, p, rewritten, reason);
    if (verdict == reason_code::success) return true;
    refuse_publish(p, verdict, reason);
    return false;
}

void connection::pass_on(const codec::publish_packet& p, const message::init& in) {
    broker_->accept_publish(*session_, p.qos, p.packet_id, in);
}

void connection::acknowledge_stored(commit_wait_kind kind, std::uint16_t packet_id, bool stored, bool no_subscribers) {
    if (state_ != connection_state::active) return;
    if (kind == commit_wait_kind::pubcomp) {
        // Not stored: no PUBCOMP; the message is held again and the client resends PUBREL.
        if (stored) send_ack(packet_type::pubcomp, packet_id, reason_code::success);
        return;
    }
    const std::uint8_t qos = kind == commit_wait_kind::puback ? 1 : 2;
    if (stored) {
        acknowledge_publish(qos, packet_id, no_subscribers ? reason_code::no_matching_subscribers : reason_code::success);
        return;
    }
    broker_->log().warning("The store could not commit a QoS ", static_cast<int>(qos), " PUBLISH from ", client_id(), ".");
    if (version_ == protocol_version::v5) acknowledge_publish(qos, packet_id, reason_code::quota_exceeded);
    else protocol_violation(reason_code::quota_exceeded, "store cannot write");
}

void connection::acknowledge_publish(std::uint8_t qos, std::uint16_t packet_id, reason_code rc) {
    if (qos == 1) send_ack(packet_type::puback, packet_id, rc);
    else if (qos == 2) send_ack(packet_type::pubrec, packet_id, rc);
}

void connection::send_ack(packet_type type, std::uint16_t packet_id, reason_code rc) {
    codec::ack_packet ack;
    ack.type = type;
    ack.packet_id = packet_id;
    ack.reason = version_ == protocol_version::v5 ? rc : reason_code::success;
    codec::encode_ack(out_.bytes(), version_, ack);
    notify_transport();
}

void connection::handle_ack(packet_type type, codec::bytes_view body) {
    auto& ack = broker_->scratch().ack;
    const auto rc = codec::decode_ack(body, type, version_, ack);
    if (rc != reason_code::success) {
        protocol_violation(rc, "invalid acknowledgement");
        return;
    }
    const std::uint16_t id = ack.packet_id;
    const bool failed = codec::is_error(ack.reason);
    if (!ack_fits_flow(type, id)) return;
    switch (type) {
        case packet_type::puback: session_->on_puback(id); break;
        case packet_type::pubrec:
            if (!session_->on_pubrec(id, failed) && !failed) {
                send_ack(packet_type::pubrel, id, reason_code::packet_identifier_not_found);
            }
            break;
        case packet_type::pubrel: {
            // A PUBREL resent while the first one's commit is under way: its
            // PUBCOMP follows the commit, over whichever connection is there then.
            if (session_->awaiting_commit(commit_wait_kind::pubcomp, id)) break;
            if (const auto rc = broker_->release_publish(*session_, id)) send_ack(packet_type::pubcomp, id, *rc);
            break;
        }
        case packet_type::pubcomp: session_->on_pubcomp(id); break;
        default: break;
    }
    notify_transport();
}

// An acknowledgement of the wrong kind for a packet id in flight is a
// protocol error, as in Mosquitto: PUBREC for a QoS 1 message, PUBACK for a
// QoS 2 one, PUBCOMP before PUBREL (4.3.2, 4.3.3). One for an id that is not
// in flight is not: it may be a late duplicate (PUBACK and PUBCOMP are
// ignored, PUBREC gets PUBREL 0x92).
bool connection::ack_fits_flow(packet_type type, std::uint16_t id) {
    using awaiting = session::awaiting;
    const awaiting owed = session_->awaiting_for(id);
    if (owed == awaiting::nothing) return true;
    const bool fits = (type == packet_type::puback && owed == awaiting::puback) ||
                      (type == packet_type::pubrec && owed != awaiting::puback) ||  // a repeated PUBREC gets PUBREL again
                      (type == packet_type::pubcomp && owed == awaiting::pubcomp) || type == packet_type::pubrel;
    if (fits) return true;
    std::string what(codec::to_string(type));
    what += " for packet id ";
    what += std::to_string(id);
    what += owed == awaiting::puback ? ", a QoS 1 message" : owed == awaiting::pubrec ? ", a QoS 2 message not yet PUBREC'd"
                                                                                       : ", a QoS 2 message waiting for PUBCOMP";
    protocol_violation(reason_code::protocol_error, what);
    return false;
}

void connection::send_pubrel(std::uint16_t packet_id) { send_ack(packet_type::pubrel, packet_id, reason_code::success); }

bool connection::send_publish(const message& m, std::uint8_t qos, bool retain, std::uint16_t packet_id, bool dup,
                              std::span<const std::uint32_t> subscription_ids) {
    if (state_ != connection_state::active) return true;
    if (over_memory_limit()) return false;  // dropped as if delivered; the client is disconnected
    const bool v5 = version_ == protocol_version::v5;
    std::string_view topic = m.topic();
    if (!mount_point().empty() && topic.starts_with(mount_point())) topic.remove_prefix(mount_point().size());
    const auto now = steady_clock::now();

    std::uint16_t alias = 0;
    bool new_alias = false;
    std::uint32_t props_size = 0;
    std::uint32_t expiry = 0;
    if (v5) {
        if (client_topic_alias_maximum_ > 0) {
            auto& outbound = aliases().outbound;
            if (auto it = outbound.find(topic); it != outbound.end()) {
                alias = it->second;
            } else if (outbound.size() < client_topic_alias_maximum_) {
                alias = static_cast<std::uint16_t>(outbound.size() + 1);
                new_alias = true;
            }
        }
        if (m.has_expiry()) {
            expiry = m.remaining_expiry(now);
            props_size += 5;
        }
        if (alias != 0) props_size += 3;
        for (auto id : subscription_ids) props_size += 1 + codec::varint_size(id);
        props_size += static_cast<std::uint32_t>(m.forwarded_properties().size());
    }
    const bool send_topic = alias == 0 || new_alias;
    const auto topic_bytes = static_cast<std::uint32_t>(send_topic ? topic.size() : 0);
    std::uint32_t body = 2 + topic_bytes + (qos > 0 ? 2 : 0) + static_cast<std::uint32_t>(m.payload().size());
    if (v5) body += codec::varint_size(props_size) + props_size;
    const std::uint32_t total = 1 + codec::varint_size(body) + body;
    if (client_maximum_packet_size_ != 0 && total > client_maximum_packet_size_) {
        broker_->stats().add(broker_->stats().messages_dropped);
        broker_->log().debug("Dropped PUBLISH to ", client_id(), " ('", topic, "', ", total,
                            " bytes): larger than its maximum packet size.");
        return false;
    }
    // Before the alias is recorded: a dropped message must not define one.
    if (qos == 0 && !output_has_room(total)) return true;  // dropped as a slow consumer's; QoS 0 needs no more
    if (new_alias) aliases_->outbound.emplace(std::string(topic), alias);

    codec::byte_writer w(out_.bytes());
    const auto flags = static_cast<std::uint8_t>((dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
    codec::write_fixed_header(w, packet_type::publish, flags, body);
    w.u16(static_cast<std::uint16_t>(topic_bytes));
    if (send_topic) w.raw(topic);
    if (qos > 0) w.u16(packet_id);
    if (v5) {
        w.varint(props_size);
        if (m.has_expiry()) {
            w.u8(static_cast<std::uint8_t>(codec::property_id::message_expiry_interval));
            w.u32(expiry);
        }
        if (alias != 0) {
            w.u8(static_cast<std::uint8_t>(codec::property_id::topic_alias));
            w.u16(alias);
        }
        for (auto id : subscription_ids) {
            w.u8(static_cast<std::uint8_t>(codec::property_id::subscription_identifier));
            w.varint(id);
        }
        w.raw(m.forwarded_properties());
    }
    out_.append_payload(m);
    broker_->stats().add(broker_->stats().messages_sent);
    notify_transport();
    return true;
}

}  // namespace strata::protocol
