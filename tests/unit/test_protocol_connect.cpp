// Connection lifecycle: CONNECT / CONNACK, refusals, sessions, takeover,
// keep-alive and DISCONNECT (sections 3.1, 3.2, 3.14, 4.1). The protocol
// layer alone: the broker is fake_broker_port.hpp.
#include <doctest/doctest.h>

#include "fake_broker_port.hpp"

using namespace strata;
using namespace strata::test;

TEST_SUITE("protocol") {

TEST_CASE("CONNECT / CONNACK in 3.1.1") {
    fake_broker_port h;
    client c(h, v311);
    c.send(connect_bytes(v311, "c311"));
    const auto all = c.take();
    REQUIRE(all.size() == 1);
    CHECK(all[0].type() == packet_type::connack);
    CHECK(all[0].body == bytes{0x00, 0x00});  // session present 0, accepted [MQTT-3.2.2-1]
    CHECK(c.conn.state() == protocol::connection_state::active);
    CHECK(c.conn.client_id() == "c311");
    CHECK(c.conn.version() == v311);
}

TEST_CASE("CONNECT / CONNACK in 3.1") {
    fake_broker_port h;
    client c(h, protocol_version::v31);
    const auto r = connect(c, "c31");
    CHECK_FALSE(r.ack.session_present);
    CHECK(c.conn.version() == protocol_version::v31);
}

TEST_CASE("CONNECT / CONNACK in 5.0 with the broker's limits") {
    fake_broker_port h([](config::broker_config& c) {
        c.max_inflight_messages = 7;
        c.max_topic_alias = 3;
        c.max_qos = 1;
        c.retain_available = false;
        c.max_packet_size = 5000;
        c.max_keepalive = 30;
    });
    client c(h, v5);
    const auto r = connect(c, "c5", true, [](codec::connect_packet& p) { p.keep_alive = 600; });
    CHECK_FALSE(r.ack.session_present);
    CHECK(r.ack.props.receive_maximum == 7);
    CHECK(r.ack.props.topic_alias_maximum == 3);
    CHECK(r.ack.props.maximum_qos == 1);
    CHECK(r.ack.props.retain_available == 0);
    CHECK(r.ack.props.maximum_packet_size == 5000);
    CHECK(r.ack.props.server_keep_alive == 30);  // [MQTT-3.2.2-21]
    CHECK_FALSE(r.ack.props.assigned_client_identifier);
}

TEST_CASE("assigned client identifier") {
    fake_broker_port h;
    SUBCASE("5.0: the CONNACK carries the identifier [MQTT-3.2.2-16]") {
        client a(h, v5), b(h, v5);
        const auto ra = connect(a, "");
        const auto rb = connect(b, "", false);
        REQUIRE(ra.ack.props.assigned_client_identifier);
        REQUIRE(rb.ack.props.assigned_client_identifier);
        CHECK(ra.ack.props.assigned_client_identifier->starts_with("auto-"));
        CHECK(*ra.ack.props.assigned_client_identifier != *rb.ack.props.assigned_client_identifier);
        CHECK(a.conn.client_id() == *ra.ack.props.assigned_client_identifier);
    }
    SUBCASE("3.1.1: accepted with clean session [MQTT-3.1.3-7]") {
        client a(h, v311);
        connect(a, "");
        CHECK(a.conn.client_id().starts_with("auto-"));
    }
}

TEST_CASE("session present") {
    fake_broker_port h;
    SUBCASE("3.1.1: clean session 0 keeps the session") {
        {
            client a(h, v311);
            CHECK_FALSE(connect(a, "keep", false).ack.session_present);  // [MQTT-3.2.2-3]
            a.conn.on_transport_closed();
        }
        client b(h, v311);
        CHECK(connect(b, "keep", false).ack.session_present);  // [MQTT-3.2.2-2]
        b.conn.on_transport_closed();
        client c(h, v311);
        CHECK_FALSE(connect(c, "keep", true).ack.session_present);  // clean session discards it [MQTT-3.2.2-1]
    }
    SUBCASE("5.0: only with a session expiry interval") {
        auto with_expiry = [](codec::connect_packet& p) { p.props.session_expiry_interval = 60; };
        {
            client a(h, v5);
            connect(a, "s5", false, with_expiry);
            a.conn.on_transport_closed();
        }
        {
            client b(h, v5);
            CHECK(connect(b, "s5", false).ack.session_present);
            b.conn.on_transport_closed();  // this CONNECT had expiry 0: the session ends now
        }
        client c(h, v5);
        CHECK_FALSE(connect(c, "s5", false).ack.session_present);
    }
}

TEST_CASE("refusals") {
    SUBCASE("allow_anonymous false: 0x87 in 5.0, return code 5 in 3.1.1") {
        fake_broker_port h([](config::broker_config& c) { c.allow_anonymous = false; });
        client a(h, v5);
        a.send(connect_bytes(v5, "x"));
        auto pa = a.take_one(packet_type::connack);
        CHECK(as_connack(pa, v5).reason == 0x87);
        CHECK(a.closing());
        client b(h, v311);
        b.send(connect_bytes(v311, "y"));
        CHECK(b.take_one(packet_type::connack).body == bytes{0x00, 0x05});
        CHECK(b.closing());
    }
    SUBCASE("per-listener allow_anonymous overrides the global setting") {
        fake_broker_port closed([](config::broker_config& c) { c.allow_anonymous = false; });
        protocol::listener_settings open_listener;
        open_listener.allow_anonymous = true;
        client a(closed, v5, open_listener);
        connect(a, "a");
        fake_broker_port open;
        protocol::listener_settings closed_listener;
        closed_listener.allow_anonymous = false;
        client b(open, v5, closed_listener);
        b.send(connect_bytes(v5, "b"));
        auto p = b.take_one(packet_type::connack);
        CHECK(as_connack(p, v5).reason == 0x87);
    }
    SUBCASE("3.1.1 empty client id without clean session: return code 2 [MQTT-3.1.3-8]") {
        fake_broker_port h;
        client a(h, v311);
        a.send(connect_bytes(v311, "", false));
        CHECK(a.take_one(packet_type::connack).body == bytes{0x00, 0x02});
        CHECK(a.closing());
    }
    SUBCASE("empty client id when zero-length ids are not allowed") {
        fake_broker_port h([](config::broker_config& c) { c.allow_zero_length_clientid = false; });
        client a(h, v5);
        a.send(connect_bytes(v5, ""));
        auto p = a.take_one(packet_type::connack);
        CHECK(as_connack(p, v5).reason == 0x80);  // Mosquitto's answer
    }
    SUBCASE("authentication method: 0x8C") {
        fake_broker_port h;
        client a(h, v5);
        a.send(connect_bytes(v5, "x", true, [](codec::connect_packet& p) { p.props.authentication_method = "SCRAM"; }));
        auto p = a.take_one(packet_type::connack);
        CHECK(as_connack(p, v5).reason == 0x8C);
        CHECK(a.closing());
    }
    SUBCASE("unknown protocol level: 3.1.1 CONNACK with return code 1 [MQTT-3.1.2-2]") {
        fake_broker_port h;
        client a(h, v311);
        bytes wire = connect_bytes(v311, "x");
        wire[8] = 6;  // the level byte after 0x10, length, 0x00 0x04 "MQTT"
        a.send(wire);
        CHECK(a.take_one(packet_type::connack).body == bytes{0x00, 0x01});
        CHECK(a.closing());
    }
    SUBCASE("unknown protocol name: closed without CONNACK") {
        fake_broker_port h;
        client a(h, v311);
        bytes wire = connect_bytes(v311, "x");
        wire[4] = 'X';
        a.send(wire);
        CHECK(a.take().empty());
        CHECK(a.closing());
    }
    SUBCASE("malformed CONNECT in 5.0: CONNACK 0x81") {
        fake_broker_port h;
        client a(h, v5);
        bytes wire = connect_bytes(v5, "x");
        wire[9] |= 0x01;  // reserved flag bit [MQTT-3.1.2-3]
        a.send(wire);
        auto p = a.take_one(packet_type::connack);
        CHECK(as_connack(p, v5).reason == 0x81);
        CHECK(a.closing());
    }
    SUBCASE("will topic with a wildcard: 0x90") {
        fake_broker_port h;
        client a(h, v5);
        a.send(connect_bytes(v5, "x", true, [](codec::connect_packet& p) {
            p.has_will = true;
            p.will.topic = "w/#";
        }));
        auto p = a.take_one(packet_type::connack);
        CHECK(as_connack(p, v5).reason == 0x90);
    }
}

TEST_CASE("the first packet must be CONNECT [MQTT-3.1.0-1]") {
    fake_broker_port h;
    client a(h, v5);
    a.send(publish_bytes(v5, "t", "x"));
    CHECK(a.take().empty());  // closed without a reply
    CHECK(a.closing());
    client b(h, v311);
    bytes ping;
    codec::encode_pingreq(ping);
    b.send(ping);
    CHECK(b.take().empty());
    CHECK(b.closing());
}

TEST_CASE("a second CONNECT is a protocol error [MQTT-3.1.0-2]") {
    fake_broker_port h;
    client a(h, v5);
    connect(a, "twice");
    a.send(connect_bytes(v5, "twice"));
    auto p = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(p, v5).reason == reason_code::protocol_error);
    CHECK(a.closing());
    client b(h, v311);
    connect(b, "twice311");
    b.send(connect_bytes(v311, "twice311"));
    CHECK(b.take().empty());  // 3.1.1 has no DISCONNECT from the server
    CHECK(b.closing());
}

