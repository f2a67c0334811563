// Subscriptions, retained messages, wills and sessions across reconnects,
// through real connections on one worker (sections 3.1.2.5, 3.3.1.3, 3.8,
// 3.10, 4.1, 4.4, 4.8.2).
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "broker_test_util.hpp"

using namespace strata;
using namespace strata::test;

namespace {

void publish_retained(harness& h, std::string_view topic, std::string_view payload) {
    client p(h, v5);
    connect(p, "retainer");
    p.send(publish_bytes(v5, topic, payload, 1, 1, true));
    REQUIRE(p.take().size() == 1);
    p.send(disconnect_bytes(v5));
}

}  // namespace

TEST_SUITE("broker") {

TEST_CASE("SUBSCRIBE: granted QoS, maximum QoS") {
    harness h([](config::broker_config& c) { c.max_qos = 1; });
    client a(h, v5);
    connect(a, "a");
    a.send(subscribe_bytes(v5, 9, {sub("ok/#", 2), sub("$share/g/x", 1), sub("q0", 0)}));
    auto p = a.take_one(packet_type::suback);
    const auto ack = as_suback(p, v5);
    CHECK(ack.packet_id == 9);  // [MQTT-3.8.4-2]
    CHECK(ack.reasons == std::vector<std::uint8_t>{1, 1, 0});  // capped by Maximum QoS
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE with a malformed filter close the connection") {
    for (const char* bad : {"bad/#/x", "#/x", "a/b+", "", "$share/g", "$share//x", "$share/g+/x"}) {
        CAPTURE(bad);
        harness h;
        client a(h, v5), b(h, v311), u(h, v5);
        connect(a, "a");
        a.send(subscribe_bytes(v5, 1, {sub("ok/1", 0), sub(bad, 0)}));
        auto d = a.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::malformed_packet);
        CHECK(a.closing());
        connect(b, "b");
        b.send(subscribe_bytes(v311, 1, {sub("ok/2", 0), sub(bad, 0)}));
        CHECK(b.take().empty());  // 3.1.1: closed, no SUBACK
        CHECK(b.closing());
        connect(u, "u");
        subscribe(u, {sub("ok/3", 0)});
        u.send(unsubscribe_bytes(v5, 2, {"ok/3", bad}));
        auto e = u.take_one(packet_type::disconnect);
        CHECK(as_disconnect(e, v5).reason == reason_code::malformed_packet);
    }
}

TEST_CASE("SUBSCRIBE errors close the connection") {
    harness h;
    client a(h, v5);
    connect(a, "a");
    a.send(subscribe_bytes(v5, 1, {sub("$share/g/t", 1, true)}));  // No Local on a shared subscription
    auto d = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
    client b(h, v5);
    connect(b, "b");
    b.send(subscribe_bytes(v5, 1, {}));  // no filters [MQTT-3.8.3-2]
    auto e = b.take_one(packet_type::disconnect);
    CHECK(as_disconnect(e, v5).reason == reason_code::protocol_error);
    client c(h, v311);
    connect(c, "c");
    c.send(bytes{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x04});  // reserved option bit in 3.1.1
    CHECK(c.take().empty());
    CHECK(c.closing());
}

TEST_CASE("UNSUBSCRIBE: UNSUBACK and no more deliveries") {
    for (auto v : {v311, v5}) {
        CAPTURE(static_cast<int>(v));
        harness h;
        client s(h, v), p(h, v5);
        connect(s, "s");
        subscribe(s, {sub("u/1", 0), sub("u/2", 0)});
        connect(p, "p");
        s.send(unsubscribe_bytes(v, 3, {"u/1", "never"}));
        auto ack = s.take_one(packet_type::unsuback);
        const auto un = as_suback(ack, v);
        CHECK(un.packet_id == 3);
        if (v == v5) CHECK(un.reasons == std::vector<std::uint8_t>{0x00, 0x11});
        else CHECK(un.reasons.empty());
        p.send(publish_bytes(v5, "u/1", "x"));
        CHECK(s.take().empty());
        p.send(publish_bytes(v5, "u/2", "y"));
        CHECK(s.take().size() == 1);
    }
}

