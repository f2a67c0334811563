// The client role of the protocol layer (protocol::client_connection) on its
// own: no broker, no socket. What it writes is compared with byte sequences
// written out from the MQTT 3.1.1 and 5.0 specifications; what the "server"
// sends is written out the same way.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "codec_test_util.hpp"
#include "protocol/client_connection.hpp"
#include "test_printers.hpp"

using namespace strata;
using strata::codec::test::bytes;
using strata::codec::test::make_bytes;
using codec::packet_type;
using codec::protocol_version;
using codec::reason_code;
using clock_type = protocol::client_clock;

namespace {

struct recorder final : protocol::client_handler {
    void on_connack(const protocol::connack_info& info) override {
        connacks.push_back(info);
        if (then) then();
    }
    void on_message(const codec::publish_packet& p, std::uint64_t token) override {
        if (then_message) then_message();
        tokens.push_back(token);
        messages.push_back(std::string(p.topic) + "=" +
                           std::string(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()) +
                           " q" + std::to_string(p.qos) + (p.retain ? " r" : ""));
        ids.push_back(p.packet_id);
    }
    void on_published(std::uint64_t token, reason_code reason) override {
        published.emplace_back(token, reason);
    }
    void on_subscribe_ack(packet_type type, std::uint16_t packet_id, std::span<const std::uint8_t> reasons) override {
        acks.push_back({type, packet_id, bytes(reasons.begin(), reasons.end())});
    }
    void on_closing(reason_code reason, std::string_view why) override {
        closings.push_back(reason);
        last_why = std::string(why);
        if (then_closing) then_closing();
    }

    struct ack {
        packet_type type;
        std::uint16_t packet_id;
        bytes reasons;
    };
    std::vector<protocol::connack_info> connacks;
    std::vector<std::string> messages;
    std::vector<std::uint16_t> ids;
    std::vector<std::uint64_t> tokens;
    std::vector<std::pair<std::uint64_t, reason_code>> published;
    std::vector<ack> acks;
    std::vector<reason_code> closings;
    std::string last_why;
    std::function<void()> then;          // run inside on_connack
    std::function<void()> then_closing;  // run inside on_closing
    std::function<void()> then_message;  // run inside on_message
};

const auto t0 = clock_type::time_point{} + std::chrono::hours(1);

struct fixture {
    explicit fixture(protocol::client_options o) : client(std::move(o), events) {}

    bytes out() {
        const auto b = client.take_output();
        return bytes(b.begin(), b.end());
    }
    void feed(const bytes& b) { client.on_input(b, t0); }
    // A network connection: start(), its CONNECT discarded, and the server's `connack`.
    void open(const bytes& connack) {
        client.start(t0);
        out();
        feed(connack);
    }
    // open() with a CONNACK that accepts (default: plain success), which must connect.
    void connect(const bytes& connack = {}) {
        if (!connack.empty()) open(connack);
        else if (client.version() == protocol_version::v5) open(make_bytes({0x20, 0x03, 0x00, 0x00, 0x00}));
        else open(make_bytes({0x20, 0x02, 0x00, 0x00}));
        REQUIRE(client.current_state() == protocol::client_connection::state::connected);
    }
    protocol::client_connection::publish_result publish(std::string_view topic, std::string_view payload,
                                                        std::uint8_t qos, std::uint64_t token, bool retain = false) {
        codec::publish_packet p;
        p.topic = topic;
        p.payload = codec::as_bytes(payload);
        p.qos = qos;
        p.retain = retain;
        return client.publish(p, token);
    }

    recorder events;
    protocol::client_connection client;
};

protocol::client_options v311_options(std::string id = "bridge") {
    protocol::client_options o;
    o.client_id = std::move(id);
    return o;
}

protocol::client_options v5_options(std::string id = "c") {
    protocol::client_options o;
    o.version = protocol_version::v5;
    o.client_id = std::move(id);
    return o;
}

using result = protocol::client_connection::publish_result;

}  // namespace

