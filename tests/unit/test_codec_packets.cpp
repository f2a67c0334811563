// Round trips for every packet type in MQTT 3.1.1 and 5.0 (CONNECT also in
// 3.1): encode -> parse_fixed_header -> decode -> compare.
#include <doctest/doctest.h>

#include "test_printers.hpp"

#include <string>
#include <vector>

#include "codec/packets.hpp"
#include "codec_test_util.hpp"

using namespace strata::codec;
using namespace strata::codec::test;

namespace {

constexpr protocol_version both_versions[] = {protocol_version::v311, protocol_version::v5};

bool is_v5(protocol_version v) { return v == protocol_version::v5; }

bytes_view view(std::string_view s) { return as_bytes(s); }

bool same_bytes(bytes_view a, bytes_view b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

void check_connect_equal(const connect_packet& a, const connect_packet& b) {
    CHECK(a.version == b.version);
    CHECK(a.clean_start == b.clean_start);
    CHECK(a.keep_alive == b.keep_alive);
    CHECK(a.client_id == b.client_id);
    CHECK(a.has_will == b.has_will);
    if (a.has_will) {
        CHECK(a.will.qos == b.will.qos);
        CHECK(a.will.retain == b.will.retain);
        CHECK(a.will.topic == b.will.topic);
        CHECK(same_bytes(a.will.payload, b.will.payload));
        CHECK(a.will.props == b.will.props);
    }
    CHECK(a.has_username == b.has_username);
    CHECK(a.username == b.username);
    CHECK(a.has_password == b.has_password);
    CHECK(same_bytes(a.password, b.password));
    CHECK(a.props == b.props);
}

connect_packet roundtrip_connect(const connect_packet& in) {
    bytes wire;
    encode_connect(wire, in);
    const auto f = parse_frame(wire);
    CHECK(f.h.type == packet_type::connect);
    CHECK(f.h.flags == 0);
    connect_packet out;
    // Decoded views point into `wire`: compare before it goes away.
    REQUIRE(decode_connect(f.body, out) == reason_code::success);
    CHECK(out.protocol_name == (in.version == protocol_version::v31 ? "MQIsdp" : "MQTT"));
    check_connect_equal(in, out);
    return out;
}

void check_publish_equal(const publish_packet& a, const publish_packet& b) {
    CHECK(a.qos == b.qos);
    CHECK(a.dup == b.dup);
    CHECK(a.retain == b.retain);
    CHECK(a.topic == b.topic);
    CHECK(a.packet_id == b.packet_id);
    CHECK(a.props == b.props);
    CHECK(same_bytes(a.payload, b.payload));
}

}  // namespace

TEST_SUITE("codec") {

TEST_CASE("CONNECT round trip in 3.1, 3.1.1 and 5.0") {
    const bytes password = make_bytes({0x00, 0xFF, 0x10});
    for (auto v : {protocol_version::v31, protocol_version::v311, protocol_version::v5}) {
        CAPTURE(static_cast<int>(v));
        SUBCASE("minimal") {
            connect_packet p;
            p.version = v;
            p.clean_start = true;
            p.keep_alive = 60;
            p.client_id = "client-1";
            roundtrip_connect(p);
        }
        SUBCASE("empty client id, no clean start, keep alive 0 and 65535") {
            connect_packet p;
            p.version = v;
            p.keep_alive = 0;
            roundtrip_connect(p);
            p.keep_alive = 65535;
            roundtrip_connect(p);
        }
        SUBCASE("will, user name and password") {
            for (std::uint8_t qos = 0; qos <= 2; ++qos) {
                for (bool retain : {false, true}) {
                    connect_packet p;
                    p.version = v;
                    p.client_id = "c";
                    p.has_will = true;
                    p.will.qos = qos;
                    p.will.retain = retain;
                    p.will.topic = "last/will";
                    p.will.payload = view("gone");
                    p.has_username = true;
                    p.username = "user";
                    p.has_password = true;
                    p.password = password;
                    roundtrip_connect(p);
                }
            }
        }
        SUBCASE("user name without password, empty will payload") {
            connect_packet p;
            p.version = v;
            p.client_id = "c";
            p.has_will = true;
            p.will.topic = "w";
            p.has_username = true;
            p.username = "";
            roundtrip_connect(p);
        }
    }
    SUBCASE("5.0 properties and will properties") {
        const bytes auth_data = make_bytes({1, 2, 3});
        const bytes corr = make_bytes({0, 9});
        connect_packet p;
        p.version = protocol_version::v5;
        p.client_id = "v5";
        p.props.session_expiry_interval = 3600;
        p.props.receive_maximum = 10;
        p.props.maximum_packet_size = 4096;
        p.props.topic_alias_maximum = 5;
        p.props.request_response_information = 1;
        p.props.request_problem_information = 0;
        p.props.user_properties = {{"k", "v"}, {"k", "v2"}};
        p.props.authentication_method = "SCRAM";
        p.props.authentication_data = std::string_view(reinterpret_cast<const char*>(auth_data.data()), 3);
        p.has_will = true;
        p.will.topic = "w/t";
        p.will.payload = view("bye");
        p.will.props.will_delay_interval = 30;
        p.will.props.payload_format_indicator = 1;
        p.will.props.message_expiry_interval = 120;
        p.will.props.content_type = "text/plain";
        p.will.props.response_topic = "reply/here";
        p.will.props.correlation_data = std::string_view(reinterpret_cast<const char*>(corr.data()), 2);
        p.will.props.user_properties = {{"a", "b"}};
        p.has_password = true;  // a password without a user name is allowed in 5.0 [MQTT-3.1.2-18]
        p.password = password;
        roundtrip_connect(p);
    }
}

TEST_CASE("CONNECT with the bridge bit in the protocol level") {
    connect_packet p;
    p.version = protocol_version::v311;
    p.client_id = "bridge";
    bytes wire;
    encode_connect(wire, p);
    wire[2 + 2 + 4] |= 0x80;  // fixed header (2), name length (2), "MQTT" (4): the level byte
    const auto f = parse_frame(wire);
    connect_packet out;
    CHECK(decode_connect(f.body, out) == reason_code::success);
    CHECK(out.version == protocol_version::v311);
    CHECK(out.client_id == "bridge");
    CHECK(out.bridge);
    // And the encoder sets it when asked.
    bytes again;
    encode_connect(again, out);
    CHECK(again == wire);
    p.bridge = false;
    bytes plain;
    encode_connect(plain, p);
    const auto g = parse_frame(plain);
    CHECK(decode_connect(g.body, out) == reason_code::success);
    CHECK_FALSE(out.bridge);
}

TEST_CASE("CONNACK round trip") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        for (bool present : {false, true}) {
            for (std::uint8_t rc : {0, 1, 5}) {
                connack_packet p;
                p.session_present = present;
                p.reason = is_v5(v) ? (rc == 0 ? 0 : 0x87) : rc;
                bytes wire;
                encode_connack(wire, v, p);
                const auto f = parse_frame(wire);
                CHECK(f.h.type == packet_type::connack);
                CHECK(f.h.remaining_length == (is_v5(v) ? 3u : 2u));
                connack_packet out;
                REQUIRE(decode_connack(f.body, v, out) == reason_code::success);
                CHECK(out.session_present == present);
                CHECK(out.reason == p.reason);
            }
        }
    }
    SUBCASE("MQTT 3.1 has no session present flag: the byte is 0") {
        connack_packet p;
        p.session_present = true;
        bytes wire;
        encode_connack(wire, protocol_version::v31, p);
        CHECK(wire == bytes{0x20, 0x02, 0x00, 0x00});
    }
    SUBCASE("5.0 properties") {
        connack_packet p;
        p.props.session_expiry_interval = 10;
        p.props.assigned_client_identifier = "auto-1";
        p.props.server_keep_alive = 30;
        p.props.receive_maximum = 20;
        p.props.topic_alias_maximum = 10;
        p.props.maximum_qos = 1;
        p.props.retain_available = 0;
        p.props.maximum_packet_size = 1000;
        p.props.wildcard_subscription_available = 1;
        p.props.subscription_identifier_available = 0;
        p.props.shared_subscription_available = 1;
        p.props.response_information = "resp";
        p.props.server_reference = "other:1883";
        p.props.reason_string = "fine";
        p.props.authentication_method = "m";
        p.props.authentication_data = "d";
        p.props.user_properties = {{"x", "y"}};
        bytes wire;
        encode_connack(wire, protocol_version::v5, p);
        const auto f = parse_frame(wire);
        connack_packet out;
        REQUIRE(decode_connack(f.body, protocol_version::v5, out) == reason_code::success);
        CHECK(out.props == p.props);
    }
}