TEST_CASE("retained messages on subscribe, by retain handling") {
    harness h;
    publish_retained(h, "ret/a", "A");
    publish_retained(h, "ret/b", "B");
    client s(h, v5);
    connect(s, "s");
    SUBCASE("retain handling 0: on every subscribe [MQTT-3.3.1-9]") {
        auto first = subscribe(s, {sub("ret/+", 1, false, false, 0)}, 5);
        REQUIRE(first.size() == 2);
        std::set<std::string> payloads;
        for (const auto& pk : first) {
            const auto pub = as_publish(pk, v5);
            CHECK(pub.retain);  // [MQTT-3.3.1-8]
            CHECK(pub.qos == 1);
            CHECK(pub.props.subscription_identifiers == std::vector<std::uint32_t>{5});
            payloads.insert(payload_of(pub));
            s.send(ack_bytes(v5, packet_type::puback, pub.packet_id));
        }
        CHECK(payloads == std::set<std::string>{"A", "B"});
        CHECK(subscribe(s, {sub("ret/+", 1, false, false, 0)}).size() == 2);
    }
    SUBCASE("retain handling 1: only for a new subscription [MQTT-3.3.1-10]") {
        CHECK(subscribe(s, {sub("ret/a", 0, false, false, 1)}).size() == 1);
        CHECK(subscribe(s, {sub("ret/a", 0, false, false, 1)}).empty());
    }
    SUBCASE("retain handling 2: never [MQTT-3.3.1-11]") {
        CHECK(subscribe(s, {sub("ret/#", 0, false, false, 2)}).empty());
    }
    SUBCASE("3.1.1 subscribers get them with the retain flag") {
        client t(h, v311);
        connect(t, "t");
        const auto got = subscribe(t, {sub("ret/a", 2)});
        REQUIRE(got.size() == 1);
        const auto pub = as_publish(got[0], v311);
        CHECK(pub.retain);
        CHECK(pub.qos == 1);  // the message's QoS
        CHECK(payload_of(pub) == "A");
    }
    SUBCASE("not for shared subscriptions (section 4.8.2)") {
        CHECK(subscribe(s, {sub("$share/g/ret/#", 1)}).empty());
    }
    SUBCASE("an empty retained payload clears the topic [MQTT-3.3.1-6]") {
        publish_retained(h, "ret/a", "");
        const auto got = subscribe(s, {sub("ret/#", 0)});
        REQUIRE(got.size() == 1);
        CHECK(payload_of(as_publish(got[0], v5)) == "B");
    }
}

TEST_CASE("will: published when the network connection closes, not after DISCONNECT") {
    harness h;
    client s(h, v5);
    connect(s, "watcher");
    subscribe(s, {sub("will/#", 1)});
    auto will = [](std::string_view topic) {
        return [topic](codec::connect_packet& p) {
            p.has_will = true;
            p.will.topic = topic;
            p.will.payload = codec::as_bytes("gone");
            p.will.qos = 1;
        };
    };
    SUBCASE("transport closed") {
        for (auto v : {v311, v5}) {
            client w(h, v);
            connect(w, "w", true, will("will/closed"));
            w.conn.on_transport_closed();
            auto got = s.take();
            REQUIRE(got.size() == 1);
            const auto pub = as_publish(got[0], v5);
            CHECK(pub.topic == "will/closed");
            CHECK(payload_of(pub) == "gone");
            CHECK(pub.qos == 1);
            s.send(ack_bytes(v5, packet_type::puback, pub.packet_id));
        }
    }
    SUBCASE("normal DISCONNECT discards the will [MQTT-3.1.2-10]") {
        for (auto v : {v311, v5}) {
            client w(h, v);
            connect(w, "w", true, will("will/normal"));
            w.send(disconnect_bytes(v));
            w.conn.on_transport_closed();
            CHECK(s.take().empty());
        }
    }
    SUBCASE("DISCONNECT 0x04 keeps the will [MQTT-3.14.4-3]") {
        client w(h, v5);
        connect(w, "w", true, will("will/with"));
        w.send(disconnect_bytes(v5, reason_code::disconnect_with_will));
        w.conn.on_transport_closed();
        CHECK(s.take().size() == 1);
    }
    SUBCASE("DISCONNECT with an error reason code keeps the will [MQTT-3.14.4-3]") {
        // Only 0x00 is a normal disconnection; 0x80.. say the client ended on an error.
        for (auto rc : {reason_code::unspecified_error, reason_code::quota_exceeded}) {
            client w(h, v5);
            connect(w, "w", true, will("will/error"));
            w.send(disconnect_bytes(v5, rc));
            CHECK(w.closing());
            CHECK(w.take().empty());  // the broker does not answer a client's DISCONNECT
            w.conn.on_transport_closed();
            auto got = s.take();
            REQUIRE(got.size() == 1);
            const auto pub = as_publish(got[0], v5);
            CHECK(pub.topic == "will/error");
            s.send(ack_bytes(v5, packet_type::puback, pub.packet_id));
        }
    }
    SUBCASE("keep-alive timeout publishes the will") {
        client w(h, v5);
        connect(w, "w", true, will("will/ka"));
        w.conn.tick(steady_clock::now() + std::chrono::hours(1));
        CHECK(s.take().size() == 1);
    }
    SUBCASE("session takeover publishes the old connection's will") {
        client w(h, v5);
        connect(w, "w", true, will("will/takeover"));
        client again(h, v5);
        connect(again, "w");
        auto got = s.take();
        REQUIRE(got.size() == 1);
        CHECK(as_publish(got[0], v5).topic == "will/takeover");
    }
    SUBCASE("will retain and will properties") {
        client w(h, v5);
        connect(w, "w", true, [](codec::connect_packet& p) {
            p.has_will = true;
            p.will.topic = "will/props";
            p.will.payload = codec::as_bytes("bye");
            p.will.retain = true;
            p.will.props.content_type = "text/plain";
            p.will.props.user_properties = {{"k", "v"}};
        });
        w.conn.on_transport_closed();
        auto got = s.take_one(packet_type::publish);
        const auto pub = as_publish(got, v5);
        CHECK(pub.props.content_type == "text/plain");
        CHECK(pub.props.user_properties == std::vector<codec::user_property>{{"k", "v"}});
        CHECK_FALSE(pub.retain);  // Retain As Published 0
        client late(h, v5);
        connect(late, "late");
        const auto retained = subscribe(late, {sub("will/props", 0)});
        REQUIRE(retained.size() == 1);  // the will was retained
        CHECK(as_publish(retained[0], v5).retain);
    }
}