TEST_SUITE("protocol client") {

TEST_CASE("CONNECT as the specification writes it, with the bridge bit") {
    auto o = v311_options();
    o.bridge = true;
    fixture f(o);
    f.client.start(t0);
    // Fixed header, "MQTT", level 4 | 0x80, clean session, keep alive 60, "bridge".
    CHECK(f.out() == make_bytes({0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x84, 0x02, 0x00, 0x3C,
                                 0x00, 0x06, 'b', 'r', 'i', 'd', 'g', 'e'}));
    CHECK(f.client.current_state() == protocol::client_connection::state::connecting);
}

TEST_CASE("MQTT 5 has no bridge bit") {
    auto o = v5_options();
    o.bridge = true;
    fixture f(o);
    f.client.start(t0);
    const auto wire = f.out();
    REQUIRE(wire.size() > 8);
    CHECK(wire[8] == 0x05);  // the level, without 0x80
}

TEST_CASE("MQTT 5 CONNECT carries session expiry and receive maximum") {
    auto o = v5_options();
    o.session_expiry = 300;
    o.receive_maximum = 10;
    fixture f(o);
    f.client.start(t0);
    CHECK(f.out() == make_bytes({0x10, 0x16, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x08,
                                 0x11, 0x00, 0x00, 0x01, 0x2C, 0x21, 0x00, 0x0A, 0x00, 0x01, 'c'}));
}

TEST_CASE("CONNECT with credentials and a will decodes to what was asked for") {
    auto o = v311_options("id");
    o.username = "user";
    o.password = "secret";
    o.will = protocol::client_will{"state/id", "0", 1, true};
    o.clean_start = false;
    fixture f(o);
    f.client.start(t0);
    const auto wire = f.out();
    const auto frame = codec::test::parse_frame(wire);
    codec::connect_packet c;
    REQUIRE(codec::decode_connect(frame.body, c) == reason_code::success);
    CHECK_FALSE(c.bridge);
    CHECK_FALSE(c.clean_start);
    CHECK(c.username == "user");
    CHECK(std::string(c.password.begin(), c.password.end()) == "secret");
    CHECK(c.will.topic == "state/id");
    CHECK(c.will.qos == 1);
    CHECK(c.will.retain);
}

TEST_CASE("a refused CONNACK is reported and closes") {
    fixture f(v311_options());
    f.open(make_bytes({0x20, 0x02, 0x00, 0x05}));
    REQUIRE(f.events.connacks.size() == 1);
    CHECK(f.events.connacks[0].reason == 5);
    REQUIRE(f.events.closings.size() == 1);
    CHECK(f.events.closings[0] == reason_code::not_authorized);
    CHECK(f.client.current_state() == protocol::client_connection::state::closing);
    CHECK(f.publish("t", "x", 0, 0) == result::not_connected);
}

TEST_CASE("a CONNACK split into single bytes is read whole") {
    fixture f(v311_options());
    f.client.start(t0);
    f.out();
    for (int b : {0x20, 0x02, 0x00, 0x00}) f.feed(make_bytes({b}));
    CHECK(f.client.current_state() == protocol::client_connection::state::connected);
    CHECK(f.events.connacks.size() == 1);
}

TEST_CASE("QoS 1: PUBLISH, PUBACK, and an unknown PUBACK tolerated") {
    fixture f(v311_options());
    f.connect();
    CHECK(f.publish("a/b", "hi", 1, 42) == result::sent);
    CHECK(f.out() == make_bytes({0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x01, 'h', 'i'}));
    f.feed(make_bytes({0x40, 0x02, 0x00, 0x07}));  // not ours
    CHECK(f.events.published.empty());
    CHECK(f.events.closings.empty());
    CHECK(f.out().empty());
    f.feed(make_bytes({0x40, 0x02, 0x00, 0x01}));
    REQUIRE(f.events.published.size() == 1);
    CHECK(f.events.published[0].first == 42);
    CHECK(f.events.published[0].second == reason_code::success);
    CHECK(f.client.in_flight() == 0);
}

TEST_CASE("QoS 2: PUBREC gets PUBREL, PUBCOMP completes; an unknown PUBREC is released") {
    fixture f(v311_options());
    f.connect();
    CHECK(f.publish("t", "x", 2, 7) == result::sent);
    CHECK(f.out() == make_bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'x'}));
    f.feed(make_bytes({0x50, 0x02, 0x00, 0x01}));
    CHECK(f.out() == make_bytes({0x62, 0x02, 0x00, 0x01}));
    CHECK(f.events.published.empty());
    f.feed(make_bytes({0x70, 0x02, 0x00, 0x01}));
    REQUIRE(f.events.published.size() == 1);
    CHECK(f.events.published[0].first == 7);
    f.feed(make_bytes({0x50, 0x02, 0x00, 0x09}));
    CHECK(f.out() == make_bytes({0x62, 0x02, 0x00, 0x09}));
    CHECK(f.events.closings.empty());
}

