// Malformed packets and protocol errors the decoders detect, with the exact
// reason code each one returns.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "codec/packets.hpp"
#include "codec_test_util.hpp"

using namespace strata::codec;
using namespace strata::codec::test;

namespace {

constexpr protocol_version both_versions[] = {protocol_version::v311, protocol_version::v5};

// CONNECT body: protocol name, level, flags, keep alive, then `rest`.
bytes connect_body(std::string_view name, int level, int flags, const bytes& rest) {
    bytes b;
    append_string(b, name);
    append(b, {level, flags, 0x00, 0x3C});
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
}

reason_code connect_rc(const bytes& body) {
    connect_packet p;
    return decode_connect(body, p);
}

reason_code publish_rc(const bytes& body, int flags, protocol_version v) {
    publish_packet p;
    return decode_publish(body, static_cast<std::uint8_t>(flags), v, p);
}

bytes encoded_body(const bytes& wire) {
    const auto f = parse_frame(wire);
    return bytes(f.body.begin(), f.body.end());
}

}  // namespace

TEST_SUITE("codec") {

TEST_CASE("CONNECT: protocol name and level") {
    bytes id;
    append_string(id, "c");
    bytes v5_id = make_bytes({0x00});  // empty property block
    append_string(v5_id, "c");
    CHECK(connect_rc(connect_body("MQTT", 4, 0x02, id)) == reason_code::success);
    CHECK(connect_rc(connect_body("MQTT", 5, 0x02, v5_id)) == reason_code::success);
    CHECK(connect_rc(connect_body("MQIsdp", 3, 0x02, id)) == reason_code::success);
    // Unknown protocol level: answered with CONNACK 0x84 / return code 1 [MQTT-3.1.2-2].
    for (int level : {0, 1, 2, 6, 7, 0x7F}) {
        CAPTURE(level);
        CHECK(connect_rc(connect_body("MQTT", level, 0x02, id)) == reason_code::unsupported_protocol_version);
    }
    CHECK(connect_rc(connect_body("MQTT", 3, 0x02, id)) == reason_code::unsupported_protocol_version);
    CHECK(connect_rc(connect_body("MQIsdp", 4, 0x02, id)) == reason_code::unsupported_protocol_version);
    // Not MQTT at all [MQTT-3.1.2-1].
    CHECK(connect_rc(connect_body("MQTX", 4, 0x02, id)) == reason_code::protocol_error);
    CHECK(connect_rc(connect_body("mqtt", 4, 0x02, id)) == reason_code::protocol_error);
    CHECK(connect_rc(connect_body("", 4, 0x02, id)) == reason_code::protocol_error);
    // The protocol name must be valid UTF-8.
    bytes bad_name = make_bytes({0x00, 0x02, 0xC0, 0x80, 0x04, 0x02, 0x00, 0x00});
    CHECK(connect_rc(bad_name) == reason_code::malformed_packet);
}

TEST_CASE("CONNECT: flags") {
    bytes id;
    append_string(id, "c");
    for (auto level : {4, 5}) {
        CAPTURE(level);
        bytes rest = level == 5 ? make_bytes({0x00}) : bytes{};
        rest.insert(rest.end(), id.begin(), id.end());
        // Reserved bit 0 must be zero [MQTT-3.1.2-3].
        CHECK(connect_rc(connect_body("MQTT", level, 0x03, rest)) == reason_code::malformed_packet);
        // Will QoS or Will Retain without the Will Flag [MQTT-3.1.2-11], [MQTT-3.1.2-13].
        CHECK(connect_rc(connect_body("MQTT", level, 0x02 | 0x08, rest)) == reason_code::malformed_packet);
        CHECK(connect_rc(connect_body("MQTT", level, 0x02 | 0x10, rest)) == reason_code::malformed_packet);
        CHECK(connect_rc(connect_body("MQTT", level, 0x02 | 0x20, rest)) == reason_code::malformed_packet);
        // Will QoS 3 [MQTT-3.1.2-12].
        bytes will = rest;
        if (level == 5) will.push_back(0x00);  // will properties
        append_string(append_string(will, "w"), "p");
        CHECK(connect_rc(connect_body("MQTT", level, 0x02 | 0x04 | 0x18, will)) == reason_code::malformed_packet);
        CHECK(connect_rc(connect_body("MQTT", level, 0x02 | 0x04 | 0x10, will)) == reason_code::success);
    }
    // Password without user name: malformed in 3.1.1 [MQTT-3.1.2-22], allowed in 5.0.
    bytes pw = id;
    append_string(pw, "secret");
    CHECK(connect_rc(connect_body("MQTT", 4, 0x02 | 0x40, pw)) == reason_code::malformed_packet);
    CHECK(connect_rc(connect_body("MQIsdp", 3, 0x02 | 0x40, pw)) == reason_code::malformed_packet);
    bytes v5pw = make_bytes({0x00});
    v5pw.insert(v5pw.end(), pw.begin(), pw.end());
    CHECK(connect_rc(connect_body("MQTT", 5, 0x02 | 0x40, v5pw)) == reason_code::success);
}

TEST_CASE("CONNECT: payload errors") {
    SUBCASE("invalid UTF-8 in client id, will topic and user name") {
        for (const bytes& bad : {make_bytes({0xC0, 0xAF}), make_bytes({0xED, 0xA0, 0x80}), make_bytes({0x00}),
                                 make_bytes({0xE2, 0x82})}) {
            bytes id = make_bytes({0x00, static_cast<int>(bad.size())});
            id.insert(id.end(), bad.begin(), bad.end());
            CHECK(connect_rc(connect_body("MQTT", 4, 0x02, id)) == reason_code::malformed_packet);
            bytes will;
            append_string(will, "c");
            will.insert(will.end(), id.begin(), id.end());  // as the will topic
            append_string(will, "p");
            CHECK(connect_rc(connect_body("MQTT", 4, 0x06, will)) == reason_code::malformed_packet);
            bytes user;
            append_string(user, "c");
            user.insert(user.end(), id.begin(), id.end());  // as the user name
            CHECK(connect_rc(connect_body("MQTT", 4, 0x82, user)) == reason_code::malformed_packet);
        }
    }
    SUBCASE("every truncation of a full CONNECT is malformed") {
        for (auto v : {protocol_version::v31, protocol_version::v311, protocol_version::v5}) {
            connect_packet p;
            p.version = v;
            p.client_id = "client";
            p.has_will = true;
            p.will.topic = "will/topic";
            p.will.payload = as_bytes("payload");
            p.has_username = true;
            p.username = "user";
            p.has_password = true;
            p.password = as_bytes("pass");
            p.props.session_expiry_interval = 5;
            p.will.props.will_delay_interval = 5;
            bytes wire;
            encode_connect(wire, p);
            const bytes body = encoded_body(wire);
            for (std::size_t n = 0; n < body.size(); ++n) {
                CAPTURE(static_cast<int>(v));
                CAPTURE(n);
                CHECK(connect_rc(bytes(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n))) ==
                      reason_code::malformed_packet);
            }
            bytes longer = body;
            longer.push_back(0);
            CHECK(connect_rc(longer) == reason_code::malformed_packet);  // trailing bytes
        }
    }
    SUBCASE("authentication data without a method is a protocol error") {
        bytes rest = property_block(make_bytes({0x16, 0x00, 0x01, 0x07}));
        append_string(rest, "c");
        CHECK(connect_rc(connect_body("MQTT", 5, 0x02, rest)) == reason_code::protocol_error);
    }
    SUBCASE("property errors inside CONNECT") {
        bytes rest = property_block(make_bytes({0x21, 0x00, 0x00}));  // receive maximum 0
        append_string(rest, "c");
        CHECK(connect_rc(connect_body("MQTT", 5, 0x02, rest)) == reason_code::protocol_error);
        rest = property_block(make_bytes({0x23, 0x00, 0x01}));  // topic alias: PUBLISH only
        append_string(rest, "c");
        CHECK(connect_rc(connect_body("MQTT", 5, 0x02, rest)) == reason_code::malformed_packet);
        // Will delay interval belongs to the will properties, not CONNECT's.
        rest = property_block(make_bytes({0x18, 0x00, 0x00, 0x00, 0x01}));
        append_string(rest, "c");
        CHECK(connect_rc(connect_body("MQTT", 5, 0x02, rest)) == reason_code::malformed_packet);
        // And session expiry is not a will property.
        rest = make_bytes({0x00});
        append_string(rest, "c");
        const bytes will_props = property_block(make_bytes({0x11, 0x00, 0x00, 0x00, 0x01}));
        rest.insert(rest.end(), will_props.begin(), will_props.end());
        append_string(append_string(rest, "w"), "p");
        CHECK(connect_rc(connect_body("MQTT", 5, 0x06, rest)) == reason_code::malformed_packet);
    }
}