TEST_CASE("PUBLISH round trip, every QoS and flag") {
    const std::string big(70'000, 'x');  // remaining length needs three bytes
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        for (std::uint8_t qos = 0; qos <= 2; ++qos) {
            for (bool dup : {false, true}) {
                if (qos == 0 && dup) continue;
                for (bool retain : {false, true}) {
                    for (std::string_view payload : {std::string_view(""), std::string_view("hello"),
                                                     std::string_view(big)}) {
                        publish_packet p;
                        p.qos = qos;
                        p.dup = dup;
                        p.retain = retain;
                        p.topic = "a/b/c";
                        p.packet_id = qos ? 0xBEEF : 0;
                        p.payload = view(payload);
                        bytes wire;
                        encode_publish(wire, v, p);
                        CHECK(wire.size() == publish_packet_size(v, p));
                        const auto f = parse_frame(wire);
                        CHECK(f.h.type == packet_type::publish);
                        CHECK(f.h.flags == ((dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0)));
                        publish_packet out;
                        REQUIRE(decode_publish(f.body, f.h.flags, v, out) == reason_code::success);
                        check_publish_equal(p, out);
                    }
                }
            }
        }
    }
    SUBCASE("5.0 properties, empty topic with a topic alias") {
        const bytes corr = make_bytes({0xCA, 0xFE});
        publish_packet p;
        p.qos = 1;
        p.packet_id = 7;
        p.topic = "";
        p.payload = view("{}");
        p.props.payload_format_indicator = 1;
        p.props.message_expiry_interval = 0xFFFFFFFF;
        p.props.content_type = "application/json";
        p.props.response_topic = "r/t";
        p.props.correlation_data = std::string_view(reinterpret_cast<const char*>(corr.data()), corr.size());
        p.props.subscription_identifiers = {1, 300, 268'435'455};  // several, server to client
        p.props.topic_alias = 3;
        p.props.user_properties = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
        bytes wire;
        encode_publish(wire, protocol_version::v5, p);
        CHECK(wire.size() == publish_packet_size(protocol_version::v5, p));
        const auto f = parse_frame(wire);
        publish_packet out;
        REQUIRE(decode_publish(f.body, f.h.flags, protocol_version::v5, out) == reason_code::success);
        check_publish_equal(p, out);
    }
}