TEST_CASE("MQTT 5: a PUBREC with an error ends the flow; an unknown PUBREL gets PUBCOMP 0x92") {
    fixture f(v5_options());
    f.connect();
    CHECK(f.publish("t", "x", 2, 3) == result::sent);
    f.out();
    f.feed(make_bytes({0x50, 0x03, 0x00, 0x01, 0x87}));
    REQUIRE(f.events.published.size() == 1);
    CHECK(f.events.published[0].second == reason_code::not_authorized);
    CHECK(f.out().empty());
    f.feed(make_bytes({0x62, 0x02, 0x00, 0x05}));
    CHECK(f.out() == make_bytes({0x70, 0x03, 0x00, 0x05, 0x92}));
}

TEST_CASE("after a reconnect, PUBLISH goes out again with DUP and PUBREL again") {
    auto o = v311_options();
    o.clean_start = false;
    fixture f(o);
    f.connect();
    CHECK(f.publish("t", "a", 1, 1) == result::sent);
    CHECK(f.publish("t", "b", 2, 2) == result::sent);
    f.feed(make_bytes({0x50, 0x02, 0x00, 0x02}));
    f.out();
    f.client.on_transport_closed();
    CHECK(f.publish("t", "c", 1, 3) == result::not_connected);
    f.connect(make_bytes({0x20, 0x02, 0x01, 0x00}));  // session present
    CHECK(f.out() == make_bytes({0x3A, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'a',  // DUP PUBLISH
                                 0x62, 0x02, 0x00, 0x02}));                      // PUBREL
    f.feed(make_bytes({0x40, 0x02, 0x00, 0x01, 0x70, 0x02, 0x00, 0x02}));
    CHECK(f.events.published.size() == 2);
    CHECK(f.client.in_flight() == 0);
}

TEST_CASE("what the handler publishes on CONNACK follows the resends and is sent once") {
    auto o = v311_options();
    o.clean_start = false;
    fixture f(o);
    f.connect();
    CHECK(f.publish("t", "a", 1, 1) == result::sent);
    f.out();
    f.client.on_transport_closed();
    f.events.then = [&] { CHECK(f.publish("t", "b", 1, 2) == result::sent); };
    f.connect(make_bytes({0x20, 0x02, 0x01, 0x00}));
    CHECK(f.out() == make_bytes({0x3A, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'a',
                                 0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x02, 'b'}));
}

TEST_CASE("a clean start that finds a session present is the server's protocol error") {
    fixture f(v311_options());
    f.open(make_bytes({0x20, 0x02, 0x01, 0x00}));
    REQUIRE(f.events.closings.size() == 1);
    CHECK(f.events.closings[0] == reason_code::protocol_error);
}