TEST_CASE("CONNACK decode errors") {
    connack_packet p;
    CHECK(decode_connack(make_bytes({0x02, 0x00}), protocol_version::v311, p) == reason_code::malformed_packet);
    CHECK(decode_connack(make_bytes({0x00}), protocol_version::v311, p) == reason_code::malformed_packet);
    CHECK(decode_connack(make_bytes({0x00, 0x00, 0x00}), protocol_version::v311, p) == reason_code::malformed_packet);
    CHECK(decode_connack(make_bytes({0x00, 0x00}), protocol_version::v5, p) == reason_code::malformed_packet);
    CHECK(decode_connack(make_bytes({0x00, 0x00, 0x00}), protocol_version::v5, p) == reason_code::success);
}

TEST_CASE("PUBLISH: fixed header flags") {
    bytes body;
    append_string(body, "t");
    append(body, {0x00, 0x01});  // packet id (QoS > 0)
    bytes body5 = body;
    body5.push_back(0x00);  // properties
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        const bytes& b = v == protocol_version::v5 ? body5 : body;
        CHECK(publish_rc(b, 0x06, v) == reason_code::malformed_packet);  // QoS 3 [MQTT-3.3.1-4]
        CHECK(publish_rc(b, 0x07, v) == reason_code::malformed_packet);
        CHECK(publish_rc(b, 0x0E, v) == reason_code::malformed_packet);
        bytes qos0;
        append_string(qos0, "t");
        if (v == protocol_version::v5) qos0.push_back(0x00);
        CHECK(publish_rc(qos0, 0x08, v) == reason_code::malformed_packet);  // DUP on QoS 0 [MQTT-3.3.1-2]
        CHECK(publish_rc(qos0, 0x09, v) == reason_code::malformed_packet);
        CHECK(publish_rc(qos0, 0x00, v) == reason_code::success);
        CHECK(publish_rc(b, 0x0A, v) == reason_code::success);  // DUP on QoS 1
    }
}

