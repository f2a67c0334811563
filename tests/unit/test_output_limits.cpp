// The cap on a slow consumer's pending output (max_client_output_bytes,
// slow_client_action), through real connections on one worker.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "broker_test_util.hpp"

using namespace strata;
using namespace strata::test;

namespace {

std::uint64_t dropped(harness& h) { return h.worker().stats().messages_dropped.load(); }

// Publishes `count` QoS `qos` messages of `size` payload bytes on `topic`.
void flood(client& p, std::string_view topic, int count, std::size_t size, std::uint8_t qos = 0) {
    const std::string payload(size, 'p');
    for (int i = 0; i < count; ++i) {
        p.send(publish_bytes(p.version, topic, payload, qos, static_cast<std::uint16_t>(qos ? i + 1 : 0)));
    }
    p.take();  // acknowledgements
}

}  // namespace

TEST_SUITE("broker") {

TEST_CASE("slow consumer, drop_qos0: QoS 0 beyond max_client_output_bytes is dropped and counted") {
    harness h([](config::broker_config& c) { c.max_client_output_bytes = 1000; });
    client slow(h, v5), pub(h, v5);
    connect(slow, "slow");
    subscribe(slow, {sub("f/#", 0), sub("q/#", 1)});
    connect(pub, "pub");

    flood(pub, "f/t", 50, 100);  // 50 PUBLISH packets of 107 bytes; the slow client reads none
    CHECK(slow.conn.output().size() <= 1000);
    const auto got = slow.take();
    CHECK(got.size() == 9);  // 9 * 107 <= 1000
    CHECK(dropped(h) == 41);
    CHECK_FALSE(slow.closing());

    // Its output drained (the socket took it): messages flow again.
    flood(pub, "f/t", 1, 100);
    CHECK(slow.take().size() == 1);

    // QoS 1 is not dropped: the in-flight window (20) bounds it instead.
    flood(pub, "f/t", 20, 100);
    flood(pub, "q/t", 25, 100, 1);
    int qos1 = 0;
    for (const auto& p : slow.take()) qos1 += as_publish(p, v5).qos == 1 ? 1 : 0;
    CHECK(qos1 == 20);
    CHECK(dropped(h) == 41 + 11);

    // A message larger than the cap still goes when nothing waits.
    flood(pub, "f/big", 1, 5000);
    const auto big = slow.take();
    REQUIRE(big.size() == 1);
    CHECK(as_publish(big[0], v5).payload.size() == 5000);
}

TEST_CASE("slow consumer, drop_qos0: a dropped message does not define a topic alias") {
    harness h([](config::broker_config& c) { c.max_client_output_bytes = 300; });
    client slow(h, v5), pub(h, v5);
    connect(slow, "slow", true, [](codec::connect_packet& p) { p.props.topic_alias_maximum = 5; });
    subscribe(slow, {sub("a/#", 0)});
    connect(pub, "pub");
    flood(pub, "a/1", 1, 250);
    flood(pub, "a/2", 1, 250);  // dropped: a/2 gets no alias
    auto first = slow.take();
    REQUIRE(first.size() == 1);
    flood(pub, "a/2", 1, 10);  // must carry its topic name, as the alias is new
    auto second = slow.take();
    REQUIRE(second.size() == 1);
    const auto p = as_publish(second[0], v5);
    CHECK(p.topic == "a/2");
}

TEST_CASE("slow consumer, disconnect: DISCONNECT 0x97 instead of the backlog, will published") {
    harness h([](config::broker_config& c) {
        c.max_client_output_bytes = 1000;
        c.slow_client = config::slow_client_action::disconnect;
    });
    client watcher(h, v5), slow(h, v5), pub(h, v5);
    connect(watcher, "watcher");
    subscribe(watcher, {sub("will/#", 0)});
    connect(slow, "slow", true, [](codec::connect_packet& p) {
        p.has_will = true;
        p.will.topic = "will/slow";
        p.will.payload = codec::as_bytes("gone");
    });
    subscribe(slow, {sub("f/#", 0)});
    connect(pub, "pub");
    flood(pub, "f/t", 20, 100);
    CHECK(slow.closing());
    const auto got = slow.take();
    REQUIRE(got.size() == 1);  // the unsent backlog was discarded
    CHECK(as_disconnect(got[0], v5).reason == reason_code::quota_exceeded);
    auto w = watcher.take();
    REQUIRE(w.size() == 1);
    CHECK(payload_of(as_publish(w[0], v5)) == "gone");

    client old(h, v311);  // 3.1.1: closed without a packet
    connect(old, "old");
    subscribe(old, {sub("f/#", 0)});
    flood(pub, "f/t", 20, 100);
    CHECK(old.closing());
    CHECK(old.take().empty());
}

TEST_CASE("slow consumer: no cap with max_client_output_bytes 0") {
    harness h([](config::broker_config& c) { c.max_client_output_bytes = 0; });
    client slow(h, v311), pub(h, v5);
    connect(slow, "slow");
    subscribe(slow, {sub("f/#", 0)});
    connect(pub, "pub");
    flood(pub, "f/t", 100, 100);
    CHECK(slow.take().size() == 100);
    CHECK(dropped(h) == 0);
}

}  // TEST_SUITE