TEST_CASE("packets split across reads and several packets in one read") {
    fake_broker_port h;
    client a(h, v5);
    a.send_bytewise(connect_bytes(v5, "slow"));
    auto ack = a.take_one(packet_type::connack);
    CHECK(as_connack(ack, v5).reason == 0);
    bytes burst;
    codec::encode_pingreq(burst);
    codec::encode_pingreq(burst);
    const bytes pub = publish_bytes(v5, "t", "x", 1, 5);
    burst.insert(burst.end(), pub.begin(), pub.end());
    // All but the last byte now, the last byte later.
    a.send(bytes(burst.begin(), burst.end() - 1));
    auto first = a.take();
    REQUIRE(first.size() == 2);
    CHECK(first[0].type() == packet_type::pingresp);
    CHECK(first[1].type() == packet_type::pingresp);
    a.send(bytes(burst.end() - 1, burst.end()));
    auto puback = a.take_one(packet_type::puback);
    CHECK(as_ack(puback, v5).packet_id == 5);
}

TEST_CASE("PINGREQ / PINGRESP and a PINGREQ with a body") {
    fake_broker_port h;
    client a(h, v311);
    connect(a, "ping");
    bytes ping;
    codec::encode_pingreq(ping);
    a.send(ping);
    CHECK(a.take_one(packet_type::pingresp).body.empty());
    a.send(bytes{0xC0, 0x01, 0x00});
    CHECK(a.take().empty());
    CHECK(a.closing());
}