TEST_CASE("PUBLISH: packet id, topic and truncation") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        const bool v5 = v == protocol_version::v5;
        SUBCASE("packet identifier 0 [MQTT-2.2.1-3]") {
            bytes b;
            append_string(b, "t");
            append(b, {0x00, 0x00});
            if (v5) b.push_back(0x00);
            CHECK(publish_rc(b, 0x02, v) == reason_code::protocol_error);
            CHECK(publish_rc(b, 0x04, v) == reason_code::protocol_error);
        }
        SUBCASE("wildcards in the topic name [MQTT-3.3.2-2]") {
            for (std::string_view topic : {"a/+", "#", "a/#", "+", "a+b", "x#"}) {
                CAPTURE(topic);
                bytes b;
                append_string(b, topic);
                if (v5) b.push_back(0x00);
                CHECK(publish_rc(b, 0x00, v) == reason_code::topic_name_invalid);
            }
        }
        SUBCASE("invalid UTF-8 in the topic") {
            for (const bytes& bad : {make_bytes({0xC0, 0x80}), make_bytes({0xED, 0xB0, 0x80}), make_bytes({'a', 0x00}),
                                     make_bytes({0xF0, 0x9F, 0x98}), make_bytes({0xF8, 0x80, 0x80, 0x80, 0x80})}) {
                bytes b = make_bytes({0x00, static_cast<int>(bad.size())});
                b.insert(b.end(), bad.begin(), bad.end());
                if (v5) b.push_back(0x00);
                CHECK(publish_rc(b, 0x00, v) == reason_code::malformed_packet);
            }
        }
        SUBCASE("truncated") {
            CHECK(publish_rc(bytes{}, 0x00, v) == reason_code::malformed_packet);
            CHECK(publish_rc(make_bytes({0x00}), 0x00, v) == reason_code::malformed_packet);
            CHECK(publish_rc(make_bytes({0x00, 0x03, 'a'}), 0x00, v) == reason_code::malformed_packet);
            CHECK(publish_rc(make_bytes({0x00, 0x01, 'a', 0x00}), 0x02, v) == reason_code::malformed_packet);
            if (v5) {
                CHECK(publish_rc(make_bytes({0x00, 0x01, 'a'}), 0x00, v) == reason_code::malformed_packet);
                CHECK(publish_rc(make_bytes({0x00, 0x01, 'a', 0x00, 0x01}), 0x02, v) == reason_code::malformed_packet);
                CHECK(publish_rc(make_bytes({0x00, 0x01, 'a', 0x03, 0x23, 0x00}), 0x00, v) ==
                      reason_code::malformed_packet);
            }
        }
    }
    // An empty topic is not a topic name in 3.1.1 [MQTT-4.7.3-1]; in 5.0 it
    // needs a topic alias, which the connection checks [MQTT-3.3.2-8].
    CHECK(publish_rc(make_bytes({0x00, 0x00}), 0x00, protocol_version::v311) == reason_code::protocol_error);
    CHECK(publish_rc(make_bytes({0x00, 0x00, 0x00}), 0x00, protocol_version::v5) == reason_code::success);
}

