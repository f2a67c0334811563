// Packet identifiers and outbound delivery of one session (sections 4.3,
// 4.4, 4.9) through a recording delivery_sink.
#include <doctest/doctest.h>

#include "test_printers.hpp"

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "session/message.hpp"
#include "session/packet_id_pool.hpp"
#include "session/session.hpp"
#include "session_test_util.hpp"

using namespace strata;
using namespace strata::test;

TEST_SUITE("session") {

TEST_CASE("packet_id_pool: sequential, never 0, exhaustion returns 0 [MQTT-2.2.1-2]") {
    packet_id_pool pool;
    for (std::uint32_t expected = 1; expected <= 65535; ++expected) {
        const auto id = pool.allocate();
        REQUIRE(id == expected);
    }
    CHECK(pool.allocate() == 0);  // all 65535 in use
    CHECK(pool.allocate() == 0);
    pool.release(10);
    CHECK(pool.allocate() == 10);  // wraps around to the only free id
    CHECK(pool.allocate() == 0);
    pool.release(5);
    pool.release(3);
    CHECK(pool.allocate() == 3);
    CHECK(pool.allocate() == 5);
    CHECK(pool.allocate() == 0);
    pool.release(0);  // not an id: ignored
    CHECK(pool.allocate() == 0);
}

TEST_CASE("packet_id_pool: no reuse while in use, increasing order, wrap-around") {
    packet_id_pool pool;
    CHECK(pool.allocate() == 1);
    CHECK(pool.allocate() == 2);
    CHECK(pool.allocate() == 3);
    pool.release(2);
    CHECK(pool.allocate() == 4);  // 2 comes back only after a full cycle
    pool.release(2);              // double release is harmless
    pool.release(999);            // releasing an id never handed out too

    // Random use: an id in use is never handed out again, and 0 never appears.
    std::set<std::uint16_t> in_use{1, 3, 4};
    std::mt19937 rng(7);
    for (int i = 0; i < 200'000; ++i) {
        if (in_use.size() < 300 && (rng() % 3 != 0 || in_use.empty())) {
            const auto id = pool.allocate();
            REQUIRE(id != 0);
            REQUIRE(in_use.insert(id).second);
        } else {
            auto it = in_use.begin();
            std::advance(it, static_cast<long>(rng() % in_use.size()));
            pool.release(*it);
            in_use.erase(it);
        }
    }
}

TEST_CASE("packet_id_pool: few ids in use and many, and back, never hand out one in use") {
    // Up to 8 ids in use live in a small array; a 9th makes a bitmap, which
    // goes when nothing is in use. Random use around that bound, with
    // restores (reserve) and shrinks whenever the pool is empty.
    packet_id_pool pool;
    std::set<std::uint16_t> in_use;
    std::mt19937 rng(11);
    std::uint16_t restored = 40000;
    for (int i = 0; i < 100'000; ++i) {
        const auto roll = rng() % 10;
        if (roll < 5 && in_use.size() < 12) {
            const auto id = pool.allocate();
            REQUIRE(id != 0);
            REQUIRE(in_use.insert(id).second);
        } else if (roll == 5 && in_use.size() < 12) {
            restored = static_cast<std::uint16_t>(restored % 65535 + 1);
            if (in_use.contains(restored)) continue;
            pool.reserve(restored);
            in_use.insert(restored);
        } else if (!in_use.empty()) {
            auto it = in_use.begin();
            std::advance(it, static_cast<long>(rng() % in_use.size()));
            pool.release(*it);
            pool.release(*it);  // twice: harmless
            in_use.erase(it);
        }
        if (in_use.empty()) pool.shrink();
    }
    // Whatever is still in use is still refused: fill the pool and check.
    std::set<std::uint16_t> handed_out;
    for (std::uint32_t n = in_use.size(); n < 65535; ++n) {
        const auto id = pool.allocate();
        REQUIRE(id != 0);
        REQUIRE_FALSE(in_use.contains(id));
        REQUIRE(handed_out.insert(id).second);
    }
    CHECK(pool.allocate() == 0);
}

TEST_CASE("packet_id_pool: shrink only when idle") {
    packet_id_pool pool;
    pool.shrink();  // nothing allocated yet
    CHECK(pool.allocate() == 1);
    pool.shrink();  // 1 in use: kept
    CHECK(pool.allocate() == 2);
    pool.release(1);
    pool.release(2);
    pool.shrink();
    const auto next = pool.allocate();
    CHECK(next != 0);
    CHECK(next != 1);  // keeps counting: a just-released id is not reused at once
}

TEST_CASE("QoS 0: sent directly online, dropped offline, queued with queue_qos0_messages") {
    delivery_limits limits;
    session s("c", 1, limits);
    recording_sink sink;
    CHECK_FALSE(s.online());
    s.deliver(msg("t0", 0), 0, false, {});
    CHECK(s.queued_count() == 0);
    s.attach(&sink);
    CHECK(s.online());
    CHECK(s.presence()->online);
    const std::uint32_t ids[] = {4, 9};
    s.deliver(msg("t1", 0), 0, true, ids);
    REQUIRE(sink.calls.size() == 1);
    CHECK(sink.calls[0].topic == "t1");
    CHECK(sink.calls[0].qos == 0);
    CHECK(sink.calls[0].packet_id == 0);
    CHECK(sink.calls[0].retain);
    CHECK_FALSE(sink.calls[0].dup);
    CHECK(sink.calls[0].ids == std::vector<std::uint32_t>{4, 9});
    CHECK(s.inflight_count() == 0);

    s.detach();
    CHECK_FALSE(s.presence()->online);
    limits.queue_qos0_messages = true;  // limits are read at use
    s.deliver(msg("t2", 0), 0, false, {});
    CHECK(s.queued_count() == 1);
    recording_sink again;
    s.attach(&again);
    s.pump();
    CHECK(again.topics() == topics{"t2"});
    CHECK(again.calls[0].qos == 0);
    CHECK(s.queued_count() == 0);
}

TEST_CASE("in-flight window = min(client Receive Maximum, max_inflight_messages)") {
    struct row {
        std::uint16_t receive_maximum;
        std::uint16_t max_inflight;
        std::size_t window;
    };
    for (const row r : {row{3, 5, 3}, row{10, 2, 2}, row{4, 0, 4}, row{65535, 20, 20}}) {
        CAPTURE(r.receive_maximum);
        CAPTURE(r.max_inflight);
        delivery_limits limits;
        limits.max_inflight_messages = r.max_inflight;
        session s("c", 1, limits);
        recording_sink sink(r.receive_maximum);
        s.attach(&sink);
        for (int i = 0; i < 30; ++i) s.deliver(msg("q" + std::to_string(i), 1), 1, false, {});
        CHECK(s.inflight_count() == r.window);
        CHECK(s.queued_count() == 30 - r.window);
        CHECK(sink.calls.size() == r.window);  // [MQTT-3.3.4-7]
    }
}

TEST_CASE("queue bound: max_queued_messages and dropped_count") {
    std::atomic<std::uint64_t> worker_dropped{0};
    delivery_limits limits;
    limits.max_queued_messages = 3;
    limits.dropped_messages = &worker_dropped;
    session s("c", 1, limits);
    for (int i = 0; i < 5; ++i) s.deliver(msg("m" + std::to_string(i)), 1, false, {});
    CHECK(s.queued_count() == 3);
    CHECK(s.dropped_count() == 2);
    CHECK(worker_dropped == 2);  // for $SYS
    recording_sink sink;
    s.attach(&sink);
    s.pump();
    CHECK(sink.topics() == topics{"m0", "m1", "m2"});  // the oldest are kept
    limits.max_queued_messages = 0;  // no limit
    s.detach();
    for (int i = 0; i < 2000; ++i) s.deliver(msg("n"), 2, false, {});
    CHECK(s.queued_count() == 2000);
    CHECK(s.dropped_count() == 2);
}

TEST_CASE("order is preserved: queued messages go before new ones [MQTT-4.6.0-6]") {
    delivery_limits limits;
    limits.max_inflight_messages = 2;
    session s("c", 1, limits);
    recording_sink sink;
    SUBCASE("window full") {
        s.attach(&sink);
        for (auto t : {"m1", "m2", "m3", "m4"}) s.deliver(msg(t), 1, false, {});
        CHECK(sink.topics() == topics{"m1", "m2"});
        CHECK(s.on_puback(sink.calls[0].packet_id));
        CHECK(sink.topics() == topics{"m1", "m2", "m3"});
        s.deliver(msg("m5"), 1, false, {});  // m4 is still waiting
        CHECK(sink.topics() == topics{"m1", "m2", "m3"});
        CHECK(s.on_puback(sink.calls[1].packet_id));
        CHECK(s.on_puback(sink.calls[2].packet_id));
        CHECK(sink.topics() == topics{"m1", "m2", "m3", "m4", "m5"});
    }
    SUBCASE("queued while offline, new message after attach") {
        s.deliver(msg("m1"), 1, false, {});
        s.deliver(msg("m2"), 2, false, {});
        s.attach(&sink);
        s.deliver(msg("m3"), 1, false, {});  // must not overtake m1 and m2
        CHECK(sink.topics().empty());
        s.pump();
        CHECK(sink.topics() == topics{"m1", "m2"});
        CHECK(s.on_puback(sink.calls[0].packet_id));
        CHECK(sink.topics() == topics{"m1", "m2", "m3"});
    }
}

TEST_CASE("QoS 1 and QoS 2 acknowledgement transitions") {
    delivery_limits limits;
    session s("c", 1, limits);
    recording_sink sink;
    s.attach(&sink);
    s.deliver(msg("one"), 1, false, {});
    s.deliver(msg("two"), 2, false, {});
    REQUIRE(sink.calls.size() == 2);
    const auto id1 = sink.calls[0].packet_id;
    const auto id2 = sink.calls[1].packet_id;
    CHECK(id1 != 0);
    CHECK(id2 != 0);
    CHECK(id1 != id2);
    CHECK(sink.calls[1].qos == 2);

    CHECK_FALSE(s.on_puback(4242));    // unknown id
    CHECK_FALSE(s.on_puback(id2));     // PUBACK for a QoS 2 message
    CHECK_FALSE(s.on_pubrec(id1, false));  // PUBREC for a QoS 1 message
    CHECK_FALSE(s.on_pubcomp(id2));    // PUBCOMP before PUBREC
    CHECK(s.inflight_count() == 2);

    CHECK(s.on_puback(id1));
    CHECK(s.inflight_count() == 1);
    CHECK_FALSE(s.on_puback(id1));  // already acknowledged

    CHECK(s.on_pubrec(id2, false));
    REQUIRE(sink.calls.size() == 3);
    CHECK(sink.calls[2].kind == sent::pubrel);  // [MQTT-4.3.3-4]
    CHECK(sink.calls[2].packet_id == id2);
    CHECK(s.inflight_count() == 1);  // waiting for PUBCOMP
    CHECK(s.on_pubcomp(id2));
    CHECK(s.inflight_count() == 0);
    CHECK_FALSE(s.on_pubcomp(id2));
}

TEST_CASE("PUBREC with an error reason code completes the exchange (section 4.3.3)") {
    delivery_limits limits;
    limits.max_inflight_messages = 1;
    session s("c", 1, limits);
    recording_sink sink;
    s.attach(&sink);
    s.deliver(msg("q2"), 2, false, {});
    s.deliver(msg("next"), 2, false, {});
    CHECK(s.queued_count() == 1);
    CHECK(s.on_pubrec(sink.calls[0].packet_id, true));
    CHECK(s.inflight_count() == 1);  // "next" took the freed slot
    CHECK(sink.topics() == topics{"q2", "next"});
    for (const auto& c : sink.calls) CHECK(c.kind == sent::publish);  // no PUBREL for the failed one
    CHECK_FALSE(s.on_pubcomp(sink.calls[0].packet_id));
}

TEST_CASE("resend_inflight: PUBLISH with DUP, PUBREL for released messages [MQTT-4.4.0-1]") {
    delivery_limits limits;
    limits.max_inflight_messages = 3;
    session s("c", 1, limits);
    recording_sink first;
    s.attach(&first);
    const std::uint32_t ids[] = {7};
    s.deliver(msg("a"), 1, false, ids);
    s.deliver(msg("b"), 2, true, {});
    s.deliver(msg("c"), 2, false, {});
    s.deliver(msg("d"), 1, false, {});  // queued: window of 3
    REQUIRE(first.calls.size() == 3);
    const auto ida = first.calls[0].packet_id, idb = first.calls[1].packet_id, idc = first.calls[2].packet_id;
    CHECK(s.on_pubrec(idc, false));
    s.detach();
    CHECK_FALSE(s.online());
    s.deliver(msg("e"), 1, false, {});  // while offline

    recording_sink second;
    s.attach(&second);
    s.resend_inflight();
    REQUIRE(second.calls.size() == 3);
    CHECK(second.calls[0].kind == sent::publish);
    CHECK(second.calls[0].topic == "a");
    CHECK(second.calls[0].packet_id == ida);  // same packet identifier
    CHECK(second.calls[0].dup);               // [MQTT-3.3.1-1]
    CHECK(second.calls[0].ids == std::vector<std::uint32_t>{7});
    CHECK(second.calls[1].topic == "b");
    CHECK(second.calls[1].packet_id == idb);
    CHECK(second.calls[1].dup);
    CHECK(second.calls[1].qos == 2);
    CHECK(second.calls[1].retain);
    CHECK(second.calls[2].kind == sent::pubrel);
    CHECK(second.calls[2].packet_id == idc);
    // Completing one makes room for the queued ones, in order.
    CHECK(s.on_puback(ida));
    CHECK(second.topics() == topics{"a", "b", "d"});
    CHECK(s.on_pubcomp(idc));
    CHECK(second.topics() == topics{"a", "b", "d", "e"});
    CHECK_FALSE(second.calls.back().dup);
}

TEST_CASE("resend_inflight with a smaller Receive Maximum: the rest waits in flight [MQTT-3.3.4-7]") {
    delivery_limits limits;
    limits.max_inflight_messages = 0;  // only the client's Receive Maximum counts
    session s("c", 1, limits);
    recording_sink first(10);
    s.attach(&first);
    for (int i = 0; i < 10; ++i) s.deliver(msg("m" + std::to_string(i)), 1, false, {});
    s.deliver(msg("queued"), 1, false, {});
    REQUIRE(first.calls.size() == 10);
    std::vector<std::uint16_t> ids;
    for (const auto& c : first.calls) ids.push_back(c.packet_id);
    s.detach();

    recording_sink second(2);
    s.attach(&second);
    s.resend_inflight();
    CHECK(second.topics() == topics{"m0", "m1"});  // not 10: the new window is 2
    CHECK(s.inflight_count() == 10);               // the other 8 keep their packet ids
    CHECK(s.parked_count() == 8);
    s.deliver(msg("new"), 1, false, {});  // waits behind the parked ones [MQTT-4.6.0-6]
    CHECK(second.calls.size() == 2);
    // Each acknowledgement releases the next one, in order, with DUP and its old id.
    for (int i = 0; i < 8; ++i) {
        CHECK(s.on_puback(second.calls[static_cast<std::size_t>(i)].packet_id));
        REQUIRE(second.calls.size() == static_cast<std::size_t>(i) + 3);
        const auto& c = second.calls.back();
        CHECK(c.topic == "m" + std::to_string(i + 2));
        CHECK(c.packet_id == ids[static_cast<std::size_t>(i) + 2]);
        CHECK(c.dup);
    }
    CHECK(s.parked_count() == 0);
    // Then the queued messages, without DUP.
    CHECK(s.on_puback(second.calls[8].packet_id));
    CHECK(second.topics().back() == "queued");
    CHECK_FALSE(second.calls.back().dup);
    CHECK(s.on_puback(second.calls[9].packet_id));
    CHECK(second.topics().back() == "new");
    CHECK(s.inflight_count() == 2);
}

TEST_CASE("resend_inflight: released QoS 2 messages take their place in the smaller window") {
    delivery_limits limits;
    limits.max_inflight_messages = 0;
    session s("c", 1, limits);
    recording_sink first(5);
    s.attach(&first);
    for (auto t : {"r1", "a", "r2", "b", "c"}) s.deliver(msg(t, 2), 2, false, {});
    REQUIRE(first.calls.size() == 5);
    const auto r1 = first.calls[0].packet_id, a = first.calls[1].packet_id, r2 = first.calls[2].packet_id;
    const auto b = first.calls[3].packet_id, c = first.calls[4].packet_id;
    CHECK(s.on_pubrec(r1, false));
    CHECK(s.on_pubrec(r2, false));
    s.detach();

    recording_sink second(3);
    s.attach(&second);
    s.resend_inflight();
    // Both PUBRELs (a PUBREL is no PUBLISH: the client needs them to finish),
    // and one PUBLISH: the two messages awaiting PUBCOMP fill the rest of the window.
    REQUIRE(second.calls.size() == 3);
    CHECK(second.calls[0].kind == sent::pubrel);
    CHECK(second.calls[0].packet_id == r1);
    CHECK(second.calls[1].topic == "a");
    CHECK(second.calls[1].dup);
    CHECK(second.calls[2].kind == sent::pubrel);
    CHECK(second.calls[2].packet_id == r2);
    CHECK(s.parked_count() == 2);
    CHECK(s.on_pubcomp(r1));
    REQUIRE(second.calls.size() == 4);
    CHECK(second.calls[3].topic == "b");
    CHECK(second.calls[3].packet_id == b);
    // A PUBREC for a parked message (the client got it on the earlier
    // connection): PUBREL, and it is not resent as a PUBLISH.
    CHECK(s.on_pubrec(c, false));
    REQUIRE(second.calls.size() == 5);
    CHECK(second.calls[4].kind == sent::pubrel);
    CHECK(second.calls[4].packet_id == c);
    CHECK(s.parked_count() == 0);
    CHECK(s.on_pubrec(a, false));
    CHECK(s.on_pubcomp(a));
    CHECK(s.on_pubcomp(r2));
    CHECK(second.topics() == topics{"a", "b"});  // nothing more to resend
    CHECK(s.inflight_count() == 2);              // b (unreleased) and c (released)
}

TEST_CASE("parked messages: acknowledged early, dropped as too large, reset on the next reconnect") {
    delivery_limits limits;
    limits.max_inflight_messages = 0;
    session s("c", 1, limits);
    recording_sink first(4);
    first.refuse_big = false;
    s.attach(&first);
    for (auto t : {"m0", "m1", "big/2", "m3"}) s.deliver(msg(t), 1, false, {});
    REQUIRE(first.calls.size() == 4);
    const auto m1 = first.calls[1].packet_id;
    s.detach();

    recording_sink second(1);  // refuses big/ topics
    s.attach(&second);
    s.resend_inflight();
    CHECK(second.topics() == topics{"m0"});
    CHECK(s.parked_count() == 3);
    CHECK(s.on_puback(m1));  // acknowledged without a resend: no slot was taken
    CHECK(second.topics() == topics{"m0"});
    CHECK(s.parked_count() == 2);
    s.detach();  // m0 unacknowledged again

    recording_sink third(1);
    s.attach(&third);
    s.resend_inflight();
    CHECK(third.topics() == topics{"m0"});
    CHECK(s.parked_count() == 2);
    // big/2 is too large for this client: skipped as if delivered, m3 goes out.
    CHECK(s.on_puback(third.calls[0].packet_id));
    CHECK(third.topics() == topics{"m0", "m3"});
    CHECK(third.calls.back().dup);
    CHECK(s.parked_count() == 0);
    CHECK(s.inflight_count() == 1);
}

TEST_CASE("expired messages are skipped from the queue [MQTT-3.3.2-5]") {
    delivery_limits limits;
    session s("c", 1, limits);
    message::init in;
    in.topic = "exp";
    in.qos = 1;
    in.has_expiry = true;
    in.expiry_interval = 5;
    mutable_message_ref old(message::create(in));
    old->set_received_at(steady_clock::now() - std::chrono::seconds(60));
    mutable_message_ref fresh(message::create(in));
    s.deliver(old, 1, false, {});
    s.deliver(msg("keep", 0), 0, false, {});  // dropped offline (no queue_qos0_messages)
    s.deliver(fresh, 1, false, {});
    CHECK(s.queued_count() == 2);
    recording_sink sink;
    s.attach(&sink);
    s.pump();
    REQUIRE(sink.calls.size() == 1);
    CHECK(sink.calls[0].topic == "exp");
    CHECK(s.inflight_count() == 1);
    CHECK(s.queued_count() == 0);
}

TEST_CASE("a message the sink refuses as too large counts as delivered") {
    delivery_limits limits;
    limits.max_inflight_messages = 1;
    session s("c", 1, limits);
    recording_sink sink;
    s.attach(&sink);
    s.deliver(msg("big/1"), 1, false, {});
    CHECK(s.inflight_count() == 0);  // not waiting for an acknowledgement that cannot come
    s.deliver(msg("small"), 1, false, {});
    CHECK(sink.topics() == topics{"small"});
    CHECK(s.inflight_count() == 1);
    // From the queue too.
    s.deliver(msg("big/2"), 2, false, {});
    s.deliver(msg("after"), 1, false, {});
    CHECK(s.queued_count() == 2);
    CHECK(s.on_puback(sink.calls[0].packet_id));
    CHECK(sink.topics() == topics{"small", "after"});
    CHECK(s.inflight_count() == 1);
    CHECK(s.queued_count() == 0);
    s.deliver(msg("big/3", 0), 0, false, {});  // QoS 0: simply not sent
    CHECK(sink.topics() == topics{"small", "after"});
}

TEST_CASE("resend_inflight to a client that now finds the message too large [MQTT-3.1.2-25]") {
    // The new connection has a smaller Maximum Packet Size: the message is
    // discarded "as if it had completed sending", so it must not hold its
    // in-flight slot waiting for an acknowledgement that cannot come.
    delivery_limits limits;
    limits.max_inflight_messages = 1;
    session s("c", 1, limits);
    recording_sink first;
    first.refuse_big = false;
    s.attach(&first);
    s.deliver(msg("big/x"), 1, false, {});
    s.deliver(msg("queued"), 1, false, {});
    CHECK(first.topics() == topics{"big/x"});
    s.detach();
    recording_sink second;  // refuses big/ topics
    s.attach(&second);
    s.resend_inflight();
    CHECK(s.inflight_count() == 1);
    CHECK(second.topics() == topics{"queued"});
}

TEST_CASE("inbound QoS 2 packet identifiers") {
    delivery_limits limits;
    session s("c", 1, limits);
    CHECK_FALSE(s.inbound_pending(5));
    s.inbound_add(5);
    s.inbound_add(5);
    CHECK(s.inbound_pending(5));
    CHECK(s.inbound_count() == 1);
    CHECK(s.inbound_release(5));
    CHECK_FALSE(s.inbound_release(5));
    CHECK(s.inbound_count() == 0);
}

TEST_CASE("message: layout, expiry and forwarded properties") {
    codec::properties p;
    p.payload_format_indicator = 1;
    p.content_type = "ct";
    p.response_topic = "r";
    p.correlation_data = "cd";
    p.user_properties = {{"k", "v"}, {"a", "b"}};
    p.message_expiry_interval = 10;  // not forwarded as is: recomputed per delivery
    p.topic_alias = 3;               // not forwarded
    codec::byte_buffer fwd;
    encode_forwarded_properties(p, fwd);
    codec::properties expected = p;
    expected.message_expiry_interval.reset();
    expected.topic_alias.reset();
    // The block has no length prefix: add one and read it back.
    codec::byte_buffer block;
    codec::byte_writer w(block);
    w.varint(static_cast<std::uint32_t>(fwd.size()));
    w.raw(fwd);
    codec::byte_reader r(block);
    codec::properties back;
    REQUIRE(codec::read_properties(r, codec::property_context::publish, back));
    CHECK(back == expected);

    message::init in;
    in.topic = "t/x";
    in.payload = codec::as_bytes("data");
    in.forwarded_properties = fwd;
    in.qos = 2;
    in.retain = true;
    in.origin_session = 77;
    in.has_expiry = true;
    in.expiry_interval = 30;
    mutable_message_ref m(message::create(in));
    CHECK(m->topic() == "t/x");
    CHECK(codec::as_chars(m->payload()) == "data");
    CHECK(m->forwarded_properties().size() == fwd.size());
    CHECK(m->qos() == 2);
    CHECK(m->retain());
    CHECK(m->origin_session() == 77);
    const auto t0 = m->received_at();
    CHECK_FALSE(m->expired(t0 + std::chrono::seconds(29)));
    CHECK(m->expired(t0 + std::chrono::seconds(30)));
    CHECK(m->remaining_expiry(t0) == 30);
    CHECK(m->remaining_expiry(t0 + std::chrono::milliseconds(29'001)) == 1);  // rounded up, never 0 [MQTT-3.3.2-6]
    CHECK(m->remaining_expiry(t0 + std::chrono::seconds(31)) == 0);
}

}  // TEST_SUITE

TEST_CASE("session: acknowledgements that wait for the store belong to the session and packet id") {
    delivery_limits limits;
    session s("c", 1, limits);
    s.await_commit(commit_wait_kind::pubrec, 7);
    s.await_commit(commit_wait_kind::puback, 9);
    s.await_commit(commit_wait_kind::puback, 9);  // resent before the first commit: a second copy
    CHECK(s.awaiting_commit(commit_wait_kind::pubrec, 7));
    CHECK_FALSE(s.awaiting_commit(commit_wait_kind::puback, 7));
    CHECK(s.awaiting_pubacks() == 2);
    // The one PUBACK of id 9 waits for both copies; one refused copy refuses it.
    CHECK_FALSE(s.commit_done(commit_wait_kind::puback, 9, false).has_value());
    CHECK(s.commit_done(commit_wait_kind::puback, 9, true)->stored == false);
    CHECK(s.awaiting_pubacks() == 0);
    CHECK(s.commit_done(commit_wait_kind::pubrec, 7, true)->stored == true);
    CHECK_FALSE(s.awaiting_commit(commit_wait_kind::pubrec, 7));
    CHECK_FALSE(s.commit_done(commit_wait_kind::pubrec, 7, true).has_value());  // answered once

    // No matching subscriber: said only when no copy found one.
    s.await_commit(commit_wait_kind::puback, 4);
    s.no_subscribers_for(commit_wait_kind::puback, 4);
    CHECK(s.commit_done(commit_wait_kind::puback, 4, true)->no_subscribers);
    s.await_commit(commit_wait_kind::puback, 5);
    s.no_subscribers_for(commit_wait_kind::puback, 5);
    s.await_commit(commit_wait_kind::puback, 5);  // the resent copy found one
    CHECK_FALSE(s.commit_done(commit_wait_kind::puback, 5, true).has_value());
    CHECK_FALSE(s.commit_done(commit_wait_kind::puback, 5, true)->no_subscribers);
}
