// PUBLISH in both directions through real connections on one worker: QoS
// flows, delivery rules, topic aliases and limits (sections 3.3 to 3.7, 4.3).
#include <doctest/doctest.h>

#include <algorithm>

#include "broker_test_util.hpp"

using namespace strata;
using namespace strata::test;

namespace {

constexpr protocol_version both[] = {v311, v5};

}  // namespace

TEST_SUITE("broker") {

TEST_CASE("inbound QoS 0, 1 and 2 acknowledgements") {
    for (auto v : both) {
        CAPTURE(static_cast<int>(v));
        harness h;
        client a(h, v);
        connect(a, "pub");
        client s(h, v);
        connect(s, "sub");
        subscribe(s, {sub("t", 0)});
        a.send(publish_bytes(v, "t", "q0"));
        CHECK(a.take().empty());
        a.send(publish_bytes(v, "t", "q1", 1, 11));
        auto puback = a.take_one(packet_type::puback);
        CHECK(puback.body == bytes{0x00, 11});  // [MQTT-4.3.2-4]
        a.send(publish_bytes(v, "t", "q2", 2, 12));
        auto pubrec = a.take_one(packet_type::pubrec);
        CHECK(pubrec.body == bytes{0x00, 12});  // [MQTT-4.3.3-9]
        a.send(ack_bytes(v, packet_type::pubrel, 12));
        auto pubcomp = a.take_one(packet_type::pubcomp);
        CHECK(pubcomp.body == bytes{0x00, 12});  // [MQTT-4.3.3-11]
    }
}

TEST_CASE("MQTT 5: PUBACK says 0x10 when no subscription matched, PUBREC (sent before routing) 0; 3.1.1 has no code") {
    for (auto v : both) {
        CAPTURE(static_cast<int>(v));
        harness h;
        client a(h, v);
        connect(a, "lonely");
        const bytes no_one = v == v5 ? bytes{0x10} : bytes{};
        a.send(publish_bytes(v, "nobody/here", "q1", 1, 11));
        auto puback = a.take_one(packet_type::puback);
        bytes expected{0x00, 11};
        expected.insert(expected.end(), no_one.begin(), no_one.end());
        CHECK(puback.body == expected);
        a.send(publish_bytes(v, "nobody/here", "q2", 2, 12));
        auto pubrec = a.take_one(packet_type::pubrec);
        CHECK(pubrec.body == bytes{0x00, 12});
    }
}

TEST_CASE("PUBREL for an unknown packet id: PUBCOMP 0x92") {
    harness h;
    client a(h, v5);
    connect(a, "rel");
    a.send(ack_bytes(v5, packet_type::pubrel, 99));
    auto p = a.take_one(packet_type::pubcomp);
    const auto ack = as_ack(p, v5);
    CHECK(ack.packet_id == 99);
    CHECK(ack.reason == reason_code::packet_identifier_not_found);
    client b(h, v311);
    connect(b, "rel311");
    b.send(ack_bytes(v311, packet_type::pubrel, 99));
    CHECK(b.take_one(packet_type::pubcomp).body == bytes{0x00, 99});
}

TEST_CASE("QoS 2: a resent PUBLISH is acknowledged again but delivered once [MQTT-4.3.3-10]") {
    for (auto v : both) {
        CAPTURE(static_cast<int>(v));
        harness h;
        client s(h, v), p(h, v);
        connect(s, "sub");
        subscribe(s, {sub("q2/#", 2)});
        connect(p, "pub");
        p.send(publish_bytes(v, "q2/x", "once", 2, 7));
        CHECK(p.take_one(packet_type::pubrec).body == bytes{0x00, 7});
        p.send(publish_bytes(v, "q2/x", "once", 2, 7, false, [](codec::publish_packet& pk) { pk.dup = true; }));
        CHECK(p.take_one(packet_type::pubrec).body == bytes{0x00, 7});
        auto got = s.take();
        REQUIRE(got.size() == 1);
        CHECK(payload_of(as_publish(got[0], v)) == "once");
        // After PUBREL the id is free: the same id is a new message.
        p.send(ack_bytes(v, packet_type::pubrel, 7));
        p.take_one(packet_type::pubcomp);
        p.send(publish_bytes(v, "q2/x", "again", 2, 7));
        auto again = s.take();
        REQUIRE(again.size() == 1);
        CHECK(payload_of(as_publish(again[0], v)) == "again");
    }
}

TEST_CASE("delivery between two connections: topic, payload, QoS downgrade") {
    for (auto vs : both) {
        for (auto vp : both) {
            CAPTURE(static_cast<int>(vs));
            CAPTURE(static_cast<int>(vp));
            harness h;
            client s(h, vs), p(h, vp);
            connect(s, "sub");
            subscribe(s, {sub("a/+/c", 1)});
            connect(p, "pub");
            for (std::uint8_t qos = 0; qos <= 2; ++qos) {
                p.send(publish_bytes(vp, "a/b/c", "payload-" + std::to_string(qos), qos, qos ? 20 + qos : 0));
                p.take();
                auto got = s.take();
                REQUIRE(got.size() == 1);
                const auto pub = as_publish(got[0], vs);
                CHECK(pub.topic == "a/b/c");
                CHECK(payload_of(pub) == "payload-" + std::to_string(qos));
                CHECK(pub.qos == std::min<std::uint8_t>(qos, 1));  // [MQTT-3.8.4-8]
                CHECK_FALSE(pub.dup);
                CHECK_FALSE(pub.retain);
                if (pub.qos) {
                    CHECK(pub.packet_id != 0);
                    s.send(ack_bytes(vs, packet_type::puback, pub.packet_id));
                }
            }
            p.send(publish_bytes(vp, "a/b/d", "no"));
            CHECK(s.take().empty());
        }
    }
}

TEST_CASE("5.0 properties are forwarded unchanged [MQTT-3.3.2-17]") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "sub");
    subscribe(s, {sub("f", 0)});
    connect(p, "pub");
    const bytes corr{0x00, 0xFF};
    p.send(publish_bytes(v5, "f", "{}", 0, 0, false, [&](codec::publish_packet& pk) {
        pk.props.payload_format_indicator = 1;
        pk.props.content_type = "application/json";
        pk.props.response_topic = "reply/to";
        pk.props.correlation_data = codec::as_chars(corr);
        pk.props.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "3"}};
    }));
    auto got = s.take();
    REQUIRE(got.size() == 1);
    const auto pub = as_publish(got[0], v5);
    CHECK(pub.props.payload_format_indicator == 1);
    CHECK(pub.props.content_type == "application/json");
    CHECK(pub.props.response_topic == "reply/to");
    CHECK(pub.props.correlation_data == codec::as_chars(corr));
    CHECK(pub.props.user_properties == std::vector<codec::user_property>{{"b", "2"}, {"a", "1"}, {"b", "3"}});
    CHECK_FALSE(pub.props.message_expiry_interval);
}