TEST_CASE("PUBLISH: property errors") {
    auto body = [](const bytes& props) {
        bytes b;
        append_string(b, "t");
        const bytes block = property_block(props);
        b.insert(b.end(), block.begin(), block.end());
        return b;
    };
    const auto v5 = protocol_version::v5;
    CHECK(publish_rc(body(make_bytes({0x01, 0x02})), 0, v5) == reason_code::protocol_error);  // payload format 2
    CHECK(publish_rc(body(make_bytes({0x01, 0x01, 0x01, 0x01})), 0, v5) == reason_code::protocol_error);  // duplicate
    CHECK(publish_rc(body(make_bytes({0x11, 0, 0, 0, 1})), 0, v5) == reason_code::malformed_packet);  // not allowed
    CHECK(publish_rc(body(make_bytes({0x7F, 0x00})), 0, v5) == reason_code::malformed_packet);         // unknown
    // Response topic: a topic name, no wildcards [MQTT-3.3.2-14].
    bytes rt = make_bytes({0x08});
    append_string(rt, "reply/+");
    CHECK(publish_rc(body(rt), 0, v5) == reason_code::protocol_error);
    rt = make_bytes({0x08});
    append_string(rt, "reply/#");
    CHECK(publish_rc(body(rt), 0, v5) == reason_code::protocol_error);
    rt = make_bytes({0x08});
    append_string(rt, "reply/ok");
    CHECK(publish_rc(body(rt), 0, v5) == reason_code::success);
}