TEST_CASE("the server's Receive Maximum bounds the window, also after a reconnect") {
    auto o = v5_options();
    o.clean_start = false;
    fixture f(o);
    f.connect(make_bytes({0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x02}));
    CHECK(f.client.server().receive_maximum == 2);
    CHECK(f.publish("t", "1", 1, 1) == result::sent);
    CHECK(f.publish("t", "2", 1, 2) == result::sent);
    CHECK(f.publish("t", "3", 1, 3) == result::window_full);
    f.out();
    f.client.on_transport_closed();
    // Now the server takes one at a time: the second waits for the first.
    f.connect(make_bytes({0x20, 0x06, 0x01, 0x00, 0x03, 0x21, 0x00, 0x01}));
    CHECK(f.out() == make_bytes({0x3A, 0x07, 0x00, 0x01, 't', 0x00, 0x01, 0x00, '1'}));
    f.feed(make_bytes({0x40, 0x02, 0x00, 0x01}));
    CHECK(f.out() == make_bytes({0x3A, 0x07, 0x00, 0x01, 't', 0x00, 0x02, 0x00, '2'}));
    CHECK_FALSE(f.client.window_open());
    f.feed(make_bytes({0x40, 0x02, 0x00, 0x02}));
    CHECK(f.client.window_open());
}

TEST_CASE("Maximum QoS, Retain Available and Maximum Packet Size of the server are kept") {
    fixture f(v5_options());
    // Maximum QoS 1, Retain Available 0, Maximum Packet Size 20.
    f.connect(make_bytes({0x20, 0x0C, 0x00, 0x00, 0x09, 0x24, 0x01, 0x25, 0x00, 0x27, 0x00, 0x00, 0x00, 0x14}));
    CHECK(f.publish("t", "x", 2, 1, true) == result::sent);
    CHECK(f.out() == make_bytes({0x32, 0x07, 0x00, 0x01, 't', 0x00, 0x01, 0x00, 'x'}));
    CHECK(f.publish("t", std::string(30, 'y'), 0, 0) == result::too_large);
    CHECK(f.out().empty());
}

TEST_CASE("inbound QoS 1 and 2: acknowledged, and QoS 2 handed over once") {
    fixture f(v311_options());
    f.connect();
    f.feed(make_bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x04, 'a'}));
    CHECK(f.out() == make_bytes({0x40, 0x02, 0x00, 0x04}));
    const auto q2 = make_bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x05, 'b'});
    f.feed(q2);
    CHECK(f.out() == make_bytes({0x50, 0x02, 0x00, 0x05}));
    f.feed(make_bytes({0x3C, 0x06, 0x00, 0x01, 't', 0x00, 0x05, 'b'}));  // DUP
    CHECK(f.out() == make_bytes({0x50, 0x02, 0x00, 0x05}));
    CHECK(f.events.messages == std::vector<std::string>{"t=a q1", "t=b q2"});
    f.feed(make_bytes({0x62, 0x02, 0x00, 0x05}));
    CHECK(f.out() == make_bytes({0x70, 0x02, 0x00, 0x05}));
    // The id is free again: a new message with it is a new message.
    f.feed(q2);
    CHECK(f.events.messages.size() == 3);
}

TEST_CASE("manual acknowledgements wait for the application, across a reconnect") {
    auto o = v311_options();
    o.manual_acks = true;
    o.clean_start = false;
    fixture f(o);
    f.connect();
    f.feed(make_bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x04, 'a'}));
    f.feed(make_bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x05, 'b'}));
    CHECK(f.out().empty());
    f.feed(make_bytes({0x3C, 0x06, 0x00, 0x01, 't', 0x00, 0x05, 'b'}));
    CHECK(f.events.messages.size() == 2);
    CHECK(f.out().empty());
    f.client.acknowledge(f.events.tokens[0]);
    CHECK(f.out() == make_bytes({0x40, 0x02, 0x00, 0x04}));
    // The connection drops before the QoS 2 message is stored; once it is, the
    // server's resend gets the PUBREC and the message is not handed over again.
    f.client.on_transport_closed();
    f.client.acknowledge(f.events.tokens[1]);
    f.connect(make_bytes({0x20, 0x02, 0x01, 0x00}));
    f.feed(make_bytes({0x3C, 0x06, 0x00, 0x01, 't', 0x00, 0x05, 'b'}));
    CHECK(f.out() == make_bytes({0x50, 0x02, 0x00, 0x05}));
    CHECK(f.events.messages.size() == 2);
}

