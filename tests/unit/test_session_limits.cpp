// max_inflight_bytes and max_queued_bytes (Mosquitto's semantics, man
// mosquitto.conf): payload bytes in flight and queued per session, each
// limit applied with its message-count sibling, whichever is reached first.
#include <doctest/doctest.h>

#include "test_printers.hpp"

#include <string>
#include <vector>

#include "session/session.hpp"
#include "session_test_util.hpp"

using namespace strata;
using namespace strata::test;

TEST_SUITE("session") {

TEST_CASE("max_inflight_bytes: messages go in flight until the byte limit is reached") {
    delivery_limits limits;
    limits.max_inflight_messages = 0;
    limits.max_inflight_bytes = 100;
    session s("c", 1, limits);
    recording_sink sink;
    s.attach(&sink);
    for (auto t : {"a", "b", "c", "d"}) s.deliver(sized_msg(t, 40), 1, false, {});
    // 0, 40 and 80 bytes in flight are below 100: a, b and c go; then 120 are.
    CHECK(sink.topics() == topics{"a", "b", "c"});
    CHECK(s.inflight_bytes() == 120);
    CHECK(s.queued_count() == 1);
    CHECK(s.queued_bytes() == 40);
    CHECK(s.on_puback(sink.calls[0].packet_id));  // 80 left: d goes
    CHECK(sink.topics() == topics{"a", "b", "c", "d"});
    CHECK(s.inflight_bytes() == 120);
    CHECK(s.queued_bytes() == 0);
    for (std::size_t i = 1; i < 4; ++i) CHECK(s.on_puback(sink.calls[i].packet_id));
    CHECK(s.inflight_bytes() == 0);
    CHECK(s.inflight_count() == 0);
}

TEST_CASE("max_inflight_bytes: a message larger than the limit still goes, alone") {
    delivery_limits limits;
    limits.max_inflight_bytes = 100;
    session s("c", 1, limits);
    recording_sink sink;
    s.attach(&sink);
    s.deliver(sized_msg("big", 300), 1, false, {});
    s.deliver(sized_msg("small", 1), 1, false, {});
    CHECK(sink.topics() == topics{"big"});
    CHECK(s.on_puback(sink.calls[0].packet_id));
    CHECK(sink.topics() == topics{"big", "small"});
}

TEST_CASE("max_inflight_bytes and max_inflight_messages: whichever is reached first") {
    delivery_limits limits;
    limits.max_inflight_messages = 2;
    limits.max_inflight_bytes = 1000;
    session s("c", 1, limits);
    recording_sink sink(3);  // Receive Maximum 3
    s.attach(&sink);
    for (auto t : {"a", "b", "c"}) s.deliver(sized_msg(t, 10), 1, false, {});
    CHECK(sink.topics() == topics{"a", "b"});  // the count first
    limits.max_inflight_messages = 0;          // now the Receive Maximum (3) and the bytes
    limits.max_inflight_bytes = 15;
    CHECK(s.on_puback(sink.calls[0].packet_id));
    CHECK(sink.topics() == topics{"a", "b", "c"});  // 10 bytes in flight < 15
    s.deliver(sized_msg("d", 10), 1, false, {});  // 20 bytes >= 15
    CHECK(sink.topics() == topics{"a", "b", "c"});
}

TEST_CASE("max_inflight_bytes: a released QoS 2 message counts until PUBCOMP") {
    delivery_limits limits;
    limits.max_inflight_bytes = 100;
    session s("c", 1, limits);
    recording_sink sink;
    s.attach(&sink);
    s.deliver(sized_msg("q2", 120, 2), 2, false, {});
    s.deliver(sized_msg("next", 10), 1, false, {});
    CHECK(sink.topics() == topics{"q2"});
    const auto id = sink.calls[0].packet_id;
    CHECK(s.on_pubrec(id, false));  // the payload is let go, the exchange is not over
    CHECK(sink.topics() == topics{"q2"});
    CHECK(s.inflight_bytes() == 120);
    CHECK(s.on_pubcomp(id));
    CHECK(sink.topics() == topics{"q2", "next"});
    CHECK(s.inflight_bytes() == 10);
}

TEST_CASE("max_inflight_bytes after a reconnect: the rest stays parked until bytes are acknowledged") {
    delivery_limits limits;
    limits.max_inflight_messages = 0;
    session s("c", 1, limits);
    recording_sink first;
    s.attach(&first);
    for (auto t : {"m0", "m1", "m2", "m3"}) s.deliver(sized_msg(t, 50), 1, false, {});
    REQUIRE(first.calls.size() == 4);
    s.detach();
    limits.max_inflight_bytes = 100;  // limits are read at use (a reload)

    recording_sink second;
    s.attach(&second);
    s.resend_inflight();
    CHECK(second.topics() == topics{"m0", "m1"});  // 0 and 50 bytes are below 100
    CHECK(s.parked_count() == 2);
    s.deliver(sized_msg("new", 1), 1, false, {});  // behind the parked ones
    CHECK(s.on_puback(second.calls[0].packet_id));
    CHECK(second.topics() == topics{"m0", "m1", "m2"});
    CHECK(second.calls.back().dup);
    CHECK(s.on_puback(first.calls[3].packet_id));  // m3, acknowledged while parked, is done
    CHECK(s.parked_count() == 0);
    CHECK(second.topics() == topics{"m0", "m1", "m2"});  // m1 and m2 hold 100 bytes: "new" waits
    CHECK(s.queued_count() == 1);
    CHECK(s.on_puback(second.calls[1].packet_id));
    CHECK(second.topics() == topics{"m0", "m1", "m2", "new"});
    CHECK_FALSE(second.calls.back().dup);
    CHECK(s.inflight_bytes() == 51);
    CHECK(s.on_puback(second.calls[2].packet_id));
    CHECK(s.on_puback(second.calls[3].packet_id));
    CHECK(s.inflight_bytes() == 0);
    CHECK(s.inflight_count() == 0);
}

TEST_CASE("max_queued_bytes: queued while the queue holds fewer bytes, whichever limit first") {
    delivery_limits limits;
    limits.max_queued_bytes = 100;
    limits.max_queued_messages = 1000;
    session s("c", 1, limits);  // offline: everything is queued
    for (auto t : {"a", "b", "c", "d"}) s.deliver(sized_msg(t, 40), 1, false, {});
    CHECK(s.queued_count() == 3);  // 0, 40, 80 < 100; 120 is not
    CHECK(s.queued_bytes() == 120);
    CHECK(s.dropped_count() == 1);
    // A large message goes into a queue with room, so it is not refused forever.
    limits.max_queued_bytes = 1000;
    s.deliver(sized_msg("big", 5000), 2, false, {});
    CHECK(s.queued_count() == 4);
    s.deliver(sized_msg("e", 1), 1, false, {});
    CHECK(s.dropped_count() == 2);
    // The message count reached first.
    limits.max_queued_bytes = 1000000;
    limits.max_queued_messages = 4;
    s.deliver(sized_msg("f", 1), 1, false, {});
    CHECK(s.dropped_count() == 3);
    // QoS 0 for an offline client counts too (queue_qos0_messages).
    limits.max_queued_messages = 0;
    limits.queue_qos0_messages = true;
    s.deliver(sized_msg("z", 7, 0), 0, false, {});
    CHECK(s.queued_bytes() == 120 + 5000 + 7);

    recording_sink sink;
    s.attach(&sink);
    s.pump();
    CHECK(sink.topics() == topics{"a", "b", "c", "big", "z"});
    CHECK(s.queued_bytes() == 0);
    CHECK(s.inflight_bytes() == 5120);  // the QoS 0 one is not in flight
    for (std::size_t i = 0; i < 4; ++i) {
        if (sink.calls[i].qos == 1) CHECK(s.on_puback(sink.calls[i].packet_id));
        else CHECK(s.on_pubrec(sink.calls[i].packet_id, false));
    }
    CHECK(s.on_pubcomp(sink.calls[3].packet_id));
    CHECK(s.inflight_bytes() == 0);
}

TEST_CASE("byte counts follow a queued message dropped as too large for the client") {
    delivery_limits limits;
    limits.max_inflight_messages = 1;
    session s("c", 1, limits);
    recording_sink sink;  // refuses big/ topics
    s.deliver(sized_msg("big/1", 30), 1, false, {});
    s.deliver(sized_msg("ok", 20), 1, false, {});
    CHECK(s.queued_bytes() == 50);
    s.attach(&sink);
    s.pump();
    CHECK(sink.topics() == topics{"ok"});
    CHECK(s.queued_bytes() == 0);
    CHECK(s.inflight_bytes() == 20);
    CHECK(s.on_puback(sink.calls[0].packet_id));
    CHECK(s.inflight_bytes() == 0);
}

}  // TEST_SUITE