TEST_CASE("acknowledgements: errors") {
    const packet_type types[] = {packet_type::puback, packet_type::pubrec, packet_type::pubrel, packet_type::pubcomp};
    for (auto v : both_versions) {
        for (auto type : types) {
            CAPTURE(static_cast<int>(v));
            CAPTURE(to_string(type));
            ack_packet p;
            CHECK(decode_ack(bytes{}, type, v, p) == reason_code::malformed_packet);
            CHECK(decode_ack(make_bytes({0x01}), type, v, p) == reason_code::malformed_packet);
            CHECK(decode_ack(make_bytes({0x00, 0x00}), type, v, p) == reason_code::protocol_error);  // packet id 0
        }
    }
    SUBCASE("3.1.1 acknowledgements have exactly two bytes") {
        for (auto type : types) {
            ack_packet p;
            CHECK(decode_ack(make_bytes({0x00, 0x01, 0x00}), type, protocol_version::v311, p) ==
                  reason_code::malformed_packet);
            CHECK(decode_ack(make_bytes({0x00, 0x01, 0x00, 0x00}), type, protocol_version::v311, p) ==
                  reason_code::malformed_packet);
        }
    }
    SUBCASE("5.0 reason codes allowed per acknowledgement (sections 3.4.2.1 to 3.7.2.1)") {
        const std::vector<int> pub_codes = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
        const std::vector<int> rel_codes = {0x00, 0x92};
        for (auto type : types) {
            const auto& allowed =
                type == packet_type::puback || type == packet_type::pubrec ? pub_codes : rel_codes;
            for (int rc = 0; rc < 256; ++rc) {
                CAPTURE(to_string(type));
                CAPTURE(rc);
                ack_packet p;
                const bool ok = std::find(allowed.begin(), allowed.end(), rc) != allowed.end();
                const auto got = decode_ack(make_bytes({0x00, 0x01, rc}), type, protocol_version::v5, p);
                CHECK(got == (ok ? reason_code::success : reason_code::protocol_error));
                if (ok) CHECK(static_cast<int>(p.reason) == rc);
            }
        }
    }
    SUBCASE("5.0 property errors") {
        ack_packet p;
        const auto v5 = protocol_version::v5;
        CHECK(decode_ack(make_bytes({0x00, 0x01, 0x00, 0x02, 0x23, 0x00}), packet_type::puback, v5, p) ==
              reason_code::malformed_packet);  // topic alias not allowed in PUBACK
        CHECK(decode_ack(make_bytes({0x00, 0x01, 0x00, 0x03, 0x0B, 0x01, 0x00}), packet_type::puback, v5, p) ==
              reason_code::malformed_packet);  // subscription identifier not allowed
        CHECK(decode_ack(make_bytes({0x00, 0x01, 0x00, 0x05}), packet_type::pubrec, v5, p) ==
              reason_code::malformed_packet);  // property length overrun
        CHECK(decode_ack(make_bytes({0x00, 0x01, 0x00, 0x00, 0x00}), packet_type::pubcomp, v5, p) ==
              reason_code::malformed_packet);  // trailing byte
        bytes twice = make_bytes({0x00, 0x01, 0x00});
        bytes props;
        append_string(append(props, {0x1F}), "a");
        append_string(append(props, {0x1F}), "b");
        const bytes block = property_block(props);
        twice.insert(twice.end(), block.begin(), block.end());
        CHECK(decode_ack(twice, packet_type::pubrel, v5, p) == reason_code::protocol_error);  // duplicate reason string
    }
}