TEST_CASE("DISCONNECT with a reason code only a server may send: DISCONNECT 0x82") {
    // Table 3.14.2.1: 0x8B (server shutting down), 0x8E (session taken over)...
    // come from the server; 0x05 is no DISCONNECT reason code at all.
    harness h;
    client s(h, v5);
    connect(s, "watcher");
    subscribe(s, {sub("will/#", 0)});
    for (auto rc : {reason_code::server_shutting_down, reason_code::session_taken_over, reason_code::keep_alive_timeout,
                    static_cast<reason_code>(0x05)}) {
        CAPTURE(static_cast<int>(rc));
        client w(h, v5);
        connect(w, "w", true, [](codec::connect_packet& p) {
            p.has_will = true;
            p.will.topic = "will/bad-reason";
        });
        w.send(disconnect_bytes(v5, rc));
        auto d = w.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
        CHECK(w.closing());
        // A protocol error is no normal disconnection: the will goes out.
        CHECK(as_publish(s.take_one(packet_type::publish), v5).topic == "will/bad-reason");
    }
    // Every code a client may send is accepted (and ends the connection quietly).
    for (std::uint8_t code : {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99}) {
        CAPTURE(static_cast<int>(code));
        client w(h, v5);
        connect(w, "ok");
        w.send(disconnect_bytes(v5, static_cast<reason_code>(code)));
        CHECK(w.take().empty());
        CHECK(w.closing());
    }
}

TEST_CASE("a kept session: queued messages and in-flight resend after reconnect") {
    harness h;
    client p(h, v5);
    connect(p, "pub");
    {
        client s(h, v311);
        connect(s, "persist", false);
        subscribe(s, {sub("q/#", 1)});
        p.send(publish_bytes(v5, "q/inflight", "1", 1, 1));
        auto got = s.take_one(packet_type::publish);
        CHECK(as_publish(got, v311).topic == "q/inflight");  // not acknowledged
        s.conn.on_transport_closed();
    }
    p.send(publish_bytes(v5, "q/queued", "2", 1, 2));
    p.send(publish_bytes(v5, "q/qos0", "3", 0, 0));  // not queued (queue_qos0_messages false)
    p.take();
    client s(h, v311);
    s.send(connect_bytes(v311, "persist", false));
    auto all = s.take();
    REQUIRE(all.size() == 3);
    CHECK(as_connack(all[0], v311).session_present);
    const auto resent = as_publish(all[1], v311);
    CHECK(resent.topic == "q/inflight");
    CHECK(resent.dup);  // [MQTT-4.4.0-1], [MQTT-3.3.1-1]
    const auto queued = as_publish(all[2], v311);
    CHECK(queued.topic == "q/queued");
    CHECK_FALSE(queued.dup);
    CHECK(queued.packet_id != resent.packet_id);
}