TEST_CASE("PUBACK, PUBREC, PUBREL, PUBCOMP round trip") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        for (auto type : {packet_type::puback, packet_type::pubrec, packet_type::pubrel, packet_type::pubcomp}) {
            CAPTURE(to_string(type));
            ack_packet p;
            p.type = type;
            p.packet_id = 0x1234;
            bytes wire;
            encode_ack(wire, v, p);
            // Success without properties is the short form in both versions [MQTT-3.4.2.1].
            CHECK(wire == make_bytes({static_cast<int>(type) << 4 | (type == packet_type::pubrel ? 2 : 0), 2, 0x12,
                                      0x34}));
            const auto f = parse_frame(wire);
            CHECK(f.h.type == type);
            ack_packet out;
            REQUIRE(decode_ack(f.body, type, v, out) == reason_code::success);
            CHECK(out.type == type);
            CHECK(out.packet_id == 0x1234);
            CHECK(out.reason == reason_code::success);
        }
    }
    SUBCASE("5.0 reason codes and properties") {
        struct row {
            packet_type type;
            reason_code rc;
        };
        const row rows[] = {
            {packet_type::puback, reason_code::no_matching_subscribers},
            {packet_type::puback, reason_code::quota_exceeded},
            {packet_type::pubrec, reason_code::payload_format_invalid},
            {packet_type::pubrec, reason_code::packet_identifier_in_use},
            {packet_type::pubrel, reason_code::packet_identifier_not_found},
            {packet_type::pubcomp, reason_code::packet_identifier_not_found},
        };
        for (const auto& r : rows) {
            CAPTURE(to_string(r.type));
            for (bool with_props : {false, true}) {
                ack_packet p;
                p.type = r.type;
                p.packet_id = 9;
                p.reason = r.rc;
                if (with_props) {
                    p.props.reason_string = "why";
                    p.props.user_properties = {{"k", "v"}};
                }
                bytes wire;
                encode_ack(wire, protocol_version::v5, p);
                const auto f = parse_frame(wire);
                CHECK(f.h.remaining_length == (with_props ? 3u + 1u + properties_size(p.props) : 3u));
                ack_packet out;
                REQUIRE(decode_ack(f.body, r.type, protocol_version::v5, out) == reason_code::success);
                CHECK(out.reason == r.rc);
                CHECK(out.props == p.props);
            }
        }
        // Reason code 0x00 with properties keeps the reason byte.
        ack_packet p;
        p.type = packet_type::puback;
        p.packet_id = 1;
        p.props.reason_string = "ok";
        bytes wire;
        encode_ack(wire, protocol_version::v5, p);
        const auto f = parse_frame(wire);
        ack_packet out;
        REQUIRE(decode_ack(f.body, packet_type::puback, protocol_version::v5, out) == reason_code::success);
        CHECK(out.props.reason_string == "ok");
        // Reason code and property length 0: the long form is accepted too.
        const bytes long_form = make_bytes({0x00, 0x01, 0x10, 0x00});
        REQUIRE(decode_ack(long_form, packet_type::puback, protocol_version::v5, out) == reason_code::success);
        CHECK(out.reason == reason_code::no_matching_subscribers);
        CHECK(out.props == properties{});
    }
}