TEST_CASE("SUBSCRIBE: errors") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        const bool v5 = v == protocol_version::v5;
        auto body = [&](std::initializer_list<std::pair<std::string_view, int>> subs, int packet_id = 1) {
            bytes b = make_bytes({packet_id >> 8, packet_id & 0xFF});
            if (v5) b.push_back(0x00);
            for (auto [filter, options] : subs) {
                append_string(b, filter);
                b.push_back(static_cast<std::uint8_t>(options));
            }
            return b;
        };
        subscribe_packet p;
        CHECK(decode_subscribe(body({{"a", 1}}), v, p) == reason_code::success);
        CHECK(decode_subscribe(body({}), v, p) == reason_code::protocol_error);                // [MQTT-3.8.3-2]
        CHECK(decode_subscribe(body({{"a", 1}}, 0), v, p) == reason_code::protocol_error);     // packet id 0
        CHECK(decode_subscribe(body({{"a", 0}, {"b", 3}}), v, p) == reason_code::malformed_packet);  // QoS 3
        // Reserved option bits: 2..7 in 3.1.1, 6..7 in 5.0 [MQTT-3.8.3-5].
        for (int bit = 2; bit < 8; ++bit) {
            CAPTURE(bit);
            const auto rc = decode_subscribe(body({{"a", 1 | (1 << bit)}}), v, p);
            // In 5.0 bits 2..5 are No Local, Retain As Published and Retain Handling 1 or 2.
            CHECK(rc == (!v5 || bit >= 6 ? reason_code::malformed_packet : reason_code::success));
        }
        if (v5) CHECK(decode_subscribe(body({{"a", 0x30}}), v, p) == reason_code::protocol_error);  // retain handling 3
        // Truncations: filter without options, short filter, short packet id.
        bytes cut = body({{"abc", 1}});
        cut.pop_back();
        CHECK(decode_subscribe(cut, v, p) == reason_code::malformed_packet);
        cut.pop_back();
        CHECK(decode_subscribe(cut, v, p) == reason_code::malformed_packet);
        CHECK(decode_subscribe(make_bytes({0x00}), v, p) == reason_code::malformed_packet);
        // Invalid UTF-8 in a filter.
        bytes bad = make_bytes({0x00, 0x01});
        if (v5) bad.push_back(0x00);
        append(bad, {0x00, 0x02, 0xC0, 0x80, 0x00});
        CHECK(decode_subscribe(bad, v, p) == reason_code::malformed_packet);
    }
    SUBCASE("5.0 properties") {
        subscribe_packet p;
        auto with_props = [](const bytes& props) {
            bytes b = make_bytes({0x00, 0x01});
            const bytes block = property_block(props);
            b.insert(b.end(), block.begin(), block.end());
            append_string(b, "f");
            b.push_back(0x01);
            return b;
        };
        CHECK(decode_subscribe(with_props(make_bytes({0x0B, 0x00})), protocol_version::v5, p) ==
              reason_code::protocol_error);  // subscription identifier 0
        CHECK(decode_subscribe(with_props(make_bytes({0x0B, 0x01, 0x0B, 0x02})), protocol_version::v5, p) ==
              reason_code::protocol_error);  // two subscription identifiers
        CHECK(decode_subscribe(with_props(make_bytes({0x01, 0x01})), protocol_version::v5, p) ==
              reason_code::malformed_packet);  // payload format indicator not allowed
        REQUIRE(decode_subscribe(with_props(make_bytes({0x0B, 0x80, 0x01})), protocol_version::v5, p) ==
                reason_code::success);
        CHECK(p.props.subscription_identifiers == std::vector<std::uint32_t>{128});
    }
}

TEST_CASE("UNSUBSCRIBE: errors") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        const bool v5 = v == protocol_version::v5;
        unsubscribe_packet p;
        bytes none = make_bytes({0x00, 0x01});
        if (v5) none.push_back(0x00);
        CHECK(decode_unsubscribe(none, v, p) == reason_code::protocol_error);  // [MQTT-3.10.3-2]
        bytes zero = make_bytes({0x00, 0x00});
        if (v5) zero.push_back(0x00);
        append_string(zero, "a");
        CHECK(decode_unsubscribe(zero, v, p) == reason_code::protocol_error);  // packet id 0
        bytes cut = none;
        append(cut, {0x00, 0x05, 'a'});
        CHECK(decode_unsubscribe(cut, v, p) == reason_code::malformed_packet);
        bytes bad = none;
        append(bad, {0x00, 0x01, 0x00});
        CHECK(decode_unsubscribe(bad, v, p) == reason_code::malformed_packet);  // U+0000
        CHECK(decode_unsubscribe(make_bytes({0x00}), v, p) == reason_code::malformed_packet);
    }
    unsubscribe_packet p;
    bytes sid = make_bytes({0x00, 0x01, 0x02, 0x0B, 0x01});  // subscription identifier: not allowed
    append_string(sid, "a");
    CHECK(decode_unsubscribe(sid, protocol_version::v5, p) == reason_code::malformed_packet);
}