TEST_CASE("MQTT 5: more unacknowledged messages than our Receive Maximum is the server's error") {
    auto o = v5_options();
    o.receive_maximum = 1;
    o.manual_acks = true;
    fixture f(o);
    f.connect();
    f.feed(make_bytes({0x32, 0x07, 0x00, 0x01, 't', 0x00, 0x01, 0x00, 'a'}));
    f.feed(make_bytes({0x32, 0x07, 0x00, 0x01, 't', 0x00, 0x02, 0x00, 'b'}));
    CHECK(f.out() == make_bytes({0xE0, 0x01, 0x93}));
    REQUIRE(f.events.closings.size() == 1);
    CHECK(f.events.closings[0] == reason_code::receive_maximum_exceeded);
}

TEST_CASE("MQTT 5 topic aliases from the server") {
    auto o = v5_options();
    o.topic_alias_maximum = 2;
    fixture f(o);
    f.connect();
    // Alias 1 set with the topic, then used alone.
    f.feed(make_bytes({0x30, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x03, 0x23, 0x00, 0x01, 'x'}));
    f.feed(make_bytes({0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 'y'}));
    CHECK(f.events.messages == std::vector<std::string>{"a/b=x q0", "a/b=y q0"});
    f.feed(make_bytes({0x30, 0x07, 0x00, 0x01, 'c', 0x03, 0x23, 0x00, 0x03}));
    CHECK(f.out() == make_bytes({0xE0, 0x01, 0x94}));
    CHECK(f.events.closings == std::vector<reason_code>{reason_code::topic_alias_invalid});
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE with their acknowledgements") {
    fixture f(v311_options());
    f.connect();
    const codec::subscription_request filters[] = {{"t", 1, false, false, 0}};
    CHECK(f.client.subscribe(filters) == 1);
    CHECK(f.out() == make_bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x01}));
    f.feed(make_bytes({0x90, 0x03, 0x00, 0x09, 0x00}));  // not ours
    CHECK(f.events.acks.empty());
    f.feed(make_bytes({0x90, 0x03, 0x00, 0x01, 0x01}));
    REQUIRE(f.events.acks.size() == 1);
    CHECK(f.events.acks[0].reasons == make_bytes({0x01}));
    const std::string_view unsub[] = {"t"};
    CHECK(f.client.unsubscribe(unsub) == 2);
    CHECK(f.out() == make_bytes({0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, 't'}));
    f.feed(make_bytes({0xB0, 0x02, 0x00, 0x02}));
    REQUIRE(f.events.acks.size() == 2);
    CHECK(f.events.acks[1].type == packet_type::unsuback);
}

TEST_CASE("MQTT 5 subscriptions carry No Local, Retain As Published and an identifier") {
    fixture f(v5_options());
    f.connect();
    const codec::subscription_request filters[] = {{"t", 2, true, true, 0}};
    CHECK(f.client.subscribe(filters, 5) == 1);
    // Properties: subscription identifier 5; options: QoS 2 | NL | RAP.
    CHECK(f.out() == make_bytes({0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x01, 't', 0x0E}));
}

