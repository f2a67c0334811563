// What the protocol layer asks of the broker, and what it does with the
// answers (protocol/broker_port.hpp), with no broker behind it: logins,
// publish refusals and acknowledgements that wait for the store, SUBACKs that
// wait for routing, deferred disconnects, migration to another worker.
#include <doctest/doctest.h>

#include "fake_broker_port.hpp"

using namespace strata;
using namespace strata::test;

namespace {

message_ref make_message(std::string_view topic, const std::string& payload, std::uint8_t qos = 0) {
    message::init in;
    in.topic = topic;
    in.payload = codec::as_bytes(payload);
    in.qos = qos;
    return message::create(in);
}

auto with_user(std::string_view name, std::string_view password) {
    return [name, password](codec::connect_packet& p) {
        p.has_username = true;
        p.username = name;
        p.has_password = true;
        p.password = codec::as_bytes(password);
    };
}

}  // namespace

TEST_SUITE("protocol") {

TEST_CASE("port: the password check decides the CONNACK") {
    fake_broker_port h([](config::broker_config& c) { c.allow_anonymous = false; });
    h.passwords["ann"] = "secret";
    client good(h, v5);
    connect(good, "good", true, with_user("ann", "secret"));
    CHECK(h.started == std::vector<std::string>{"good"});
    client bad(h, v5);
    bad.send(connect_bytes(v5, "bad", true, with_user("ann", "wrong")));
    CHECK(as_connack(bad.take_one(packet_type::connack), v5).reason == 0x87);
    CHECK(bad.closing());
    client bad311(h, v311);
    bad311.send(connect_bytes(v311, "bad311", true, with_user("ann", "wrong")));
    CHECK(bad311.take_one(packet_type::connack).body == bytes{0x00, 0x05});
    CHECK(h.session_of("bad") == nullptr);
}

TEST_CASE("port: an address blocked after failed logins is refused only once its back-off ends") {
    fake_broker_port h;
    h.blocked["test-peer"] = std::chrono::milliseconds(1500);
    client a(h, v5);
    a.send(connect_bytes(v5, "blocked"));
    CHECK(a.take().empty());  // no answer yet: the refusal is delayed, not the connection
    CHECK_FALSE(a.closing());
    REQUIRE(h.timers == std::vector<std::int64_t>{1500});
    h.fire_timers();
    CHECK(as_connack(a.take_one(packet_type::connack), v5).reason == 0x87);
    CHECK(a.closing());
    CHECK(h.session_of("blocked") == nullptr);
}

TEST_CASE("port: a timer that fires after its connection closed does nothing") {
    fake_broker_port h;
    h.blocked["test-peer"] = std::chrono::hours(1);
    REQUIRE(h.timers.empty());
    {
        client a(h, v5);
        a.send(connect_bytes(v5, "gone"));
        a.conn.on_transport_closed();
    }
    REQUIRE(h.timers == std::vector<std::int64_t>{10000});  // capped
    h.fire_timers();  // finds no connection
}

TEST_CASE("port: a client id held by another worker sends the connection there") {
    fake_broker_port h;
    h.home_worker = 3;
    client a(h, v5);
    const bytes wire = connect_bytes(v5, "elsewhere");
    a.send(wire);
    CHECK(a.take().empty());
    CHECK(a.conn.state() == protocol::connection_state::migrating);
    CHECK(a.conn.migrate_to() == 3);
    CHECK(a.conn.take_unread_input() == wire);  // the CONNECT is read again there
    CHECK(h.session_of("elsewhere") == nullptr);
}

TEST_CASE("port: PUBLISH reaches the broker behind the mount point, once authorized") {
    fake_broker_port h;
    h.refused_topics = {"site/secret"};
    client c(h, v5, "site/");
    connect(c, "pub");
    c.send(publish_bytes(v5, "open", "a", 1, 1));
    CHECK(as_ack(c.take_one(packet_type::puback), v5).reason == reason_code::success);
    c.send(publish_bytes(v5, "secret", "b", 1, 2));
    CHECK(as_ack(c.take_one(packet_type::puback), v5).reason == reason_code::not_authorized);
    c.send(publish_bytes(v5, "secret", "c", 0));
    CHECK(c.take().empty());
    CHECK_FALSE(c.closing());
    REQUIRE(h.accepted.size() == 1);
    CHECK(h.accepted[0].topic == "site/open");
    CHECK(h.accepted[0].payload == "a");
    CHECK(h.accepted[0].qos == 1);
    CHECK(h.accepted[0].packet_id == 1);
}

TEST_CASE("port: PUBACK and PUBREC wait for the broker's word that the message is kept") {
    fake_broker_port h;
    h.acks_at_once = false;
    client c(h, v5);
    connect(c, "durable");
    c.send(publish_bytes(v5, "t", "one", 1, 7));
    c.send(publish_bytes(v5, "t", "two", 2, 8));
    CHECK(c.take().empty());
    h.acknowledge("durable", commit_wait_kind::pubrec, 8);
    CHECK(as_ack(c.take_one(packet_type::pubrec), v5).packet_id == 8);
    h.acknowledge("durable", commit_wait_kind::puback, 7, false);  // the store could not write it
    const auto puback = as_ack(c.take_one(packet_type::puback), v5);
    CHECK(puback.packet_id == 7);
    CHECK(puback.reason != reason_code::success);
    CHECK(h.accepted.size() == 2);
}

TEST_CASE("port: MQTT 5 PUBACK says when no subscription matched") {
    fake_broker_port h;
    h.no_subscribers = true;
    client c(h, v5);
    connect(c, "lonely");
    c.send(publish_bytes(v5, "t", "x", 1, 1));
    CHECK(as_ack(c.take_one(packet_type::puback), v5).reason == reason_code::no_matching_subscribers);
    client old(h, v311);
    connect(old, "lonely311");
    old.send(publish_bytes(v311, "t", "x", 1, 1));
    CHECK(old.take_one(packet_type::puback).body == bytes{0x00, 0x01});  // 3.1.1 has no reason code
}

TEST_CASE("port: a store that cannot write refuses QoS 1 and 2, not QoS 0") {
    fake_broker_port h;
    h.store_writable = false;
    client c(h, v5);
    connect(c, "full");
    c.send(publish_bytes(v5, "t", "x", 1, 1));
    const auto ack = as_ack(c.take_one(packet_type::puback), v5);
    CHECK(ack.reason != reason_code::success);
    CHECK(ack.reason != reason_code::no_matching_subscribers);
    c.send(publish_bytes(v5, "t", "y", 0));
    CHECK(c.take().empty());
    REQUIRE(h.accepted.size() == 1);
    CHECK(h.accepted[0].payload == "y");
}

TEST_CASE("port: PUBREL asks the broker to release; PUBCOMP now or after the commit") {
    fake_broker_port h;
    client c(h, v5);
    connect(c, "q2");
    c.send(publish_bytes(v5, "t", "x", 2, 4));
    CHECK(as_ack(c.take_one(packet_type::pubrec), v5).packet_id == 4);
    c.send(ack_bytes(v5, packet_type::pubrel, 4));
    CHECK(as_ack(c.take_one(packet_type::pubcomp), v5).reason == reason_code::success);
    CHECK(h.released == std::vector<std::pair<std::string, std::uint16_t>>{{"q2", 4}});

    h.pubcomp_rc.reset();  // the held message is routed durably: PUBCOMP follows the commit
    c.send(publish_bytes(v5, "t", "y", 2, 5));
    c.take_one(packet_type::pubrec);
    c.send(ack_bytes(v5, packet_type::pubrel, 5));
    CHECK(c.take().empty());
    h.acknowledge("q2", commit_wait_kind::pubcomp, 5);
    CHECK(as_ack(c.take_one(packet_type::pubcomp), v5).packet_id == 5);
}

TEST_CASE("port: SUBACK waits until every worker routes by the subscription; later packets wait with it") {
    fake_broker_port h;
    h.subscriptions_pending = true;
    client c(h, v5);
    connect(c, "sub");
    c.send(subscribe_bytes(v5, 1, {sub("a/#", 1)}));
    bytes ping;
    codec::encode_pingreq(ping);
    c.send(ping);
    CHECK(c.take().empty());
    CHECK(h.subscriptions["sub"].contains("a/#"));  // made at once; only its answer waits
    h.make_interest_visible();
    h.poll();
    const auto all = c.take();
    REQUIRE(all.size() == 2);
    CHECK(all[0].type() == packet_type::suback);
    CHECK(all[1].type() == packet_type::pingresp);  // in the order the client sent them
}

TEST_CASE("port: a refused filter gets 0x87 and is not subscribed; retained messages by retain handling") {
    fake_broker_port h;
    h.refused_filters = {"secret/#"};
    client c(h, v5);
    connect(c, "rh");
    c.send(subscribe_bytes(v5, 1, {sub("secret/#", 1), sub("r0", 0), sub("r2", 0)}));
    // retain handling: r0 0 (always), r2 2 (never)
    auto all = c.take();
    REQUIRE(!all.empty());
    CHECK(as_suback(all[0], v5).reasons == std::vector<std::uint8_t>{0x87, 0, 0});
    CHECK_FALSE(h.subscriptions["rh"].contains("secret/#"));
    REQUIRE(h.retained_requests.size() == 2);

    h.retained_requests.clear();
    c.send(subscribe_bytes(v5, 2, {sub("r0", 0, false, false, 1), sub("new1", 0, false, false, 1),
                                   sub("r2", 0, false, false, 2)}));
    c.take_one(packet_type::suback);
    // 1: only for a subscription that did not exist; 2: never.
    REQUIRE(h.retained_requests.size() == 1);
    CHECK(h.retained_requests[0].filter == "new1");
}

TEST_CASE("port: UNSUBACK says whether the subscription existed") {
    fake_broker_port h;
    client c(h, v5);
    connect(c, "unsub");
    subscribe(c, {sub("a", 0)});
    c.send(unsubscribe_bytes(v5, 2, {"a", "b"}));
    const auto ack = as_suback(c.take_one(packet_type::unsuback), v5);
    CHECK(ack.reasons == std::vector<std::uint8_t>{0x00, 0x11});
    CHECK(h.subscriptions["unsub"].empty());
}

TEST_CASE("port: over memory_limit a delivery is dropped and the client disconnected, outside the fan-out") {
    fake_broker_port h;
    client c(h, v5);
    connect(c, "greedy");
    h.over_memory = true;
    const auto before = h.stats().messages_dropped.load();
    h.session_of("greedy")->deliver(make_message("t", "x"), 0, false, {});
    CHECK(c.take().empty());
    CHECK(h.stats().messages_dropped.load() == before + 1);
    CHECK_FALSE(c.closing());  // not inside the delivery: it was deferred
    REQUIRE(h.has_deferred());
    h.poll();
    CHECK(as_disconnect(c.take_one(packet_type::disconnect), v5).reason == reason_code::quota_exceeded);
}

TEST_CASE("port: keep-alive is not held against a client the broker stopped reading") {
    fake_broker_port h;
    client c(h, v5);
    connect(c, "held", true, [](codec::connect_packet& p) { p.keep_alive = 10; });
    h.paused = true;
    c.conn.tick(steady_clock::now() + std::chrono::hours(1));
    CHECK_FALSE(c.closing());
    h.paused = false;
    c.conn.tick(steady_clock::now() + std::chrono::hours(1));
    CHECK(as_disconnect(c.take_one(packet_type::disconnect), v5).reason == reason_code::keep_alive_timeout);
}

TEST_CASE("port: the will goes to the broker at a network close, not after DISCONNECT; a refused will is dropped") {
    fake_broker_port h;
    h.refused_will_topics = {"w/denied"};
    auto will = [](std::string_view topic) {
        return [topic](codec::connect_packet& p) {
            p.has_will = true;
            p.will.topic = topic;
        };
    };
    {
        client a(h, v5);
        connect(a, "dies", true, will("w/ok"));
        a.conn.on_transport_closed();
    }
    {
        client b(h, v5);
        connect(b, "leaves", true, will("w/ok"));
        b.send(disconnect_bytes(v5));
        b.conn.on_transport_closed();
    }
    {
        client c(h, v5);
        connect(c, "denied", true, will("w/denied"));  // accepted, without its will (as Mosquitto)
        c.conn.on_transport_closed();
    }
    CHECK(h.detached == std::vector<std::string>{"dies", "leaves", "denied"});
    CHECK(h.wills_now == std::vector<std::string>{"dies"});
}

}  // TEST_SUITE