TEST_CASE("a kept session resends PUBREL for messages that got PUBREC [MQTT-4.4.0-1]") {
    harness h;
    client p(h, v5);
    connect(p, "pub");
    std::uint16_t id = 0;
    auto expiry = [](codec::connect_packet& pk) { pk.props.session_expiry_interval = 300; };
    {
        client s(h, v5);
        connect(s, "q2s", false, expiry);
        subscribe(s, {sub("q2", 2)});
        p.send(publish_bytes(v5, "q2", "x", 2, 1));
        auto got = s.take_one(packet_type::publish);
        id = as_publish(got, v5).packet_id;
        s.send(ack_bytes(v5, packet_type::pubrec, id));
        s.take_one(packet_type::pubrel);
        s.conn.on_transport_closed();
    }
    client s(h, v5);
    s.send(connect_bytes(v5, "q2s", false, expiry));
    auto all = s.take();
    REQUIRE(all.size() == 2);
    CHECK(as_connack(all[0], v5).session_present);
    CHECK(all[1].type() == packet_type::pubrel);
    CHECK(as_ack(all[1], v5).packet_id == id);
    s.send(ack_bytes(v5, packet_type::pubcomp, id));
    CHECK(s.take().empty());
}

TEST_CASE("shared subscriptions: one member per message, round robin") {
    harness h;
    client a(h, v5), b(h, v311), p(h, v5);
    connect(a, "a");
    subscribe(a, {sub("$share/g/job/+", 1)});
    connect(b, "b");
    subscribe(b, {sub("$share/g/job/+", 1)});
    connect(p, "p");
    for (int i = 0; i < 4; ++i) p.send(publish_bytes(v5, "job/" + std::to_string(i), "x"));
    const auto got_a = a.take();
    const auto got_b = b.take();
    CHECK(got_a.size() == 2);
    CHECK(got_b.size() == 2);
    for (const auto& pk : got_a) CHECK(as_publish(pk, v5).topic.starts_with("job/"));
    // After unsubscribing, the other member gets everything.
    a.send(unsubscribe_bytes(v5, 2, {"$share/g/job/+"}));
    a.take();
    for (int i = 0; i < 3; ++i) p.send(publish_bytes(v5, "job/x", "y"));
    CHECK(a.take().empty());
    CHECK(b.take().size() == 3);
}

TEST_CASE("mount points prefix topics and stay invisible to the client") {
    harness h;
    client s(h, v5, "tenant/"), p(h, v5, "tenant/"), outside(h, v5);
    connect(s, "s");
    subscribe(s, {sub("a/#", 0)});
    connect(outside, "o");
    subscribe(outside, {sub("tenant/#", 0)});
    connect(p, "p");
    p.send(publish_bytes(v5, "a/b", "x"));
    auto got = s.take_one(packet_type::publish);
    CHECK(as_publish(got, v5).topic == "a/b");
    auto seen = outside.take_one(packet_type::publish);
    CHECK(as_publish(seen, v5).topic == "tenant/a/b");
}

TEST_CASE("will delay interval (section 3.1.3.2)") {
    harness h;
    client s(h, v5);
    connect(s, "watcher");
    subscribe(s, {sub("will/#", 0)});
    auto delayed = [](std::uint32_t session_expiry) {
        return [session_expiry](codec::connect_packet& p) {
            p.props.session_expiry_interval = session_expiry;
            p.has_will = true;
            p.will.topic = "will/delayed";
            p.will.payload = codec::as_bytes("late");
            p.will.props.will_delay_interval = 60;
        };
    };
    SUBCASE("a session that ends now sends the will now") {
        client w(h, v5);
        connect(w, "w", true, delayed(0));
        w.conn.on_transport_closed();
        CHECK(s.take().size() == 1);
    }
    SUBCASE("a delayed will is not sent at close") {
        client w(h, v5);
        connect(w, "w", true, delayed(300));
        w.conn.on_transport_closed();
        CHECK(s.take().empty());
        // Reconnecting before the delay cancels it [MQTT-3.1.3-9].
        client again(h, v5);
        CHECK(connect(again, "w", false, [](codec::connect_packet& p) { p.props.session_expiry_interval = 300; })
                  .ack.session_present);
        CHECK(s.take().empty());
        again.send(disconnect_bytes(v5));
        CHECK(s.take().empty());
    }
    SUBCASE("takeover of a session that carries on does not send a delayed will [MQTT-3.1.3-9]") {
        client w(h, v5);
        connect(w, "w", true, delayed(300));
        client again(h, v5);
        connect(again, "w", false, [](codec::connect_packet& p) { p.props.session_expiry_interval = 300; });
        CHECK(s.take().empty());
    }
    SUBCASE("takeover with clean start ends the session: the will goes") {
        client w(h, v5);
        connect(w, "w", true, delayed(300));
        client again(h, v5);
        connect(again, "w", true);
        CHECK(s.take().size() == 1);
    }
}