TEST_CASE("keep alive: PINGREQ after silence, closing without PINGRESP or CONNACK") {
    fixture f(v311_options());
    f.connect();
    f.client.tick(t0 + std::chrono::seconds(59));
    CHECK(f.out().empty());
    f.client.tick(t0 + std::chrono::seconds(60));
    CHECK(f.out() == make_bytes({0xC0, 0x00}));
    f.feed(make_bytes({0xD0, 0x00}));
    // Something sent at 70 s (dated by the next tick) moves the next PINGREQ on.
    f.client.tick(t0 + std::chrono::seconds(69));
    CHECK(f.publish("t", "x", 0, 0) == result::sent);
    f.out();
    f.client.tick(t0 + std::chrono::seconds(70));
    f.client.tick(t0 + std::chrono::seconds(125));
    CHECK(f.out().empty());
    f.client.tick(t0 + std::chrono::seconds(130));
    CHECK(f.out() == make_bytes({0xC0, 0x00}));
    f.client.tick(t0 + std::chrono::seconds(189));
    CHECK(f.events.closings.empty());
    f.client.tick(t0 + std::chrono::seconds(190));
    CHECK(f.events.closings == std::vector<reason_code>{reason_code::keep_alive_timeout});

    fixture g(v311_options());
    g.client.start(t0);
    g.client.tick(t0 + std::chrono::seconds(60));
    CHECK(g.events.closings == std::vector<reason_code>{reason_code::keep_alive_timeout});
}

TEST_CASE("what the server must not send closes the connection with the reason") {
    SUBCASE("a packet before CONNACK") {
        fixture f(v5_options());
        f.open(make_bytes({0xD0, 0x00}));
        CHECK(f.events.closings == std::vector<reason_code>{reason_code::protocol_error});
    }
    SUBCASE("a PUBLISH with QoS 3") {
        fixture f(v5_options());
        f.connect();
        f.feed(make_bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}));
        CHECK(f.out() == make_bytes({0xE0, 0x01, 0x81}));
        CHECK(f.events.closings == std::vector<reason_code>{reason_code::malformed_packet});
    }
    SUBCASE("a SUBSCRIBE") {
        fixture f(v311_options());
        f.connect();
        f.feed(make_bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x01}));
        CHECK(f.out().empty());  // MQTT 3.1.1 has no DISCONNECT from the client with a reason
        CHECK(f.events.closings == std::vector<reason_code>{reason_code::protocol_error});
    }
    SUBCASE("the server's DISCONNECT") {
        fixture f(v5_options());
        f.connect();
        f.feed(make_bytes({0xE0, 0x01, 0x8B}));
        CHECK(f.events.closings == std::vector<reason_code>{reason_code::server_shutting_down});
        CHECK(f.out().empty());
    }
}

TEST_CASE("disconnect() sends DISCONNECT and nothing follows") {
    fixture f(v5_options());
    f.connect();
    f.client.disconnect(reason_code::disconnect_with_will);
    CHECK(f.out() == make_bytes({0xE0, 0x01, 0x04}));
    CHECK(f.publish("t", "x", 0, 0) == result::not_connected);
    f.feed(make_bytes({0x30, 0x04, 0x00, 0x01, 't', 'x'}));
    CHECK(f.events.messages.empty());
}

TEST_CASE("a handler that reconnects inside on_closing: the old input ends there") {
    fixture f(v5_options());
    f.connect();
    f.events.then_closing = [&] {
        f.client.on_transport_closed();
        f.client.start(t0);
    };
    // The server's DISCONNECT and, in the same read, bytes that look like a CONNACK.
    f.feed(make_bytes({0xE0, 0x01, 0x8B, 0x20, 0x03, 0x00, 0x00, 0x00}));
    CHECK(f.events.closings == std::vector<reason_code>{reason_code::server_shutting_down});
    CHECK(f.events.connacks.size() == 1);
    CHECK(f.client.current_state() == protocol::client_connection::state::connecting);
    f.out();
    f.events.then_closing = nullptr;
    f.feed(make_bytes({0x20, 0x03, 0x00, 0x00, 0x00}));
    CHECK(f.client.current_state() == protocol::client_connection::state::connected);
}