TEST_CASE("retain flag on delivery to existing subscriptions") {
    harness h;
    client s3(h, v311), s5(h, v5), rap(h, v5), p(h, v5);
    connect(s3, "s3");
    subscribe(s3, {sub("r", 1)});
    connect(s5, "s5");
    subscribe(s5, {sub("r", 1)});
    connect(rap, "rap");
    subscribe(rap, {sub("r", 1, false, true)});
    connect(p, "p");
    p.send(publish_bytes(v5, "r", "kept", 0, 0, true));
    auto a = s3.take_one(packet_type::publish);
    CHECK_FALSE(as_publish(a, v311).retain);  // [MQTT-3.3.1-9] (3.1.1)
    auto b = s5.take_one(packet_type::publish);
    CHECK_FALSE(as_publish(b, v5).retain);  // Retain As Published 0 [MQTT-3.3.1-12]
    auto c = rap.take_one(packet_type::publish);
    CHECK(as_publish(c, v5).retain);  // Retain As Published 1 [MQTT-3.3.1-13]
    p.send(publish_bytes(v5, "r", "not kept", 0, 0, false));
    auto d = rap.take_one(packet_type::publish);
    CHECK_FALSE(as_publish(d, v5).retain);
}

TEST_CASE("subscription identifiers [MQTT-3.3.4-3]") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "sub");
    subscribe(s, {sub("id/#", 0)}, 42);
    subscribe(s, {sub("other", 0)});  // without an identifier
    connect(p, "pub");
    p.send(publish_bytes(v5, "id/x", "1"));
    auto a = s.take_one(packet_type::publish);
    CHECK(as_publish(a, v5).props.subscription_identifiers == std::vector<std::uint32_t>{42});
    p.send(publish_bytes(v5, "other", "2"));
    auto b = s.take_one(packet_type::publish);
    CHECK(as_publish(b, v5).props.subscription_identifiers.empty());
    // A client may not send one [MQTT-3.3.4-6].
    p.send(publish_bytes(v5, "x", "3", 0, 0, false, [](codec::publish_packet& pk) {
        pk.props.subscription_identifiers = {5};
    }));
    auto d = p.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
}