TEST_CASE("SUBSCRIBE round trip") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        subscribe_packet p;
        p.packet_id = 42;
        p.subscriptions.push_back({"a/+/c", 0, false, false, 0});
        p.subscriptions.push_back({"#", 1, false, false, 0});
        p.subscriptions.push_back({"$share/g/x/y", 2, false, false, 0});
        if (is_v5(v)) {
            p.subscriptions.push_back({"n/l", 1, true, false, 0});
            p.subscriptions.push_back({"rap", 2, false, true, 1});
            p.subscriptions.push_back({"rh2", 0, true, true, 2});
            p.props.subscription_identifiers = {268'435'455};
            p.props.user_properties = {{"u", "p"}};
        }
        bytes wire;
        encode_subscribe(wire, v, p);
        const auto f = parse_frame(wire);
        CHECK(f.h.type == packet_type::subscribe);
        CHECK(f.h.flags == 0x02);
        subscribe_packet out;
        REQUIRE(decode_subscribe(f.body, v, out) == reason_code::success);
        CHECK(out.packet_id == 42);
        CHECK(out.props == p.props);
        REQUIRE(out.subscriptions.size() == p.subscriptions.size());
        for (std::size_t i = 0; i < p.subscriptions.size(); ++i) {
            CAPTURE(i);
            CHECK(out.subscriptions[i].filter == p.subscriptions[i].filter);
            CHECK(out.subscriptions[i].qos == p.subscriptions[i].qos);
            CHECK(out.subscriptions[i].no_local == p.subscriptions[i].no_local);
            CHECK(out.subscriptions[i].retain_as_published == p.subscriptions[i].retain_as_published);
            CHECK(out.subscriptions[i].retain_handling == p.subscriptions[i].retain_handling);
        }
    }
    SUBCASE("options byte layout (section 3.8.3.1)") {
        subscribe_packet p;
        p.packet_id = 1;
        p.subscriptions.push_back({"t", 2, true, true, 2});
        bytes wire;
        encode_subscribe(wire, protocol_version::v5, p);
        CHECK(wire.back() == 0x2E);  // QoS 2 | No Local 0x04 | RAP 0x08 | retain handling 2 << 4
    }
}

TEST_CASE("SUBACK and UNSUBACK round trip") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        subscribe_ack_packet p;
        p.type = packet_type::suback;
        p.packet_id = 77;
        p.reasons = is_v5(v) ? std::vector<std::uint8_t>{0x00, 0x01, 0x02, 0x8F, 0xA2}
                             : std::vector<std::uint8_t>{0x00, 0x01, 0x02, 0x80};
        if (is_v5(v)) p.props.reason_string = "partly";
        bytes wire;
        encode_subscribe_ack(wire, v, p);
        auto f = parse_frame(wire);
        CHECK(f.h.type == packet_type::suback);
        CHECK(f.h.flags == 0);
        subscribe_ack_packet out;
        REQUIRE(decode_subscribe_ack(f.body, packet_type::suback, v, out) == reason_code::success);
        CHECK(out.packet_id == 77);
        CHECK(out.reasons == p.reasons);
        CHECK(out.props == p.props);

        subscribe_ack_packet u;
        u.type = packet_type::unsuback;
        u.packet_id = 78;
        u.reasons = {0x00, 0x11};
        bytes uwire;
        encode_subscribe_ack(uwire, v, u);
        f = parse_frame(uwire);
        CHECK(f.h.type == packet_type::unsuback);
        // 3.1.1 UNSUBACK has no payload [MQTT-3.11.3]; 5.0 has one reason per filter.
        CHECK(f.h.remaining_length == (is_v5(v) ? 2u + 1u + 2u : 2u));
        REQUIRE(decode_subscribe_ack(f.body, packet_type::unsuback, v, out) == reason_code::success);
        CHECK(out.packet_id == 78);
        CHECK(out.reasons == (is_v5(v) ? u.reasons : std::vector<std::uint8_t>{}));
    }
}