TEST_CASE("a server without our session gets what was in flight again, as new messages") {
    auto o = v311_options();
    o.clean_start = false;
    fixture f(o);
    f.connect();
    CHECK(f.publish("t", "a", 1, 1) == result::sent);
    CHECK(f.publish("t", "b", 2, 2) == result::sent);
    f.feed(make_bytes({0x50, 0x02, 0x00, 0x02}));  // PUBREC: the server had it
    f.out();
    f.client.on_transport_closed();
    f.connect(make_bytes({0x20, 0x02, 0x00, 0x00}));  // session not present: the server lost it
    // Both again, without DUP, the QoS 2 one from its PUBLISH.
    CHECK(f.out() == make_bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'a',
                                 0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x02, 'b'}));
    f.feed(make_bytes({0x40, 0x02, 0x00, 0x01, 0x50, 0x02, 0x00, 0x02}));
    CHECK(f.out() == make_bytes({0x62, 0x02, 0x00, 0x02}));
    f.feed(make_bytes({0x70, 0x02, 0x00, 0x02}));
    CHECK(f.events.published.size() == 2);
}

TEST_CASE("the inbound QoS 2 state of a lost session is dropped, and its tokens are void") {
    auto o = v311_options();
    o.clean_start = false;
    o.manual_acks = true;
    fixture f(o);
    f.connect();
    const auto q2 = make_bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x05, 'b'});
    f.feed(q2);
    f.client.acknowledge(f.events.tokens[0]);
    CHECK(f.out() == make_bytes({0x50, 0x02, 0x00, 0x05}));
    f.feed(make_bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x06, 'c'}));  // QoS 1, not acknowledged yet
    f.client.on_transport_closed();
    f.connect(make_bytes({0x20, 0x02, 0x00, 0x00}));
    // The new session reuses id 5 for a new message: it is handed over.
    f.feed(q2);
    CHECK(f.events.messages.size() == 3);
    // The old session's QoS 1 token acknowledges nothing in the new one.
    f.feed(make_bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x06, 'd'}));
    f.out();
    f.client.acknowledge(f.events.tokens[1]);
    CHECK(f.out().empty());
    f.client.acknowledge(f.events.tokens[3]);
    CHECK(f.out() == make_bytes({0x40, 0x02, 0x00, 0x06}));
}

TEST_CASE("an automatic QoS 2 acknowledgement survives a handler that drops the connection") {
    auto o = v311_options();
    o.clean_start = false;
    fixture f(o);
    f.connect();
    f.events.then_message = [&] { f.client.disconnect(); };
    f.feed(make_bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x07, 'x'}));
    CHECK(f.out() == make_bytes({0xE0, 0x00}));  // our DISCONNECT; no PUBREC on a closing connection
    f.events.then_message = nullptr;
    f.client.on_transport_closed();
    f.connect(make_bytes({0x20, 0x02, 0x01, 0x00}));
    // The server's resend gets its PUBREC, and the message is not handed over twice.
    f.feed(make_bytes({0x3C, 0x06, 0x00, 0x01, 't', 0x00, 0x07, 'x'}));
    CHECK(f.out() == make_bytes({0x50, 0x02, 0x00, 0x07}));
    CHECK(f.events.messages.size() == 1);
}

TEST_CASE("in flight that the new server cannot take ends with the reason, not on the wire") {
    auto o = v5_options();
    o.clean_start = false;
    fixture f(o);
    f.connect();
    CHECK(f.publish("t", "x", 2, 7) == result::sent);
    f.out();
    f.client.on_transport_closed();
    // Session present, Maximum QoS 1.
    f.connect(make_bytes({0x20, 0x05, 0x01, 0x00, 0x02, 0x24, 0x01}));
    CHECK(f.out().empty());
    REQUIRE(f.events.published.size() == 1);
    CHECK(f.events.published[0].first == 7);
    CHECK(f.events.published[0].second == reason_code::qos_not_supported);
}