TEST_CASE("no local: not delivered back to the publisher [MQTT-3.8.3-3]") {
    harness h;
    client a(h, v5), b(h, v5);
    connect(a, "a");
    subscribe(a, {sub("nl", 0, true)});
    connect(b, "b");
    subscribe(b, {sub("nl", 0, true)});
    a.send(publish_bytes(v5, "nl", "from a"));
    CHECK(a.take().empty());
    auto got = b.take_one(packet_type::publish);
    CHECK(payload_of(as_publish(got, v5)) == "from a");
    // Without No Local the publisher gets its own message.
    subscribe(a, {sub("nl", 0, false)});
    a.send(publish_bytes(v5, "nl", "again"));
    CHECK(a.take().size() == 1);
}

TEST_CASE("overlapping subscriptions give one delivery with the highest QoS and every identifier") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "sub");
    subscribe(s, {sub("ov/#", 0)}, 1);
    subscribe(s, {sub("ov/+", 2)}, 2);
    subscribe(s, {sub("+/x", 1)}, 3);
    connect(p, "pub");
    p.send(publish_bytes(v5, "ov/x", "m", 2, 1));
    auto got = s.take();
    REQUIRE(got.size() == 1);  // [MQTT-3.3.4-2]
    const auto pub = as_publish(got[0], v5);
    CHECK(pub.qos == 2);
    auto ids = pub.props.subscription_identifiers;
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::uint32_t>{1, 2, 3});
}

TEST_CASE("inbound topic aliases") {
    harness h([](config::broker_config& c) { c.max_topic_alias = 10; });
    client s(h, v5);
    connect(s, "sub");
    subscribe(s, {sub("alias/#", 0)});
    auto with_alias = [](std::uint16_t alias) {
        return [alias](codec::publish_packet& pk) { pk.props.topic_alias = alias; };
    };
    SUBCASE("set then use") {
        client p(h, v5);
        connect(p, "pub");
        p.send(publish_bytes(v5, "alias/one", "1", 0, 0, false, with_alias(10)));
        p.send(publish_bytes(v5, "", "2", 0, 0, false, with_alias(10)));
        p.send(publish_bytes(v5, "alias/two", "3", 0, 0, false, with_alias(10)));  // remapped
        p.send(publish_bytes(v5, "", "4", 0, 0, false, with_alias(10)));
        CHECK_FALSE(p.closing());
        auto got = s.take();
        REQUIRE(got.size() == 4);
        CHECK(as_publish(got[0], v5).topic == "alias/one");
        CHECK(as_publish(got[1], v5).topic == "alias/one");
        CHECK(as_publish(got[2], v5).topic == "alias/two");
        CHECK(as_publish(got[3], v5).topic == "alias/two");
        CHECK_FALSE(as_publish(got[1], v5).props.topic_alias);  // aliases are per connection
    }
    SUBCASE("alias 0 or above the maximum: 0x94 [MQTT-3.3.2-9], [MQTT-3.3.2-10]") {
        for (std::uint16_t bad : {0, 11, 65535}) {
            CAPTURE(bad);
            client p(h, v5);
            connect(p, "pub" + std::to_string(bad));
            p.send(publish_bytes(v5, "alias/x", "1", 0, 0, false, with_alias(bad)));
            auto d = p.take_one(packet_type::disconnect);
            CHECK(as_disconnect(d, v5).reason == reason_code::topic_alias_invalid);
            CHECK(s.take().empty());
        }
    }
    SUBCASE("unknown alias: 0x82") {
        client p(h, v5);
        connect(p, "pub");
        p.send(publish_bytes(v5, "", "1", 0, 0, false, with_alias(3)));
        auto d = p.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
    }
    SUBCASE("empty topic without an alias: 0x82 [MQTT-3.3.2-8]") {
        client p(h, v5);
        connect(p, "pub");
        p.send(publish_bytes(v5, "", "1"));
        auto d = p.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
    }
    SUBCASE("aliases when the broker allows none") {
        harness none([](config::broker_config& c) { c.max_topic_alias = 0; });
        client p(none, v5);
        const auto r = connect(p, "pub");
        CHECK_FALSE(r.ack.props.topic_alias_maximum);
        p.send(publish_bytes(v5, "t", "1", 0, 0, false, with_alias(1)));
        auto d = p.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::topic_alias_invalid);
    }
}