TEST_CASE("SUBACK and UNSUBACK decode errors") {
    subscribe_ack_packet p;
    CHECK(decode_subscribe_ack(make_bytes({0x00, 0x01}), packet_type::suback, protocol_version::v311, p) ==
          reason_code::protocol_error);  // no reason codes
    CHECK(decode_subscribe_ack(make_bytes({0x00, 0x01, 0x00}), packet_type::unsuback, protocol_version::v311, p) ==
          reason_code::malformed_packet);  // 3.1.1 UNSUBACK has no payload
    CHECK(decode_subscribe_ack(make_bytes({0x00}), packet_type::suback, protocol_version::v5, p) ==
          reason_code::malformed_packet);
    CHECK(decode_subscribe_ack(make_bytes({0x00, 0x01, 0x09}), packet_type::suback, protocol_version::v5, p) ==
          reason_code::malformed_packet);  // property length overrun
}

TEST_CASE("DISCONNECT: errors") {
    disconnect_packet p;
    // 3.1.1 DISCONNECT has no variable header or payload [MQTT-3.14.1-1].
    CHECK(decode_disconnect(make_bytes({0x00}), protocol_version::v311, p) == reason_code::malformed_packet);
    CHECK(decode_disconnect(make_bytes({0x04}), protocol_version::v311, p) == reason_code::malformed_packet);
    const auto v5 = protocol_version::v5;
    CHECK(decode_disconnect(make_bytes({0x00, 0x05}), v5, p) == reason_code::malformed_packet);  // overrun
    CHECK(decode_disconnect(make_bytes({0x00, 0x00, 0x00}), v5, p) == reason_code::malformed_packet);  // trailing
    CHECK(decode_disconnect(make_bytes({0x00, 0x02, 0x23, 0x00}), v5, p) == reason_code::malformed_packet);
    CHECK(decode_disconnect(make_bytes({0x00, 0x03, 0x17, 0x01, 0x00}), v5, p) == reason_code::malformed_packet);
    CHECK(decode_disconnect(make_bytes({0x00, 0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}), v5, p) ==
          reason_code::protocol_error);  // session expiry twice
    CHECK(decode_disconnect(make_bytes({0x00, 0x00}), v5, p) == reason_code::success);
}

TEST_CASE("AUTH: reason codes and errors (section 3.15.2.1)") {
    for (int rc = 0; rc < 256; ++rc) {
        CAPTURE(rc);
        auth_packet p;
        const bool ok = rc == 0x00 || rc == 0x18 || rc == 0x19;
        CHECK(decode_auth(make_bytes({rc}), p) == (ok ? reason_code::success : reason_code::protocol_error));
        CHECK(decode_auth(make_bytes({rc, 0x00}), p) == (ok ? reason_code::success : reason_code::protocol_error));
    }
    auth_packet p;
    CHECK(decode_auth(make_bytes({0x18, 0x04}), p) == reason_code::malformed_packet);
    CHECK(decode_auth(make_bytes({0x18, 0x02, 0x11, 0x00}), p) == reason_code::malformed_packet);
    CHECK(decode_auth(make_bytes({0x18, 0x00, 0x00}), p) == reason_code::malformed_packet);
}

}  // TEST_SUITE
