// Retained messages as one copy for the whole broker (core/retained_messages):
// the sharded store itself, and two workers driven by hand (broker_test_util.hpp), where a retained
// PUBLISH must not reach a worker that has no subscriber for it, and a later
// subscriber on that worker must still get it.
#include <doctest/doctest.h>

#include <algorithm>

#include "core/retained_messages.hpp"
#include "broker_test_util.hpp"

using namespace strata;
using namespace strata::test;

namespace {

message_ref retained(std::string_view topic, std::string_view payload, std::uint64_t order) {
    message::init in;
    in.topic = topic;
    in.payload = codec::as_bytes(payload);
    in.retain = true;
    mutable_message_ref m(message::create(in));
    m->set_retain_order(order);
    return message_ref(std::move(m));
}

std::vector<std::string> topics_of(const std::vector<message_ref>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.emplace_back(m->topic());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<codec::packet_type> types_of(const std::vector<packet>& packets) {
    std::vector<codec::packet_type> types;
    for (const auto& p : packets) types.push_back(p.type());
    return types;
}

}  // namespace

TEST_SUITE("retained") {

TEST_CASE("the sharded store: plain filters, wildcards across shards, clears, newest wins") {
    core::retained_messages store;
    for (int i = 0; i < 64; ++i) store.apply(retained("a/" + std::to_string(i), "v", static_cast<std::uint64_t>(i + 1)));
    store.apply(retained("b", "v", 100));
    CHECK(store.size() == 65);
    std::vector<message_ref> out;
    store.collect("a/+", steady_clock::now(), out);
    CHECK(out.size() == 64);
    out.clear();
    store.collect("a/7", steady_clock::now(), out);
    CHECK(topics_of(out) == std::vector<std::string>{"a/7"});
    out.clear();
    store.collect("#", steady_clock::now(), out);
    CHECK(out.size() == 65);
    // An older update that arrives late (another worker took the lock later) loses.
    store.apply(retained("b", "new", 200));
    store.apply(retained("b", "old", 150));
    out.clear();
    store.collect("b", steady_clock::now(), out);
    REQUIRE(out.size() == 1);
    CHECK(std::string(codec::as_chars(out[0]->payload())) == "new");
    // An empty payload clears the topic.
    store.apply(retained("b", "", 300));
    out.clear();
    store.collect("b", steady_clock::now(), out);
    CHECK(out.empty());
    CHECK(store.size() == 64);
}

TEST_CASE("a retained PUBLISH stays on its worker without subscribers there; a later subscriber elsewhere gets it") {
    for (auto v : {v311, v5}) {
        CAPTURE(static_cast<int>(v));
        harness h([](config::broker_config& c) { c.threads = 2; });
        REQUIRE(h.broker->worker_count() == 2);
        client pub(h, 0, v);
        pub.send(connect_bytes(v, "pub"));
        CHECK(types_of(pub.take()) == std::vector<codec::packet_type>{packet_type::connack});

        pub.conn.on_input(publish_bytes(v, "status/dev1", "online", 1, 1, true));
        // Worker 0 routes it; nothing at all is posted to worker 1.
        auto& w0 = h.broker->worker_at(0).io();
        for (int i = 0; i < 10 && w0.poll() > 0; ++i) w0.restart();
        w0.restart();
        auto& w1 = h.broker->worker_at(1).io();
        CHECK(w1.poll() == 0);
        w1.restart();
        CHECK(types_of(pub.take()) == std::vector<codec::packet_type>{packet_type::puback});

        client sub(h, 1, v);
        sub.send(connect_bytes(v, "sub"));
        CHECK(types_of(sub.take()) == std::vector<codec::packet_type>{packet_type::connack});
        sub.send(subscribe_bytes(v, 1, {test::sub("status/#", 1)}));
        CHECK(types_of(sub.take()) == std::vector<codec::packet_type>{packet_type::suback, packet_type::publish});
    }
}

}  // TEST_SUITE