TEST_CASE("outbound topic aliases when the client sets Topic Alias Maximum") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "sub", true, [](codec::connect_packet& pk) { pk.props.topic_alias_maximum = 1; });
    subscribe(s, {sub("out/#", 0)});
    connect(p, "pub");
    for (auto topic : {"out/a", "out/a", "out/b", "out/a"}) p.send(publish_bytes(v5, topic, "x"));
    auto got = s.take();
    REQUIRE(got.size() == 4);
    const auto first = as_publish(got[0], v5);
    CHECK(first.topic == "out/a");
    REQUIRE(first.props.topic_alias);
    const auto alias = *first.props.topic_alias;
    CHECK(alias >= 1);
    CHECK(alias <= 1);  // [MQTT-3.3.2-11]
    const auto second = as_publish(got[1], v5);
    CHECK(second.topic.empty());  // the alias replaces the topic
    CHECK(second.props.topic_alias == alias);
    const auto third = as_publish(got[2], v5);  // no alias left for out/b
    CHECK(third.topic == "out/b");
    CHECK_FALSE(third.props.topic_alias);
    CHECK(as_publish(got[3], v5).topic.empty());
    // Without Topic Alias Maximum the broker sends none [MQTT-3.3.2-11].
    client plain(h, v5);
    connect(plain, "plain");
    subscribe(plain, {sub("out/#", 0)});
    p.send(publish_bytes(v5, "out/a", "x"));
    p.send(publish_bytes(v5, "out/a", "x"));
    s.take();
    for (const auto& pk : plain.take()) {
        const auto pub = as_publish(pk, v5);
        CHECK(pub.topic == "out/a");
        CHECK_FALSE(pub.props.topic_alias);
    }
}

TEST_CASE("a message larger than the client's Maximum Packet Size is not sent [MQTT-3.1.2-24]") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "sub", true, [](codec::connect_packet& pk) {
        pk.props.maximum_packet_size = 64;
        pk.props.receive_maximum = 1;
    });
    subscribe(s, {sub("mps", 1)});
    connect(p, "pub");
    p.send(publish_bytes(v5, "mps", std::string(100, 'x'), 1, 1));
    CHECK(s.take().empty());
    // Discarded as if delivered: the in-flight window of one is free [MQTT-3.1.2-25].
    p.send(publish_bytes(v5, "mps", "small", 1, 2));
    auto got = s.take();
    REQUIRE(got.size() == 1);
    CHECK(payload_of(as_publish(got[0], v5)) == "small");
    CHECK(got[0].h.total_length() <= 64u);
}

TEST_CASE("message expiry is forwarded as the time left [MQTT-3.3.2-6]") {
    harness h;
    client s(h, v5), s3(h, v311), p(h, v5);
    connect(s, "sub");
    subscribe(s, {sub("exp", 0)});
    connect(s3, "sub3");
    subscribe(s3, {sub("exp", 0)});
    connect(p, "pub");
    p.send(publish_bytes(v5, "exp", "x", 0, 0, false,
                         [](codec::publish_packet& pk) { pk.props.message_expiry_interval = 100; }));
    auto got = s.take_one(packet_type::publish);
    const auto pub = as_publish(got, v5);
    REQUIRE(pub.props.message_expiry_interval);
    CHECK(*pub.props.message_expiry_interval >= 1);
    CHECK(*pub.props.message_expiry_interval <= 100);
    CHECK(s3.take().size() == 1);  // 3.1.1 has no properties
}

TEST_CASE("receive maximum exceeded: DISCONNECT 0x93 [MQTT-3.3.4-9]") {
    harness h([](config::broker_config& c) { c.max_inflight_messages = 2; });
    client p(h, v5);
    const auto r = connect(p, "pub");
    CHECK(r.ack.props.receive_maximum == 2);
    p.send(publish_bytes(v5, "t", "1", 2, 1));
    p.send(publish_bytes(v5, "t", "2", 2, 2));
    CHECK(p.take().size() == 2);
    CHECK_FALSE(p.closing());
    p.send(publish_bytes(v5, "t", "3", 2, 3));
    auto d = p.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::receive_maximum_exceeded);
}

TEST_CASE("outbound QoS 1 and 2 flows and the client's Receive Maximum") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "sub", true, [](codec::connect_packet& pk) { pk.props.receive_maximum = 1; });
    subscribe(s, {sub("flow", 2)});
    connect(p, "pub");
    p.send(publish_bytes(v5, "flow", "first", 2, 1));
    p.send(publish_bytes(v5, "flow", "second", 1, 2));
    auto a = s.take();
    REQUIRE(a.size() == 1);  // [MQTT-3.3.4-7]
    const auto first = as_publish(a[0], v5);
    CHECK(first.qos == 2);
    s.send(ack_bytes(v5, packet_type::pubrec, first.packet_id));
    auto rel = s.take_one(packet_type::pubrel);
    CHECK(rel.h.flags == 0x02);
    CHECK(as_ack(rel, v5).packet_id == first.packet_id);
    s.send(ack_bytes(v5, packet_type::pubcomp, first.packet_id));
    auto b = s.take();
    REQUIRE(b.size() == 1);
    const auto second = as_publish(b[0], v5);
    CHECK(payload_of(second) == "second");
    CHECK(second.qos == 1);
    CHECK(second.packet_id != first.packet_id);
    // A PUBREC for an id not in flight: PUBREL 0x92.
    s.send(ack_bytes(v5, packet_type::pubrec, 777));
    auto unknown = s.take_one(packet_type::pubrel);
    CHECK(as_ack(unknown, v5).reason == reason_code::packet_identifier_not_found);
}

