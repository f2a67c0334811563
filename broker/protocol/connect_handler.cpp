// CONNECT: validation, session attachment and CONNACK (sections 3.1, 3.2).
#include <algorithm>

#include "auth/acl_file.hpp"  // session::acl is reset here
#include "codec/utf8.hpp"
#include "core/logger.hpp"
#include "plugin/worker_hooks.hpp"
#include "protocol/connection.hpp"
#include "protocol/plugin_state.hpp"
#include "topic/topic_name.hpp"

namespace strata::protocol {

using codec::protocol_version;
using codec::reason_code;

namespace {

constexpr std::uint32_t never_expires = 0xFFFFFFFF;

int protocol_number(protocol_version v) {
    switch (v) {
        case protocol_version::v31: return 1;
        case protocol_version::v311: return 2;
        case protocol_version::v5: return 5;
    }
    return 0;
}

}  // namespace

namespace {

// "203.0.113.7:5000" -> "203.0.113.7", "::1:5000" -> "::1": failed logins count per address.
std::string address_of(std::string_view peer) {
    const auto colon = peer.rfind(':');
    return std::string(colon == std::string_view::npos ? peer : peer.substr(0, colon));
}

}  // namespace

codec::reason_code connection::read_connect(codec::bytes_view body, codec::connect_packet& p) const {
    const auto rc = codec::decode_connect(body, p);
    if (const std::string* name = transport_.certificate_username()) {
        p.username = *name;
        p.has_username = true;
    }
    return rc;
}

void connection::handle_connect(codec::bytes_view body) {
    codec::connect_packet p;
    const auto rc = read_connect(body, p);
    if (rc == reason_code::unsupported_protocol_version) {
        // Unknown level: answer in the 3.1.1 format, return code 1 [MQTT-3.1.2-2].
        codec::connack_packet ack;
        ack.reason = static_cast<std::uint8_t>(codec::connack_return_code_v3::unacceptable_protocol_version);
        codec::encode_connack(out_.bytes(), protocol_version::v311, ack);
        broker_->log().notice("Client from ", peer_, " refused: unsupported protocol version.");
        begin_close();
        return;
    }
    if (p.protocol_name == "MQTT" || p.protocol_name == "MQIsdp") version_ = p.version;
    // Known before any answer: the CONNACK must fit too [MQTT-3.1.2-24].
    if (version_ == protocol_version::v5) client_maximum_packet_size_ = p.props.maximum_packet_size.value_or(0);
    if (rc != reason_code::success) {
        if (rc == reason_code::protocol_error && p.protocol_name != "MQTT" && p.protocol_name != "MQIsdp") {
            broker_->log().notice("Client from ", peer_, " sent an unknown protocol name, closing.");
            begin_close();
            return;
        }
        refuse_connect(rc, "malformed CONNECT");
        return;
    }
    // The back-off after failed logins (auth/login_throttle.hpp) holds every
    // CONNECT from the address, whatever its credentials, until it ends.
    if (const auto blocked = broker_->login_blocked_for(address_of(peer_));
        blocked.count() > 0) {
        return refuse_connect_later(blocked);
    }
    if (const auto verdict = check_connect(p); verdict != reason_code::success) return refuse_connect(verdict, "");

    const bool assigned_id = p.client_id.empty();
    client_id_ = assigned_id ? broker_->make_client_id() : std::string(p.client_id);
    const std::size_t home = broker_->claim_client_id(client_id_);
    if (home != broker_->worker_index()) {
        // The session lives on another thread: move this connection there.
        state_ = connection_state::migrating;
        migrate_to_ = static_cast<std::uint16_t>(home);
        notify_transport();
        return;
    }
    // With plugins, they authenticate the client first (auth_handler.cpp).
    if (broker_->hooks().snapshot()->handles_connections()) return start_authentication(body, assigned_id);
    accept_connect(p, assigned_id);
}

reason_code connection::check_connect(const codec::connect_packet& p) {
    const auto& cfg = broker_->config();
    const bool v5 = p.version == protocol_version::v5;
    if (p.client_id.empty()) {
        if (!cfg.allow_zero_length_clientid || p.version == protocol_version::v31) {
            // Mosquitto's answers: 0x80 (unspecified error) in 5.0, "identifier rejected" before.
            return v5 ? reason_code::unspecified_error : reason_code::client_identifier_not_valid;
        }
        // 3.1.1 only allows an empty id with a clean session [MQTT-3.1.3-8].
        if (!v5 && !p.clean_start) return reason_code::client_identifier_not_valid;
    }
    const std::string* certificate_name = transport_.certificate_username();
    // A listener that takes usernames from certificates refuses a certificate without one.
    if (certificate_name && certificate_name->empty()) return reason_code::bad_username_or_password;
    if (!broker_->hooks().snapshot()->handles_connections()) {  // else the plugins decide (auth_handler.cpp)
        // No auth plugin takes an authentication method.
        if (v5 && p.props.authentication_method) return reason_code::bad_authentication_method;
        if (const auto rc = check_credentials(p); rc != reason_code::success) return rc;
    }
    // 3.1.1 cannot be told a shorter keep alive, so Mosquitto refuses it.
    if (!v5 && p.keep_alive > cfg.max_keepalive) return reason_code::client_identifier_not_valid;
    if (p.has_will) {
        if (!topic::is_valid_name(p.will.topic)) return reason_code::topic_name_invalid;
        if (p.will.qos > cfg.max_qos) return reason_code::qos_not_supported;
        if (p.will.retain && !cfg.retain_available) return reason_code::retain_not_supported;
        // A will is a message like any other: refused at CONNECT, as in Mosquitto.
        if (cfg.message_size_limit != 0 && p.will.payload.size() > cfg.message_size_limit) {
            return reason_code::packet_too_large;
        }
        if (p.will.props.payload_format_indicator.value_or(0) == 1 &&
            !codec::is_valid_utf8(codec::as_chars(p.will.payload))) {
            return reason_code::payload_format_invalid;
        }
    }
    return reason_code::success;
}


reason_code connection::check_credentials(const codec::connect_packet& p) {
    // The certificate is the credential on these listeners; no password is checked (as in Mosquitto).
    if (transport_.certificate_username()) return reason_code::success;
    return broker_->check_password(listener_.index, anonymous_allowed(), address_of(peer_), p);
}

// At most this long, so that a client blocked for minutes does not hold a
// socket for minutes; it is answered, reconnects, and waits again.
constexpr std::chrono::milliseconds longest_refusal_delay{10'000};

void connection::refuse_connect_later(std::chrono::milliseconds delay) {
    refusal_pending_ = true;
    broker_->log().notice("Client connection from ", peer_, ": too many failed logins from this address; refused in ",
                         std::min(delay, longest_refusal_delay).count(), " ms.");
    broker_->after(std::min(delay, longest_refusal_delay), [&port = *broker_, id = id] {
        auto* c = port.find_connection(id);
        if (!c || !c->refusal_pending_ || c->state_ != connection_state::awaiting_connect) return;
        c->refusal_pending_ = false;
        c->refuse_connect(reason_code::not_authorized, "too many failed logins from this address");
    });
}

bool connection::will_allowed_by_acl(const codec::connect_packet& p) const {
    const std::string username(p.username);
    return broker_->may_publish_will(listener_.index, p.has_username ? &username : nullptr, client_id(),
                                                    mounted(p.will.topic));
}

bool connection::anonymous_allowed() const { return listener_.allow_anonymous.value_or(broker_->config().allow_anonymous); }

void connection::refuse_connect(reason_code rc, std::string_view why, std::string_view reason_string) {
    note_close(rc, false);
    broker_->log().notice("Client ", client_id().empty() ? std::string_view("<unknown>") : std::string_view(client_id()),
                         " from ", peer_, " refused: ", why.empty() ? codec::to_string(rc) : why, ".");
    if (version_ == protocol_version::v5) {
        codec::connack_packet ack;
        ack.reason = static_cast<std::uint8_t>(rc);
        if (!reason_string.empty()) ack.props.reason_string = reason_string;
        if (!queue_connack(ack)) broker_->log().notice("Its CONNACK exceeds its Maximum Packet Size: not sent.");
    } else {
        // 3.1.1 has return codes only for refusals, not for protocol errors [MQTT-3.2.2-6].
        const auto v3 = codec::to_v3_connack(rc);
        if (rc != reason_code::malformed_packet && rc != reason_code::protocol_error &&
            rc != reason_code::topic_name_invalid && rc != reason_code::qos_not_supported &&
            rc != reason_code::retain_not_supported && rc != reason_code::payload_format_invalid) {
            codec::connack_packet ack;
            ack.reason = static_cast<std::uint8_t>(v3);
            codec::encode_connack(out_.bytes(), version_, ack);
        }
    }
    begin_close();
}

bool connection::queue_connack(codec::connack_packet& ack) {
    auto& out = out_.bytes();
    const std::size_t before = out.size();
    const auto fits = [&] { return client_maximum_packet_size_ == 0 || out.size() - before <= client_maximum_packet_size_; };
    codec::encode_connack(out, version_, ack);
    if (fits()) return true;
    out.resize(before);
    ack.props.reason_string.reset();  // [MQTT-3.2.2-19], [MQTT-3.2.2-20]
    ack.props.user_properties.clear();
    codec::encode_connack(out, version_, ack);
    if (fits()) return true;
    out.resize(before);
    return false;
}

message_source connection::publisher() const {
    return {client_id(), session_->username, session_->has_username, listener_.index};
}

mutable_message_ref connection::make_will(const codec::connect_packet& p) {
    if (!p.has_will) return nullptr;
    auto& forwarded = broker_->scratch().forwarded_properties;
    forwarded.clear();
    if (version_ == protocol_version::v5) encode_forwarded_properties(p.will.props, forwarded);
    const std::string topic = mounted(p.will.topic);
    message::init in;
    in.topic = topic;
    in.payload = p.will.payload;
    in.forwarded_properties = forwarded;
    in.qos = p.will.qos;
    in.retain = p.will.retain;
    in.origin_session = session_->id();
    in.has_expiry = p.will.props.message_expiry_interval.has_value();
    in.expiry_interval = p.will.props.message_expiry_interval.value_or(0);
    const message_source source = publisher();
    if (p.will.retain) in.source = &source;
    return mutable_message_ref(message::create(in));
}

void connection::accept_connect(const codec::connect_packet& p, bool assigned_id) {
    const auto& cfg = broker_->config();
    const bool v5 = version_ == protocol_version::v5;
    codec::connack_packet ack;

    keep_alive_ = p.keep_alive;
    bridge_ = p.bridge && !v5;
    if (v5 && (p.keep_alive > cfg.max_keepalive || (p.keep_alive == 0 && cfg.max_keepalive < 65535))) {
        keep_alive_ = cfg.max_keepalive;
        ack.props.server_keep_alive = keep_alive_;  // [MQTT-3.2.2-21]
    }
    if (v5) {
        client_receive_maximum_ = p.props.receive_maximum.value_or(65535);
        client_maximum_packet_size_ = p.props.maximum_packet_size.value_or(0);
        client_topic_alias_maximum_ = p.props.topic_alias_maximum.value_or(0);
        request_problem_information_ = p.props.request_problem_information.value_or(1) == 1;
    }
    server_receive_maximum_ = cfg.max_inflight_messages == 0 ? 65535 : cfg.max_inflight_messages;
    server_topic_alias_maximum_ = v5 ? cfg.max_topic_alias : 0;

    std::uint32_t expiry = v5 ? p.props.session_expiry_interval.value_or(0) : (p.clean_start ? 0 : never_expires);
    connect_session_expiry_ = expiry;
    if (cfg.persistent_client_expiration != 0 && expiry > cfg.persistent_client_expiration) {
        expiry = cfg.persistent_client_expiration;
    }

    ack.reason = 0;
    if (v5) {
        if (assigned_id) ack.props.assigned_client_identifier = client_id();
        if (server_receive_maximum_ != 65535) ack.props.receive_maximum = server_receive_maximum_;
        if (cfg.max_qos < 2) ack.props.maximum_qos = cfg.max_qos;
        if (!cfg.retain_available) ack.props.retain_available = 0;
        if (cfg.max_packet_size != 0) ack.props.maximum_packet_size = cfg.max_packet_size;
        if (server_topic_alias_maximum_ > 0) ack.props.topic_alias_maximum = server_topic_alias_maximum_;
        if (plugin_ && !plugin_->method.empty()) {  // enhanced authentication succeeded
            ack.props.authentication_method = plugin_->method;
            if (!plugin_->auth_data_out.empty()) ack.props.authentication_data = codec::as_chars(plugin_->auth_data_out);
        }
    }
    if (client_maximum_packet_size_ != 0) {
        // Checked before the session is touched: a CONNACK that cannot fit is
        // not sent [MQTT-3.1.2-24], and the client gets no session either.
        codec::byte_buffer probe;
        codec::encode_connack(probe, version_, ack);
        if (probe.size() > client_maximum_packet_size_) {
            broker_->log().notice("Client ", client_id(), " from ", peer_, " refused: its Maximum Packet Size (",
                                 client_maximum_packet_size_, ") is smaller than the CONNACK (", probe.size(),
                                 " bytes); closing without one.");
            broker_->release_unused_claim(client_id_);
            begin_close();
            return;
        }
    }

    const auto attached = broker_->attach(*this, client_id_, p.clean_start);
    session_ = attached.s;
    state_ = connection_state::active;
    session_->expiry_interval = expiry;
    session_->protocol_version = static_cast<std::uint8_t>(version_);
    session_->username.assign(p.username);
    session_->has_username = p.has_username;
    session_->listener = listener_.index;
    session_->acl.reset();  // resolved again for this connection's username and listener
    // The will is published on this client's behalf: it must be allowed to write
    // its topic. Mosquitto accepts the connection either way; so does strata,
    // without the will.
    session_->will = will_allowed_by_acl(p) ? make_will(p) : nullptr;
    if (p.has_will && !session_->will) {
        broker_->log().notice("Will of client ", client_id(), " on '", p.will.topic, "' dropped: the ACL file denies it.");
    }
    session_->will_delay = p.has_will ? p.will.props.will_delay_interval.value_or(0) : 0;
    broker_->session_started(*session_);

    ack.session_present = attached.session_present;
    codec::encode_connack(out_.bytes(), version_, ack);
    // The CONNACK (an assigned identifier) referred to this copy; from here
    // on client_id() reads the session's.
    std::string().swap(client_id_);

    if (cfg.log.connection_messages) {
        // Mosquitto's format, which log readers parse: u'name' when there is a username.
        const std::string_view what = bridge_ ? "New bridge connected from " : "New client connected from ";
        if (p.has_username) {
            broker_->log().notice(what, peer_, " as ", client_id(), " (p", protocol_number(version_), ", c",
                                 p.clean_start ? 1 : 0, ", k", keep_alive_, ", u'", p.username, "').");
        } else {
            broker_->log().notice(what, peer_, " as ", client_id(), " (p", protocol_number(version_), ", c",
                                 p.clean_start ? 1 : 0, ", k", keep_alive_, ").");
        }
    }
    broker_->stats().add(broker_->stats().clients_connected);
    // Unacknowledged messages of a kept session go out again first [MQTT-4.4.0-1].
    if (attached.session_present) session_->resend_inflight();
    else session_->pump();
    notify_transport();
}

}  // namespace strata::protocol
