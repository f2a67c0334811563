// A test client for the protocol layer's server role: a real
// protocol::connection on a client_host (a broker_port and a way to run its
// deferred work), fed raw bytes built by the codec's encoders; what the
// connection writes is split into packets and decoded with the codec's
// decoders. Hosts: fake_broker_port.hpp (no broker) and
// broker_test_util.hpp (a real core::broker).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/packets.hpp"
#include "config/broker_config.hpp"
#include "core/logger.hpp"
#include "protocol/connection.hpp"
#include "test_printers.hpp"

namespace strata::test {

using codec::packet_type;
using codec::protocol_version;
using codec::reason_code;
using bytes = std::vector<std::uint8_t>;

constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;

// Where a test client's connection lives.
class client_host {
public:
    virtual ~client_host() = default;
    virtual protocol::broker_port& port_of(std::size_t worker_index) = 0;
    // Runs the work the broker side deferred until none is left.
    virtual void poll() = 0;
};

class capture_transport final : public protocol::transport {
public:
    void output_ready() override { ++ready; }
    int ready = 0;
};

// A packet written by the connection.
struct packet {
    codec::fixed_header h;
    bytes body;
    packet_type type() const { return h.type; }
};

// A client: the connection under test plus its transport.
struct client {
    client(client_host& h, protocol_version v, std::string mount_point = "")
        : client(h, v, make_listener(std::move(mount_point))) {}
    client(client_host& h, protocol_version v, protocol::listener_settings settings, std::size_t worker_index = 0)
        : owner(h),
          version(v),
          listener(std::move(settings)),
          conn(h.port_of(worker_index), transport, "test-peer", listener) {}
    // A client whose connection lives on worker `worker_index`.
    client(client_host& h, std::size_t worker_index, protocol_version v)
        : client(h, v, make_listener(""), worker_index) {}

    static protocol::listener_settings make_listener(std::string mount_point) {
        protocol::listener_settings l;
        l.port = 1883;
        l.mount_point = std::move(mount_point);
        return l;
    }

    void send(const bytes& b) {
        conn.on_input(b);
        owner.poll();
    }
    // Feeds the bytes one at a time, as a slow network would.
    void send_bytewise(const bytes& b) {
        for (auto byte : b) conn.on_input(std::span<const std::uint8_t>(&byte, 1));
        owner.poll();
    }

    // Everything the connection wrote since the last call, as bytes.
    bytes take_bytes() {
        auto& out = conn.output();
        bytes all;
        for (const auto& seg : out.segments()) all.insert(all.end(), out.data(seg), out.data(seg) + seg.length);
        out.clear();
        return all;
    }
    // The same, split into packets.
    std::vector<packet> take() {
        const bytes all = take_bytes();
        std::vector<packet> packets;
        std::size_t at = 0;
        while (at < all.size()) {
            codec::fixed_header h;
            const auto status = codec::parse_fixed_header(codec::bytes_view(all).subspan(at), h);
            REQUIRE(status == codec::frame_status::complete);
            REQUIRE(at + h.total_length() <= all.size());
            packet p{h, bytes(all.begin() + static_cast<std::ptrdiff_t>(at + h.header_length),
                              all.begin() + static_cast<std::ptrdiff_t>(at + h.total_length()))};
            packets.push_back(std::move(p));
            at += h.total_length();
        }
        return packets;
    }
    // Exactly one packet of the given type.
    packet take_one(packet_type type) {
        auto all = take();
        REQUIRE(all.size() == 1);
        REQUIRE(codec::to_string(all[0].type()) == codec::to_string(type));
        return std::move(all[0]);
    }
    bool closing() const {
        return conn.state() == protocol::connection_state::closing || conn.state() == protocol::connection_state::closed;
    }