TEST_CASE("malformed packets after CONNECT: DISCONNECT 0x81 in 5.0 [MQTT-4.13.1-1]") {
    fake_broker_port h;
    const bytes cases[] = {
        {0x60, 0x02, 0x00, 0x01},              // PUBREL with flags 0 [MQTT-2.1.3-1]
        {0xC1, 0x00},                          // PINGREQ with a reserved flag
        {0x00, 0x00},                          // packet type 0
        {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},  // five-byte remaining length
        {0xC0, 0x01, 0x00},                    // PINGREQ with a body
        {0x40, 0x01, 0x00},                    // PUBACK cut inside the packet identifier
    };
    for (std::size_t i = 0; i < std::size(cases); ++i) {
        CAPTURE(i);
        client a(h, v5);
        connect(a, "m" + std::to_string(i));
        a.send(cases[i]);
        auto d = a.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::malformed_packet);
        CHECK(a.closing());
    }
    // A PUBACK with reason code and no property length is well formed; for an
    // unknown packet id it is simply ignored.
    client ok(h, v5);
    connect(ok, "ok");
    ok.send(bytes{0x40, 0x03, 0x00, 0x01, 0x00});
    CHECK(ok.take().empty());
    CHECK_FALSE(ok.closing());
}

TEST_CASE("packets from the server side are protocol errors") {
    fake_broker_port h;
    client a(h, v5);
    connect(a, "srv");
    codec::connack_packet ack;
    bytes wire;
    codec::encode_connack(wire, v5, ack);
    a.send(wire);
    auto p = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(p, v5).reason == reason_code::protocol_error);
}

TEST_CASE("max_packet_size: a larger packet gets DISCONNECT 0x95") {
    fake_broker_port h([](config::broker_config& c) { c.max_packet_size = 100; });
    client a(h, v5);
    connect(a, "big");
    a.send(publish_bytes(v5, "t", std::string(200, 'x')));
    auto p = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(p, v5).reason == reason_code::packet_too_large);
}

TEST_CASE("session takeover: the old connection gets DISCONNECT 0x8E [MQTT-3.1.4-3]") {
    fake_broker_port h;
    client old(h, v5);
    connect(old, "same", false, [](codec::connect_packet& p) { p.props.session_expiry_interval = 100; });
    subscribe(old, {sub("t/#", 1)});
    client now(h, v5);
    const auto r = connect(now, "same", false);
    CHECK(r.ack.session_present);
    auto d = old.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::session_taken_over);
    CHECK(old.closing());
    old.conn.on_transport_closed();  // must not end the session now held by `now`
    CHECK(h.detached.empty());
    // The subscription moved along with the session, and deliveries to it reach `now`.
    CHECK(h.subscriptions["same"].contains("t/#"));
    message::init in;
    in.topic = "t/1";
    const std::string payload = "hello";
    in.payload = codec::as_bytes(payload);
    h.session_of("same")->deliver(message::create(in), 0, false, {});
    auto got = now.take_one(packet_type::publish);
    CHECK(payload_of(as_publish(got, v5)) == "hello");
    CHECK(old.take().empty());
}