TEST_CASE("UNSUBSCRIBE round trip") {
    for (auto v : both_versions) {
        CAPTURE(static_cast<int>(v));
        unsubscribe_packet p;
        p.packet_id = 5;
        p.filters = {"a/b", "+/#", "$share/g/t"};
        if (is_v5(v)) p.props.user_properties = {{"x", ""}};
        bytes wire;
        encode_unsubscribe(wire, v, p);
        const auto f = parse_frame(wire);
        CHECK(f.h.type == packet_type::unsubscribe);
        CHECK(f.h.flags == 0x02);
        unsubscribe_packet out;
        REQUIRE(decode_unsubscribe(f.body, v, out) == reason_code::success);
        CHECK(out.packet_id == 5);
        CHECK(out.filters == p.filters);
        CHECK(out.props == p.props);
    }
}

TEST_CASE("PINGREQ and PINGRESP round trip") {
    bytes wire;
    encode_pingreq(wire);
    auto f = parse_frame(wire);
    CHECK(f.h.type == packet_type::pingreq);
    CHECK(f.h.remaining_length == 0);
    wire.clear();
    encode_pingresp(wire);
    f = parse_frame(wire);
    CHECK(f.h.type == packet_type::pingresp);
    CHECK(f.h.remaining_length == 0);
}

TEST_CASE("DISCONNECT round trip") {
    SUBCASE("3.1.1 has no body") {
        disconnect_packet p;
        bytes wire;
        encode_disconnect(wire, protocol_version::v311, p);
        CHECK(wire == make_bytes({0xE0, 0x00}));
        const auto f = parse_frame(wire);
        disconnect_packet out;
        CHECK(decode_disconnect(f.body, protocol_version::v311, out) == reason_code::success);
        CHECK(out.reason == reason_code::success);
    }
    SUBCASE("5.0 forms") {
        disconnect_packet p;
        bytes wire;
        encode_disconnect(wire, protocol_version::v5, p);
        CHECK(wire == make_bytes({0xE0, 0x00}));  // normal disconnection, no properties [MQTT-3.14.2.1]
        p.reason = reason_code::disconnect_with_will;
        wire.clear();
        encode_disconnect(wire, protocol_version::v5, p);
        CHECK(wire == make_bytes({0xE0, 0x01, 0x04}));
        disconnect_packet out;
        auto f = parse_frame(wire);
        REQUIRE(decode_disconnect(f.body, protocol_version::v5, out) == reason_code::success);
        CHECK(out.reason == reason_code::disconnect_with_will);

        p.reason = reason_code::success;
        p.props.session_expiry_interval = 0;
        p.props.reason_string = "bye";
        p.props.server_reference = "elsewhere";
        p.props.user_properties = {{"k", "v"}};
        wire.clear();
        encode_disconnect(wire, protocol_version::v5, p);
        f = parse_frame(wire);
        REQUIRE(decode_disconnect(f.body, protocol_version::v5, out) == reason_code::success);
        CHECK(out.reason == reason_code::success);
        CHECK(out.props == p.props);
    }
}

TEST_CASE("AUTH round trip") {
    auth_packet p;
    bytes wire;
    encode_auth(wire, p);
    CHECK(wire == make_bytes({0xF0, 0x00}));
    auth_packet out;
    auto f = parse_frame(wire);
    REQUIRE(decode_auth(f.body, out) == reason_code::success);
    CHECK(out.reason == reason_code::success);

    for (auto rc : {reason_code::continue_authentication, reason_code::re_authenticate}) {
        p.reason = rc;
        p.props.authentication_method = "SCRAM-SHA-1";
        p.props.authentication_data = "nonce";
        p.props.reason_string = "step";
        wire.clear();
        encode_auth(wire, p);
        f = parse_frame(wire);
        CHECK(f.h.type == packet_type::auth);
        REQUIRE(decode_auth(f.body, out) == reason_code::success);
        CHECK(out.reason == rc);
        CHECK(out.props == p.props);
    }
}

}  // TEST_SUITE