TEST_CASE("will payload declared UTF-8 but invalid: CONNACK 0x99") {
    harness h;
    client w(h, v5);
    w.send(connect_bytes(v5, "w", true, [](codec::connect_packet& p) {
        p.has_will = true;
        p.will.topic = "t";
        p.will.payload = codec::as_bytes("\xED\xA0\x80");
        p.will.props.payload_format_indicator = 1;
    }));
    auto ack = w.take_one(packet_type::connack);
    CHECK(as_connack(ack, v5).reason == 0x99);
}

TEST_CASE("subscribing again replaces the subscription [MQTT-3.8.4-3]") {
    harness h;
    client s(h, v5), p(h, v5);
    connect(s, "s");
    subscribe(s, {sub("re", 2)}, 1);
    subscribe(s, {sub("re", 0)}, 2);
    connect(p, "p");
    p.send(publish_bytes(v5, "re", "x", 1, 1));
    auto got = s.take();
    REQUIRE(got.size() == 1);
    const auto pub = as_publish(got[0], v5);
    CHECK(pub.qos == 0);
    CHECK(pub.props.subscription_identifiers == std::vector<std::uint32_t>{2});
    subscribe(s, {sub("re", 0)});  // no identifier any more
    p.send(publish_bytes(v5, "re", "y"));
    auto again = s.take_one(packet_type::publish);
    CHECK(as_publish(again, v5).props.subscription_identifiers.empty());
}

TEST_CASE("'$' topics are not matched by leading wildcards [MQTT-4.7.2-1]") {
    harness h;
    client s(h, v5), d(h, v5), p(h, v5);
    connect(s, "s");
    subscribe(s, {sub("#", 0), sub("+/x", 0)});
    connect(d, "d");
    subscribe(d, {sub("$app/#", 0)});
    connect(p, "p");
    p.send(publish_bytes(v5, "$app/x", "1"));
    CHECK(s.take().empty());
    CHECK(d.take().size() == 1);
    p.send(publish_bytes(v5, "app/x", "2"));
    CHECK(s.take().size() == 1);  // "#" and "+/x" overlap: one delivery
}

TEST_CASE("a retained message carries its remaining expiry to a new subscriber") {
    harness h;
    {
        client p(h, v5);
        connect(p, "p");
        p.send(publish_bytes(v5, "rexp", "x", 0, 0, true,
                             [](codec::publish_packet& pk) { pk.props.message_expiry_interval = 50; }));
    }
    client s(h, v5);
    connect(s, "s");
    const auto got = subscribe(s, {sub("rexp", 1)});
    REQUIRE(got.size() == 1);
    const auto pub = as_publish(got[0], v5);
    CHECK(pub.qos == 0);  // the message's QoS, lower than the subscription's
    REQUIRE(pub.props.message_expiry_interval);
    CHECK(*pub.props.message_expiry_interval >= 1);
    CHECK(*pub.props.message_expiry_interval <= 50);
}

TEST_CASE("inbound QoS 2 state survives a reconnect: a resent PUBLISH is not delivered again") {
    harness h;
    client s(h, v5);
    connect(s, "s");
    subscribe(s, {sub("dup", 0)});
    {
        client p(h, v311);
        connect(p, "p", false);
        p.send(publish_bytes(v311, "dup", "x", 2, 5));
        p.take_one(packet_type::pubrec);
        p.conn.on_transport_closed();  // before sending PUBREL
    }
    CHECK(s.take().size() == 1);
    client p(h, v311);
    CHECK(connect(p, "p", false).ack.session_present);
    p.send(publish_bytes(v311, "dup", "x", 2, 5, false, [](codec::publish_packet& pk) { pk.dup = true; }));
    CHECK(p.take_one(packet_type::pubrec).body == bytes{0x00, 5});
    CHECK(s.take().empty());  // [MQTT-4.3.3-10]
    p.send(ack_bytes(v311, packet_type::pubrel, 5));
    CHECK(p.take_one(packet_type::pubcomp).body == bytes{0x00, 5});
}

TEST_CASE("a connection closed for a protocol error publishes its will") {
    harness h;
    client s(h, v5);
    connect(s, "s");
    subscribe(s, {sub("will/#", 0)});
    client w(h, v5);
    connect(w, "w", true, [](codec::connect_packet& p) {
        p.has_will = true;
        p.will.topic = "will/err";
    });
    w.send(publish_bytes(v5, "bad/+", "x"));
    CHECK(w.closing());
    auto got = s.take_one(packet_type::publish);
    CHECK(as_publish(got, v5).topic == "will/err");
}

}  // TEST_SUITE