TEST_CASE("session takeover in 3.1.1 closes the old connection without a packet") {
    fake_broker_port h;
    client old(h, v311);
    connect(old, "same311");
    client now(h, v311);
    connect(now, "same311");
    CHECK(old.take().empty());
    CHECK(old.closing());
}

TEST_CASE("keep alive: silence for 1.5 periods gets DISCONNECT 0x8D") {
    fake_broker_port h;
    client a(h, v5);
    connect(a, "ka", true, [](codec::connect_packet& p) { p.keep_alive = 10; });
    a.conn.tick(steady_clock::now() + std::chrono::seconds(3));
    CHECK(a.take().empty());
    CHECK_FALSE(a.closing());
    a.conn.tick(steady_clock::now() + std::chrono::hours(1));
    auto d = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::keep_alive_timeout);
    CHECK(a.closing());

    client b(h, v311);
    connect(b, "ka311", true, [](codec::connect_packet& p) { p.keep_alive = 10; });
    b.conn.tick(steady_clock::now() + std::chrono::hours(1));
    CHECK(b.take().empty());
    CHECK(b.closing());

    client none(h, v5);
    connect(none, "ka0", true, [](codec::connect_packet& p) { p.keep_alive = 0; });  // no keep alive
    none.conn.tick(steady_clock::now() + std::chrono::hours(1));
    CHECK_FALSE(none.closing());
}

TEST_CASE("connect timeout closes a connection that sends nothing") {
    fake_broker_port h([](config::broker_config& c) { c.connect_timeout = 10; });
    client a(h, v5);
    a.conn.tick(steady_clock::now() + std::chrono::seconds(1));
    CHECK_FALSE(a.closing());
    a.conn.tick(steady_clock::now() + std::chrono::seconds(60));
    CHECK(a.closing());
    CHECK(a.take().empty());
}

TEST_CASE("DISCONNECT") {
    fake_broker_port h;
    SUBCASE("3.1.1 DISCONNECT closes; with a body it is malformed") {
        client a(h, v311);
        connect(a, "d1");
        a.send(disconnect_bytes(v311));
        CHECK(a.take().empty());
        CHECK(a.closing());
        client b(h, v311);
        connect(b, "d2");
        b.send(bytes{0xE0, 0x01, 0x00});
        CHECK(b.take().empty());
        CHECK(b.closing());
    }
    SUBCASE("5.0: session expiry 0 at CONNECT cannot become non-zero [MQTT-3.14.2-2]") {
        client a(h, v5);
        connect(a, "d5");
        a.send(disconnect_bytes(v5, reason_code::success, 30));
        auto d = a.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
        CHECK(a.closing());
    }
    SUBCASE("5.0: a session expiry set at CONNECT may be changed at DISCONNECT") {
        {
            client a(h, v5);
            connect(a, "d6", false, [](codec::connect_packet& p) { p.props.session_expiry_interval = 30; });
            a.send(disconnect_bytes(v5, reason_code::success, 0));  // ends the session now
            CHECK(a.take().empty());
            CHECK(a.closing());
        }
        client b(h, v5);
        CHECK_FALSE(connect(b, "d6", false).ack.session_present);
    }
    SUBCASE("5.0: server reference from a client is a protocol error") {
        client a(h, v5);
        connect(a, "d7");
        codec::disconnect_packet p;
        p.props.server_reference = "elsewhere";
        bytes wire;
        codec::encode_disconnect(wire, v5, p);
        a.send(wire);
        auto d = a.take_one(packet_type::disconnect);
        CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
    }
}

TEST_CASE("AUTH without an authentication method is a protocol error; reserved in 3.1.1") {
    fake_broker_port h;
    client a(h, v5);
    connect(a, "auth");
    bytes wire;
    codec::encode_auth(wire, codec::auth_packet{reason_code::re_authenticate, {}});
    a.send(wire);
    auto d = a.take_one(packet_type::disconnect);
    CHECK(as_disconnect(d, v5).reason == reason_code::protocol_error);
    client b(h, v311);
    connect(b, "auth311");
    b.send(bytes{0xF0, 0x00});
    CHECK(b.take().empty());
    CHECK(b.closing());
}

TEST_CASE("a DISCONNECT from the server respects the client's Maximum Packet Size [MQTT-3.14.2-3]") {
    // The reason string is optional and must be left out when it would make
    // the packet larger than the client accepts.
    fake_broker_port h;
    client a(h, v5);
    connect(a, "small", true, [](codec::connect_packet& p) { p.props.maximum_packet_size = 16; });
    a.send(publish_bytes(v5, "t", "x", 0, 0, false, [](codec::publish_packet& p) { p.props.topic_alias = 0; }));
    auto all = a.take();
    REQUIRE(all.size() == 1);
    CHECK(as_disconnect(all[0], v5).reason == reason_code::topic_alias_invalid);
    CHECK(all[0].h.total_length() <= 16u);
}

}  // TEST_SUITE