    client_host& owner;
    protocol_version version;
    protocol::listener_settings listener;  // outlives the connection
    capture_transport transport;
    protocol::connection conn;
};

// ---- building client packets ------------------------------------------------

inline bytes connect_bytes(protocol_version v, std::string_view id, bool clean = true,
                           const std::function<void(codec::connect_packet&)>& tweak = {}) {
    codec::connect_packet p;
    p.version = v;
    p.client_id = id;
    p.clean_start = clean;
    p.keep_alive = 60;
    if (tweak) tweak(p);
    bytes out;
    codec::encode_connect(out, p);
    return out;
}

inline bytes publish_bytes(protocol_version v, std::string_view topic, std::string_view payload, std::uint8_t qos = 0,
                           std::uint16_t packet_id = 0, bool retain = false,
                           const std::function<void(codec::publish_packet&)>& tweak = {}) {
    codec::publish_packet p;
    p.topic = topic;
    p.payload = codec::as_bytes(payload);
    p.qos = qos;
    p.packet_id = packet_id;
    p.retain = retain;
    if (tweak) tweak(p);
    bytes out;
    codec::encode_publish(out, v, p);
    return out;
}

inline bytes subscribe_bytes(protocol_version v, std::uint16_t packet_id, std::vector<codec::subscription_request> subs,
                             std::uint32_t subscription_id = 0) {
    codec::subscribe_packet p;
    p.packet_id = packet_id;
    p.subscriptions = std::move(subs);
    if (subscription_id) p.props.subscription_identifiers = {subscription_id};
    bytes out;
    codec::encode_subscribe(out, v, p);
    return out;
}

inline codec::subscription_request sub(std::string_view filter, std::uint8_t qos, bool no_local = false,
                                       bool retain_as_published = false, std::uint8_t retain_handling = 0) {
    return codec::subscription_request{filter, qos, no_local, retain_as_published, retain_handling};
}

inline bytes unsubscribe_bytes(protocol_version v, std::uint16_t packet_id, std::vector<std::string_view> filters) {
    codec::unsubscribe_packet p;
    p.packet_id = packet_id;
    p.filters = std::move(filters);
    bytes out;
    codec::encode_unsubscribe(out, v, p);
    return out;
}

inline bytes ack_bytes(protocol_version v, packet_type type, std::uint16_t packet_id,
                       reason_code rc = reason_code::success) {
    codec::ack_packet p;
    p.type = type;
    p.packet_id = packet_id;
    p.reason = rc;
    bytes out;
    codec::encode_ack(out, v, p);
    return out;
}

inline bytes disconnect_bytes(protocol_version v, reason_code rc = reason_code::success,
                              std::optional<std::uint32_t> session_expiry = std::nullopt) {
    codec::disconnect_packet p;
    p.reason = rc;
    p.props.session_expiry_interval = session_expiry;
    bytes out;
    codec::encode_disconnect(out, v, p);
    return out;
}

// ---- decoding what the broker sent --------------------------------------------
// The decoded packets point into `p.body`: keep the packet alive.

inline codec::connack_packet as_connack(const packet& p, protocol_version v) {
    REQUIRE(p.type() == packet_type::connack);
    codec::connack_packet out;
    REQUIRE(codec::decode_connack(p.body, v, out) == reason_code::success);
    return out;
}

inline codec::publish_packet as_publish(const packet& p, protocol_version v) {
    REQUIRE(p.type() == packet_type::publish);
    codec::publish_packet out;
    REQUIRE(codec::decode_publish(p.body, p.h.flags, v, out) == reason_code::success);
    return out;
}

inline codec::ack_packet as_ack(const packet& p, protocol_version v) {
    codec::ack_packet out;
    REQUIRE(codec::decode_ack(p.body, p.type(), v, out) == reason_code::success);
    return out;
}

inline codec::subscribe_ack_packet as_suback(const packet& p, protocol_version v) {
    codec::subscribe_ack_packet out;
    REQUIRE(codec::decode_subscribe_ack(p.body, p.type(), v, out) == reason_code::success);
    return out;
}

inline codec::disconnect_packet as_disconnect(const packet& p, protocol_version v) {
    REQUIRE(p.type() == packet_type::disconnect);
    codec::disconnect_packet out;
    REQUIRE(codec::decode_disconnect(p.body, v, out) == reason_code::success);
    return out;
}

inline std::string payload_of(const codec::publish_packet& p) { return std::string(codec::as_chars(p.payload)); }

// A CONNACK and the bytes its properties point into (move it, do not copy it).
struct connack_result {
    packet raw;
    codec::connack_packet ack;
};

// Connects `c`, checks that the CONNACK accepts it and that nothing else was sent.
inline connack_result connect(client& c, std::string_view id, bool clean = true,
                              const std::function<void(codec::connect_packet&)>& tweak = {}) {
    c.send(connect_bytes(c.version, id, clean, tweak));
    auto all = c.take();
    REQUIRE(all.size() == 1);
    connack_result r{std::move(all[0]), {}};
    r.ack = as_connack(r.raw, c.version);
    REQUIRE(r.ack.reason == 0);
    REQUIRE_FALSE(c.closing());
    return r;
}

// Subscribes and checks the SUBACK (one granted QoS per filter); returns what
// followed the SUBACK (retained messages).
inline std::vector<packet> subscribe(client& c, std::vector<codec::subscription_request> subs,
                                     std::uint32_t subscription_id = 0) {
    std::vector<std::uint8_t> expected;
    for (const auto& s : subs) expected.push_back(s.qos);
    c.send(subscribe_bytes(c.version, 1, std::move(subs), subscription_id));
    auto all = c.take();
    REQUIRE(!all.empty());
    REQUIRE(all[0].type() == packet_type::suback);
    CHECK(as_suback(all[0], c.version).reasons == expected);
    all.erase(all.begin());
    return all;
}

}  // namespace strata::test