TEST_CASE("publish: no subscription identifiers or topic alias go out; bad topics are refused") {
    fixture f(v5_options());
    f.connect();
    codec::publish_packet p;
    p.topic = "t";
    p.payload = codec::as_bytes("x");
    p.props.subscription_identifiers = {3};
    p.props.topic_alias = 1;
    CHECK(f.client.publish(p, 0) == result::sent);
    CHECK(f.out() == make_bytes({0x30, 0x05, 0x00, 0x01, 't', 0x00, 'x'}));
    CHECK(f.publish("a/+", "x", 0, 0) == result::invalid);
    CHECK(f.publish("", "x", 0, 0) == result::invalid);
    CHECK(f.publish(std::string(70000, 'a'), "x", 0, 0) == result::invalid);
    // Filters and identifiers that MQTT cannot encode are refused, not truncated.
    const codec::subscription_request empty[] = {{std::string_view(), 0, false, false, 0}};
    CHECK(f.client.subscribe(empty) == 0);
    const std::string long_filter(70000, 'f');
    const codec::subscription_request too_long[] = {{long_filter, 0, false, false, 0}};
    CHECK(f.client.subscribe(too_long) == 0);
    const codec::subscription_request fine[] = {{"t", 0, false, false, 0}};
    CHECK(f.client.subscribe(fine, 268435456) == 0);  // over the largest Variable Byte Integer
    const std::string_view long_unsubscribe[] = {long_filter};
    CHECK(f.client.unsubscribe(long_unsubscribe) == 0);
    CHECK(f.out().empty());
    CHECK(f.client.subscribe(fine, 268435455) == 1);
}

TEST_CASE("options that MQTT cannot carry refuse to start, with the reason") {
    auto o = v311_options();
    o.password = "secret";
    CHECK(protocol::problem_with(o).has_value());
    fixture f(o);
    f.client.start(t0);
    CHECK(f.out().empty());
    CHECK(f.events.closings == std::vector<reason_code>{reason_code::implementation_specific_error});
    CHECK(f.events.last_why.find("username") != std::string::npos);
    o.version = protocol_version::v5;
    CHECK_FALSE(protocol::problem_with(o).has_value());
}

TEST_CASE("a SUBACK whose reason count differs from the request is the server's error") {
    fixture f(v311_options());
    f.connect();
    const codec::subscription_request filters[] = {{"a", 1, false, false, 0}, {"b", 1, false, false, 0}};
    CHECK(f.client.subscribe(filters) == 1);
    f.out();
    f.feed(make_bytes({0x90, 0x03, 0x00, 0x01, 0x01}));
    CHECK(f.events.acks.empty());
    CHECK(f.events.closings == std::vector<reason_code>{reason_code::protocol_error});
}

TEST_CASE("MQTT 5: a PUBLISH without topic or alias is the server's error; an assigned id is kept") {
    auto o = v5_options("");
    o.clean_start = false;
    o.session_expiry = 60;
    fixture f(o);
    // CONNACK with Assigned Client Identifier "srv".
    f.connect(make_bytes({0x20, 0x09, 0x00, 0x00, 0x06, 0x12, 0x00, 0x03, 's', 'r', 'v'}));
    f.feed(make_bytes({0x30, 0x04, 0x00, 0x00, 0x00, 'x'}));
    CHECK(f.events.closings == std::vector<reason_code>{reason_code::protocol_error});
    f.client.on_transport_closed();
    f.client.start(t0);
    const auto wire = f.out();
    const auto frame = codec::test::parse_frame(wire);
    codec::connect_packet c;
    REQUIRE(codec::decode_connect(frame.body, c) == reason_code::success);
    CHECK(c.client_id == "srv");
}

}  // TEST_SUITE
