// The plugin host and its hook points, through real connections on one
// worker (broker_test_util.hpp): a built-in plugin registers test callbacks
// through the same C table a .so gets (docs/plugins.md).
#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <thread>

#include "plugin/host.hpp"
#include "broker_test_util.hpp"

using namespace strata;
using namespace strata::test;

namespace {

// Hands the built-in plugin's host table to the test.
const strata_host* captured_host = nullptr;
int capture_init(const strata_host* h, const strata_option*, size_t, void**) {
    captured_host = h;
    return STRATA_OK;
}

using callback_fn = std::function<int(void* event)>;
int trampoline(int, void* data, void* userdata) { return (*static_cast<callback_fn*>(userdata))(data); }

std::string_view view(strata_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }
std::string_view view(strata_bytes b) { return {reinterpret_cast<const char*>(b.data), b.size}; }
strata_str str(std::string_view s) { return {s.data(), s.size()}; }

// A harness with a plugin host holding one built-in plugin.
struct plugin_harness {
    explicit plugin_harness(const std::function<void(config::broker_config&)>& tweak = {},
                            plugin::option_list options = {})
        : h(tweak), host(*h.broker, *h.log) {
        std::string error;
        REQUIRE(host.add_builtin("test", capture_init, nullptr, std::move(options), error));
        api = captured_host;
        host.install();
    }
    // Registers a callback; it reaches the worker with the next poll, as in the broker.
    void on(int event, callback_fn fn) {
        callbacks.push_back(std::move(fn));
        REQUIRE(api->register_event(api, event, trampoline, &callbacks.back()) == STRATA_OK);
        h.poll();
    }
    plugin::worker_hooks& hooks() { return h.worker().hooks(); }

    harness h;
    plugin::host host;
    const strata_host* api = nullptr;
    std::deque<callback_fn> callbacks;
};

constexpr protocol_version both[] = {v311, v5};

}  // namespace

