// The two roles of the protocol layer talking to each other: a
// protocol::client_connection wired in memory to the broker's
// protocol::connection (one worker, no threads, no sockets). QoS flows in both
// directions and a session resumed across a reconnect must come out whole.
#include <doctest/doctest.h>

#include <memory>

#include "protocol/client_connection.hpp"
#include "broker_test_util.hpp"

using namespace strata;
using namespace strata::test;

namespace {

// A client_connection whose network is a server-side connection of `h`'s broker.
struct wired_client final : protocol::client_handler {
    wired_client(harness& h, protocol::client_options o) : owner(h), role(std::move(o), *this) {}

    // A new network connection: CONNECT, and whatever follows until both sides are quiet.
    void connect() {
        server = std::make_unique<client>(owner, role.version());
        role.start(protocol::client_clock::now());
        pump();
    }
    // The network drops (no DISCONNECT).
    void drop() {
        server->conn.on_transport_closed();
        owner.poll();
        role.on_transport_closed();
    }
    // Moves bytes both ways until neither side has more to say.
    void pump() {
        for (int round = 0; round < 100; ++round) {
            bool moved = false;
            if (role.has_output()) {
                const auto b = role.take_output();
                server->send(bytes(b.begin(), b.end()));
                moved = true;
            }
            if (const bytes all = server->take_bytes(); !all.empty()) {
                role.on_input(all, protocol::client_clock::now());
                moved = true;
            }
            if (!moved) return;
        }
        FAIL("the two sides kept talking");
    }
    bool connected() const { return role.current_state() == protocol::client_connection::state::connected; }
    void publish(std::string_view topic, std::string_view payload, std::uint8_t qos, std::uint64_t token) {
        codec::publish_packet p;
        p.topic = topic;
        p.payload = codec::as_bytes(payload);
        p.qos = qos;
        REQUIRE(role.publish(p, token) == protocol::client_connection::publish_result::sent);
    }

    void on_connack(const protocol::connack_info& info) override { connacks.push_back(info); }
    void on_message(const codec::publish_packet& p, std::uint64_t) override {
        messages.push_back(std::string(p.topic) + "=" + payload_of(p) + " q" + std::to_string(p.qos));
    }
    void on_published(std::uint64_t token, reason_code reason) override { published.emplace_back(token, reason); }
    void on_subscribe_ack(packet_type, std::uint16_t, std::span<const std::uint8_t> reasons) override {
        granted.insert(granted.end(), reasons.begin(), reasons.end());
    }
    void on_closing(reason_code reason, std::string_view) override { closings.push_back(reason); }

    harness& owner;
    protocol::client_connection role;
    std::unique_ptr<client> server;
    std::vector<protocol::connack_info> connacks;
    std::vector<std::string> messages;
    std::vector<std::pair<std::uint64_t, reason_code>> published;
    std::vector<std::uint8_t> granted;
    std::vector<reason_code> closings;
};

protocol::client_options options(protocol_version v, std::string id, bool clean = true) {
    protocol::client_options o;
    o.version = v;
    o.client_id = std::move(id);
    o.clean_start = clean;
    if (v == v5 && !clean) o.session_expiry = 600;
    return o;
}

}  // namespace

TEST_SUITE("broker") {

TEST_CASE("client role against server role: subscribe, then QoS 0, 1 and 2 both ways") {
    for (auto v : {protocol_version::v31, v311, v5}) {
        CAPTURE(static_cast<int>(v));
        harness h;
        wired_client sub(h, options(v, "sub"));
        wired_client pub(h, options(v, "pub"));
        sub.connect();
        pub.connect();
        REQUIRE(sub.connected());
        REQUIRE(pub.connected());
        const codec::subscription_request filters[] = {{"t/#", 2, false, false, 0}};
        REQUIRE(sub.role.subscribe(filters) != 0);
        sub.pump();
        CHECK(sub.granted == std::vector<std::uint8_t>{2});

        pub.publish("t/0", "zero", 0, 0);
        pub.publish("t/1", "one", 1, 11);
        pub.publish("t/2", "two", 2, 12);
        pub.pump();
        sub.pump();
        pub.pump();
        CHECK(pub.published == std::vector<std::pair<std::uint64_t, reason_code>>{{11, reason_code::success},
                                                                                  {12, reason_code::success}});
        CHECK(pub.role.in_flight() == 0);
        CHECK(sub.messages == std::vector<std::string>{"t/0=zero q0", "t/1=one q1", "t/2=two q2"});
        CHECK(sub.closings.empty());
        CHECK(pub.closings.empty());
    }
}

TEST_CASE("client role: a session resumed after the network drops gets what was queued, once") {
    for (auto v : {v311, v5}) {
        CAPTURE(static_cast<int>(v));
        harness h;
        wired_client sub(h, options(v, "keeper", false));
        wired_client pub(h, options(v, "pub"));
        sub.connect();
        pub.connect();
        const codec::subscription_request filters[] = {{"q/#", 2, false, false, 0}};
        sub.role.subscribe(filters);
        sub.pump();
        sub.drop();
        pub.publish("q/1", "while away 1", 1, 1);
        pub.publish("q/2", "while away 2", 2, 2);
        pub.pump();
        CHECK(pub.published.size() == 2);
        CHECK(sub.messages.empty());

        sub.connect();
        REQUIRE(sub.connacks.size() == 2);
        CHECK(sub.connacks[1].session_present);
        CHECK(sub.messages == std::vector<std::string>{"q/1=while away 1 q1", "q/2=while away 2 q2"});
        // Nothing is left in flight on either side: a third message flows as usual.
        pub.publish("q/3", "after", 2, 3);
        pub.pump();
        sub.pump();
        pub.pump();
        CHECK(sub.messages.size() == 3);
        CHECK(pub.published.size() == 3);
    }
}

TEST_CASE("client role: our QoS 2 message interrupted after PUBREC is completed once after a reconnect") {
    harness h;
    wired_client sub(h, options(v5, "sub"));
    wired_client pub(h, options(v5, "pub2", false));
    sub.connect();
    pub.connect();
    const codec::subscription_request filters[] = {{"x", 1, false, false, 0}};
    sub.role.subscribe(filters);
    sub.pump();
    pub.publish("x", "exactly once", 2, 9);
    // Deliver the PUBLISH, and the PUBREC back, but lose the PUBREL on the way.
    const auto first = pub.role.take_output();
    pub.server->send(bytes(first.begin(), first.end()));
    pub.role.on_input(pub.server->take_bytes(), protocol::client_clock::now());
    pub.role.take_output();  // the PUBREL, lost
    pub.drop();
    pub.connect();
    CHECK(pub.connacks.back().session_present);
    CHECK(pub.published == std::vector<std::pair<std::uint64_t, reason_code>>{{9, reason_code::success}});
    sub.pump();
    CHECK(sub.messages == std::vector<std::string>{"x=exactly once q1"});
}

}  // TEST_SUITE