TEST_CASE("messages the broker refuses still complete their QoS flow") {
    harness h;
    client p(h, v5);
    connect(p, "pub");
    p.send(publish_bytes(v5, "$SYS/fake", "x", 1, 1));
    auto a = p.take_one(packet_type::puback);
    CHECK(as_ack(a, v5).reason == reason_code::not_authorized);
    p.send(publish_bytes(v5, "t", "\xC0\x80", 1, 2, false,
                         [](codec::publish_packet& pk) { pk.props.payload_format_indicator = 1; }));
    auto b = p.take_one(packet_type::puback);
    CHECK(as_ack(b, v5).reason == reason_code::payload_format_invalid);  // [MQTT-3.3.2-4]
    p.send(publish_bytes(v5, "t", "\xC0\x80", 2, 3, false,
                         [](codec::publish_packet& pk) { pk.props.payload_format_indicator = 1; }));
    auto c = p.take_one(packet_type::pubrec);
    CHECK(as_ack(c, v5).reason == reason_code::payload_format_invalid);
    CHECK_FALSE(p.closing());
}

TEST_CASE("invalid PUBLISH packets close the connection") {
    harness h([](config::broker_config& c) { c.max_qos = 1; });
    client a(h, v5);
    connect(a, "a");
    a.send(publish_bytes(v5, "a/+", "x"));
    auto d = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::topic_name_invalid);
    client b(h, v5);
    connect(b, "b");
    b.send(bytes{0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01});  // QoS 3
    auto e = b.take_one(packet_type::disconnect);
    CHECK(as_disconnect(e, v5).reason == reason_code::malformed_packet);
    client c(h, v5);
    connect(c, "c");
    c.send(publish_bytes(v5, "t", "x", 2, 1));  // above Maximum QoS [MQTT-3.2.2-11]
    auto f = c.take_one(packet_type::disconnect);
    CHECK(as_disconnect(f, v5).reason == reason_code::qos_not_supported);
    client d3(h, v311);
    connect(d3, "d");
    d3.send(publish_bytes(v311, "a/#", "x"));
    CHECK(d3.take().empty());
    CHECK(d3.closing());
}

TEST_CASE("large payloads reach the subscriber intact") {
    harness h;
    client s(h, v311), p(h, v5);
    connect(s, "s");
    subscribe(s, {sub("big", 0)});
    connect(p, "p");
    std::string payload(5000, ' ');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
    p.send(publish_bytes(v5, "big", payload));
    p.send(publish_bytes(v5, "big", "small after"));
    auto got = s.take();
    REQUIRE(got.size() == 2);
    CHECK(payload_of(as_publish(got[0], v311)) == payload);
    CHECK(payload_of(as_publish(got[1], v311)) == "small after");
}

TEST_CASE("a PUBREC with an error from the subscriber ends the QoS 2 exchange") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "s", true, [](codec::connect_packet& pk) { pk.props.receive_maximum = 1; });
    subscribe(s, {sub("e", 2)});
    connect(p, "p");
    p.send(publish_bytes(v5, "e", "1", 2, 1));
    p.send(publish_bytes(v5, "e", "2", 2, 2));
    auto first = s.take();
    REQUIRE(first.size() == 1);
    const auto id = as_publish(first[0], v5).packet_id;
    s.send(ack_bytes(v5, packet_type::pubrec, id, reason_code::unspecified_error));
    auto next = s.take();
    REQUIRE(next.size() == 1);  // no PUBREL [MQTT-4.3.3-4 applies to success only], the next message
    CHECK(payload_of(as_publish(next[0], v5)) == "2");
}

TEST_CASE("retain not available: DISCONNECT 0x9A [MQTT-3.2.2-14]") {
    harness h([](config::broker_config& c) { c.retain_available = false; });
    client p(h, v5);
    const auto r = connect(p, "p");
    CHECK(r.ack.props.retain_available == 0);
    p.send(publish_bytes(v5, "t", "x", 0, 0, true));
    auto d = p.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::retain_not_supported);
}

}  // TEST_SUITE