TEST_SUITE("plugins") {

TEST_CASE("without plugins every hook point is an empty test and CONNECT behaves as before") {
    harness h;
    auto& hooks = h.worker().hooks();
    CHECK_FALSE(hooks.inspects_publish());
    CHECK_FALSE(hooks.inspects_delivery());
    CHECK_FALSE(hooks.inspects_subscribe());
    CHECK_FALSE(hooks.snapshot()->handles_connections());
    client c(h, v5);
    c.send(connect_bytes(v5, "m", true, [](codec::connect_packet& p) { p.props.authentication_method = "SCRAM"; }));
    CHECK(as_connack(c.take_one(packet_type::connack), v5).reason == 0x8C);
}

TEST_CASE("registration: plugin order, duplicates, unregister, newer tables only") {
    plugin_harness ph;
    callback_fn first = [](void*) { return STRATA_PASS; };
    callback_fn second = [](void*) { return STRATA_PASS; };
    CHECK(ph.api->register_event(ph.api, STRATA_EVENT_ACL, trampoline, &first) == STRATA_OK);
    CHECK(ph.api->register_event(ph.api, STRATA_EVENT_ACL, trampoline, &first) == STRATA_ERROR);
    CHECK(ph.api->register_event(ph.api, 0, trampoline, &first) == STRATA_ERROR);
    CHECK(ph.api->register_event(ph.api, STRATA_EVENT_LIMIT, trampoline, &first) == STRATA_ERROR);
    CHECK(ph.api->register_event(ph.api, STRATA_EVENT_ACL, trampoline, &second) == STRATA_OK);
    CHECK_FALSE(ph.hooks().inspects_publish());  // posted: not there before the worker's next turn
    ph.h.poll();
    const auto t = ph.hooks().snapshot();
    REQUIRE(t->at(STRATA_EVENT_ACL).size() == 2);
    CHECK(t->at(STRATA_EVENT_ACL)[0].userdata == &first);
    CHECK(ph.api->unregister_event(ph.api, STRATA_EVENT_ACL, trampoline, &first) == STRATA_OK);
    CHECK(ph.api->unregister_event(ph.api, STRATA_EVENT_ACL, trampoline, &first) == STRATA_ERROR);
    ph.h.poll();
    CHECK(ph.hooks().snapshot()->at(STRATA_EVENT_ACL).size() == 1);
    ph.hooks().set_table(t);  // an older table arriving late is ignored
    CHECK(ph.hooks().snapshot()->at(STRATA_EVENT_ACL).size() == 1);
}

TEST_CASE("options: lookup by key, NUL-terminated, count") {
    plugin_harness ph({}, {{"user", "alice"}, {"mode", "strict"}});
    CHECK(std::string_view(ph.api->option(ph.api, "user")) == "alice");
    CHECK(ph.api->option(ph.api, "missing") == nullptr);
    std::size_t count = 0;
    const auto* all = ph.api->options(ph.api, &count);
    REQUIRE(count == 2);
    CHECK(std::string_view(all[1].key) == "mode");
    CHECK(ph.api->worker_count(ph.api) == 1);
}

TEST_CASE("message_in deny: v5 PUBACK/PUBREC carry the code and reason; 3.1.1 completes silently") {
    for (auto v : both) {
        CAPTURE(static_cast<int>(v));
        plugin_harness ph;
        ph.on(STRATA_EVENT_MESSAGE_IN, [](void* d) {
            auto& m = *static_cast<strata_event_message*>(d);
            if (view(m.topic) != "blocked") return STRATA_OK;
            m.header.reason_code = 0x87;
            m.header.reason_string = str("no");
            return STRATA_DENY;
        });
        client pub(ph.h, v), sub(ph.h, v);
        connect(pub, "pub");
        connect(sub, "sub");
        subscribe(sub, {test::sub("#", 2)});
        pub.send(publish_bytes(v, "blocked", "x", 1, 5));
        const auto puback_raw = pub.take_one(packet_type::puback);  // the decoded views point into it
        const auto puback = as_ack(puback_raw, v);
        pub.send(publish_bytes(v, "blocked", "x", 2, 6));
        const auto pubrec_raw = pub.take_one(packet_type::pubrec);
        const auto pubrec = as_ack(pubrec_raw, v);
        pub.send(publish_bytes(v, "blocked", "x"));
        CHECK(pub.take().empty());
        CHECK(sub.take().empty());  // routed nowhere
        if (v == v5) {
            CHECK(puback.reason == reason_code::not_authorized);
            CHECK(puback.props.reason_string == std::optional<std::string_view>("no"));
            CHECK(pubrec.reason == reason_code::not_authorized);
        } else {
            CHECK(puback.reason == reason_code::success);
            CHECK(pubrec.reason == reason_code::success);
        }
        pub.send(publish_bytes(v, "open", "y", 1, 7));
        CHECK(as_ack(pub.take_one(packet_type::puback), v).reason == reason_code::success);
        CHECK(payload_of(as_publish(sub.take_one(packet_type::publish), v)) == "y");
    }
}

TEST_CASE("message_in rewrite: the next plugin and the subscribers see the new message") {
    plugin_harness ph;
    const strata_host* api = ph.api;
    ph.on(STRATA_EVENT_MESSAGE_IN, [api](void* d) {
        auto* m = static_cast<strata_event_message*>(d);
        CHECK(api->message_set_topic(api, m, str("new/t")) == STRATA_OK);
        CHECK(api->message_set_topic(api, m, str("bad/#")) == STRATA_ERROR);
        CHECK(api->message_set_topic(api, m, str("$SYS/x")) == STRATA_ERROR);
        const std::string_view body = "rewritten";
        CHECK(api->message_set_payload(api, m, {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}) ==
              STRATA_OK);
        CHECK(api->message_add_user_property(api, m, str("stamped-by"), str("test")) == STRATA_OK);
        const strata_str type = str("text/plain");
        CHECK(api->message_set_string_property(api, m, STRATA_PROPERTY_CONTENT_TYPE, &type) == STRATA_OK);
        return STRATA_OK;
    });
    ph.on(STRATA_EVENT_MESSAGE_IN, [](void* d) {
        auto& m = *static_cast<strata_event_message*>(d);
        CHECK(view(m.topic) == "new/t");
        CHECK(view(m.payload) == "rewritten");
        REQUIRE(m.user_property_count == 2);  // the publisher's, then the added one
        CHECK(view(m.user_properties[0].key) == "from");
        CHECK(view(m.user_properties[1].value) == "test");
        CHECK(view(m.content_type) == "text/plain");
        return STRATA_PASS;
    });
    client pub(ph.h, v5), sub(ph.h, v5), old(ph.h, v311);
    connect(pub, "pub");
    connect(sub, "sub");
    connect(old, "old");
    subscribe(sub, {test::sub("new/#", 1)});
    subscribe(old, {test::sub("orig", 0), test::sub("new/t", 0)});
    pub.send(publish_bytes(v5, "orig", "payload", 1, 1, false,
                           [](codec::publish_packet& p) { p.props.user_properties = {{"from", "pub"}}; }));
    CHECK(as_ack(pub.take_one(packet_type::puback), v5).reason == reason_code::success);
    auto raw = sub.take_one(packet_type::publish);
    const auto got = as_publish(raw, v5);
    CHECK(got.topic == "new/t");
    CHECK(payload_of(got) == "rewritten");
    CHECK(got.props.content_type == std::optional<std::string_view>("text/plain"));
    CHECK(got.props.user_properties == std::vector<codec::user_property>{{"from", "pub"}, {"stamped-by", "test"}});
    auto raw311 = old.take_one(packet_type::publish);  // only the rewritten topic matches
    CHECK(as_publish(raw311, v311).topic == "new/t");
}

TEST_CASE("acl and subscribe: refused filters get 0x87 (v5) or 0x80 (3.1.1); QoS may be lowered") {
    for (auto v : both) {
        CAPTURE(static_cast<int>(v));
        plugin_harness ph;
        ph.on(STRATA_EVENT_ACL, [](void* d) {
            auto& a = *static_cast<strata_event_acl*>(d);
            if (a.access == STRATA_ACCESS_SUBSCRIBE && view(a.topic).starts_with("secret")) return STRATA_DENY;
            return STRATA_PASS;
        });
        ph.on(STRATA_EVENT_SUBSCRIBE, [](void* d) {
            auto& s = *static_cast<strata_event_subscribe*>(d);
            if (view(s.filter) == "capped") s.qos = 0;
            if (view(s.filter) == "more") s.qos = 2;  // raising is ignored
            return STRATA_OK;
        });
        client c(ph.h, v);
        connect(c, "c");
        c.send(subscribe_bytes(v, 1, {test::sub("secret/x", 1), test::sub("capped", 2), test::sub("more", 1)}));
        const auto ack = as_suback(c.take_one(packet_type::suback), v);
        CHECK(ack.reasons == std::vector<std::uint8_t>{static_cast<std::uint8_t>(v == v5 ? 0x87 : 0x80), 0, 1});
    }
}

TEST_CASE("acl read and message_out hold a message back from one subscriber only") {
    plugin_harness ph;
    ph.on(STRATA_EVENT_ACL, [](void* d) {
        auto& a = *static_cast<strata_event_acl*>(d);
        if (a.access == STRATA_ACCESS_READ && view(a.client->client_id) == "blind") return STRATA_DENY;
        return STRATA_PASS;
    });
    ph.on(STRATA_EVENT_MESSAGE_OUT, [](void* d) {
        auto& m = *static_cast<strata_event_message*>(d);
        CHECK(view(m.topic) == "t");
        return view(m.client->client_id) == "muted" ? STRATA_DENY : STRATA_OK;
    });
    client pub(ph.h, v5), seer(ph.h, v5), blind(ph.h, v5), muted(ph.h, v311);
    connect(pub, "pub");
    for (auto* c : {&seer, &blind, &muted}) {
        connect(*c, c == &seer ? "seer" : c == &blind ? "blind" : "muted");
        subscribe(*c, {test::sub("t", 0)});
    }
    pub.send(publish_bytes(v5, "t", "m"));
    CHECK(payload_of(as_publish(seer.take_one(packet_type::publish), v5)) == "m");
    CHECK(blind.take().empty());
    CHECK(muted.take().empty());
}

TEST_CASE("auth_basic decides; without an answer allow_anonymous does (v5 0x86/0x87, 3.1.1 4/5)") {
    for (auto v : both) {
        CAPTURE(static_cast<int>(v));
        plugin_harness ph([](config::broker_config& c) { c.allow_anonymous = false; });
        ph.on(STRATA_EVENT_AUTH_BASIC, [](void* d) {
            auto& a = *static_cast<strata_event_auth_basic*>(d);
            if (!a.client->has_username) return STRATA_PASS;
            return view(a.client->username) == "alice" && view(a.password) == "pw" ? STRATA_OK : STRATA_DENY;
        });
        const auto login = [&](std::string_view user, std::string_view pass) {
            client c(ph.h, v);
            c.send(connect_bytes(v, "c", true, [&](codec::connect_packet& p) {
                p.has_username = !user.empty();
                p.username = user;
                p.has_password = !pass.empty();
                p.password = codec::as_bytes(pass);
            }));
            return as_connack(c.take_one(packet_type::connack), v).reason;
        };
        CHECK(login("alice", "pw") == 0);
        CHECK(login("alice", "bad") == (v == v5 ? 0x86 : 4));
        CHECK(login("", "") == (v == v5 ? 0x87 : 5));
    }
}

TEST_CASE("a deferred auth holds the client's packets until resume() from another thread") {
    plugin_harness ph;
    strata_defer handle{};
    ph.on(STRATA_EVENT_AUTH_BASIC, [&](void* d) {
        handle = static_cast<strata_event_auth_basic*>(d)->defer;
        return STRATA_DEFER;
    });
    client c(ph.h, v5);
    bytes both_packets = connect_bytes(v5, "late");
    const auto sub_packet = subscribe_bytes(v5, 3, {test::sub("t", 0)});
    both_packets.insert(both_packets.end(), sub_packet.begin(), sub_packet.end());
    c.send(both_packets);
    CHECK(c.take().empty());  // no CONNACK yet, and the SUBSCRIBE waits
    strata_resume r{};
    r.struct_size = sizeof r;
    r.defer = handle;
    r.result = STRATA_OK;
    int from_thread = -1;
    std::thread([&] { from_thread = ph.api->resume(ph.api, &r); }).join();
    CHECK(from_thread == STRATA_OK);
    CHECK(ph.api->resume(ph.api, &r) == STRATA_OK);  // a second answer is dropped on the worker
    ph.h.poll();
    const auto all = c.take();
    REQUIRE(all.size() == 2);
    CHECK(as_connack(all[0], v5).reason == 0);
    CHECK(all[1].type() == packet_type::suback);
    r.result = STRATA_DEFER;
    CHECK(ph.api->resume(ph.api, &r) == STRATA_ERROR);
}

TEST_CASE("a deferred refusal, and a resume for a connection that is gone") {
    plugin_harness ph;
    strata_defer handle{};
    ph.on(STRATA_EVENT_CONNECT, [&](void* d) {
        handle = static_cast<strata_event_connect*>(d)->defer;
        return STRATA_DEFER;
    });
    strata_resume r{};
    r.struct_size = sizeof r;
    r.result = STRATA_DENY;
    r.reason_code = 0x9F;  // connection rate exceeded
    {
        client c(ph.h, v5);
        c.send(connect_bytes(v5, "x"));
        r.defer = handle;
        ph.api->resume(ph.api, &r);
        ph.h.poll();
        CHECK(as_connack(c.take_one(packet_type::connack), v5).reason == 0x9F);
        CHECK(c.closing());
        client d(ph.h, v5);
        d.send(connect_bytes(v5, "x"));  // the refused id is free again
        r.defer = handle;
        d.conn.on_transport_closed();  // the client leaves while the plugin thinks
    }
    ph.api->resume(ph.api, &r);  // d is gone: nothing happens
    ph.h.poll();
    CHECK(ph.h.broker->registry().size() == 0);
}

TEST_CASE("enhanced authentication: AUTH exchange, CONNACK data, re-authentication, unknown method") {
    plugin_harness ph;
    ph.on(STRATA_EVENT_AUTH_EXTENDED, [](void* d) {
        auto& a = *static_cast<strata_event_auth_extended*>(d);
        if (view(a.method) != "TEST") return STRATA_PASS;
        static const char challenge[] = "challenge", welcome[] = "welcome";
        if (a.stage == STRATA_AUTH_START) {
            a.data_out = {reinterpret_cast<const std::uint8_t*>(challenge), 9};
            return STRATA_CONTINUE;
        }
        if (view(a.data) != "secret") return STRATA_DENY;
        a.data_out = {reinterpret_cast<const std::uint8_t*>(welcome), 7};
        return STRATA_OK;
    });
    const auto auth_bytes = [](reason_code rc, std::string_view method, std::string_view data) {
        codec::auth_packet a;
        a.reason = rc;
        a.props.authentication_method = method;
        a.props.authentication_data = data;
        bytes out;
        codec::encode_auth(out, a);
        return out;
    };
    const auto as_auth = [](const packet& p) {
        REQUIRE(p.type() == packet_type::auth);
        codec::auth_packet a;
        REQUIRE(codec::decode_auth(p.body, a) == reason_code::success);
        return a;
    };
    client c(ph.h, v5);
    c.send(connect_bytes(v5, "e", true, [](codec::connect_packet& p) { p.props.authentication_method = "TEST"; }));
    const auto challenge = c.take_one(packet_type::auth);
    CHECK(as_auth(challenge).reason == reason_code::continue_authentication);
    CHECK(as_auth(challenge).props.authentication_data == std::optional<std::string_view>("challenge"));
    c.send(auth_bytes(reason_code::continue_authentication, "TEST", "secret"));
    const auto connack = c.take_one(packet_type::connack);
    const auto r = as_connack(connack, v5);
    CHECK(r.reason == 0);
    CHECK(r.props.authentication_method == std::optional<std::string_view>("TEST"));
    // Re-authentication: same method, then the outcome in an AUTH (or a DISCONNECT).
    c.send(auth_bytes(reason_code::re_authenticate, "TEST", "secret"));
    CHECK(as_auth(c.take_one(packet_type::auth)).reason == reason_code::success);
    c.send(auth_bytes(reason_code::re_authenticate, "TEST", "wrong"));
    CHECK(as_disconnect(c.take_one(packet_type::disconnect), v5).reason == reason_code::not_authorized);

    client other(ph.h, v5);
    other.send(connect_bytes(v5, "o", true, [](codec::connect_packet& p) { p.props.authentication_method = "KERBEROS"; }));
    CHECK(as_connack(other.take_one(packet_type::connack), v5).reason == 0x8C);
    client stray(ph.h, v5);
    stray.send(connect_bytes(v5, "s", true, [](codec::connect_packet& p) { p.props.authentication_method = "TEST"; }));
    stray.take();
    stray.send(auth_bytes(reason_code::continue_authentication, "OTHER", "secret"));
    CHECK(stray.closing());  // another method mid-exchange is a protocol error
}

TEST_CASE("connect and disconnect events pair up, with or without acceptance") {
    plugin_harness ph;
    std::vector<std::string> seen;
    ph.on(STRATA_EVENT_CONNECT, [&](void* d) {
        auto& e = *static_cast<strata_event_connect*>(d);
        seen.push_back("connect " + std::string(view(e.client->client_id)));
        return view(e.client->client_id) == "banned" ? STRATA_DENY : STRATA_OK;
    });
    ph.on(STRATA_EVENT_DISCONNECT, [&](void* d) {
        auto& e = *static_cast<strata_event_disconnect*>(d);
        seen.push_back("disconnect " + std::string(view(e.client->client_id)) + " " + std::to_string(e.accepted) +
                       std::to_string(e.client_initiated));
        return STRATA_OK;
    });
    client banned(ph.h, v5);
    banned.send(connect_bytes(v5, "banned"));
    CHECK(as_connack(banned.take_one(packet_type::connack), v5).reason == 0x87);
    client ok(ph.h, v5);
    connect(ok, "ok");
    ok.send(disconnect_bytes(v5));
    CHECK(seen == std::vector<std::string>{"connect banned", "disconnect banned 00", "connect ok", "disconnect ok 11"});
}

TEST_CASE("tick: at most once a second per worker") {
    plugin_harness ph;
    int ticks = 0;
    ph.on(STRATA_EVENT_TICK, [&](void* d) {
        CHECK(static_cast<strata_event_tick*>(d)->header.worker == 0);
        ++ticks;
        return STRATA_OK;
    });
    const auto t0 = steady_clock::now();
    ph.hooks().tick(t0);
    ph.hooks().tick(t0 + std::chrono::milliseconds(250));
    ph.hooks().tick(t0 + std::chrono::milliseconds(750));
    CHECK(ticks == 1);
    ph.hooks().tick(t0 + std::chrono::milliseconds(1000));
    CHECK(ticks == 2);
}

TEST_CASE("reload passes the new options; the old pointers stay valid") {
    plugin_harness ph({}, {{"marker", "one"}});
    const char* before = ph.api->option(ph.api, "marker");
    std::string got;
    callback_fn on_reload = [&](void* d) {
        auto& e = *static_cast<strata_event_reload*>(d);
        REQUIRE(e.option_count == 1);
        got = e.options[0].value;
        return STRATA_OK;
    };
    REQUIRE(ph.api->register_event(ph.api, STRATA_EVENT_RELOAD, trampoline, &on_reload) == STRATA_OK);
    ph.host.reload({});  // built-ins are not in the conf: they keep their options
    CHECK(got == "one");
    CHECK(std::string_view(before) == "one");
}

TEST_CASE("plugin files: missing, not a plugin") {
    std::string error;
    config::plugin_config missing{"/nonexistent/plugin.so", {}, "conf:3"};
    CHECK_FALSE(plugin::host::probe(missing, error));
    CHECK(error.find("no such file") != std::string::npos);
    harness h;
    plugin::host host(*h.broker, *h.log);
    CHECK_FALSE(host.load({missing}, error));
    CHECK(error.starts_with("conf:3: plugin: cannot load '/nonexistent/plugin.so'"));
    config::plugin_config not_plugin{"/proc/self/exe", {}, "conf:4"};  // loadable? either way, not a plugin
    CHECK_FALSE(plugin::host::probe(not_plugin, error));
}

}  // TEST_SUITE
