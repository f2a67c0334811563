// Topic names and filters (section 4.7), shared subscriptions (4.8.2), the
// subscription trie, the retained message store and shared groups.
#include <doctest/doctest.h>

#include "test_printers.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/shared_groups.hpp"
#include "session/message.hpp"
#include "topic/retained_store.hpp"
#include "topic/topic_name.hpp"
#include "topic/topic_trie.hpp"

using namespace strata;
using namespace strata::topic;

namespace {

struct test_entry {
    int id = 0;
    trie_slot* slot = nullptr;
};

// Owns the slots of the entries it inserts, as sessions do for the worker.
struct trie_fixture {
    topic_trie<test_entry> trie;
    std::vector<std::unique_ptr<trie_slot>> slots;  // index = entry id

    int insert(std::string_view filter) {
        const int id = static_cast<int>(slots.size());
        slots.push_back(std::make_unique<trie_slot>());
        trie.insert(filter, test_entry{id, slots.back().get()});
        return id;
    }
    void erase(int id) { trie.erase(*slots[id]); }
    std::multiset<int> match(std::string_view topic) {
        std::multiset<int> out;
        trie.match(topic, [&](test_entry& e) { out.insert(e.id); });
        return out;
    }
    std::vector<int> in_order(std::string_view topic) {
        std::vector<int> out;
        trie.match(topic, [&](test_entry& e) { out.push_back(e.id); });
        return out;
    }
};

// Filter x topic table: the expected result of matching (section 4.7).
struct match_case {
    const char* filter;
    const char* topic;
    bool expected;
};

const match_case match_table[] = {
    {"a/b", "a/b", true},
    {"a/b", "a/b/", false},
    {"a/b", "a/b/c", false},
    {"a/b", "a", false},
    {"a/b", "A/b", false},  // case sensitive
    {"#", "a", true},
    {"#", "/", true},
    {"#", "a/b/c", true},
    {"a/#", "a", true},  // '#' also matches the parent level [MQTT-4.7.1-2]
    {"a/#", "a/", true},
    {"a/#", "a/b", true},
    {"a/#", "a/b/c", true},
    {"a/#", "ab", false},
    {"a/#", "b/a", false},
    {"a/b/#", "a", false},
    {"/#", "/", true},
    {"/#", "/a", true},
    {"/#", "a", false},
    {"+", "a", true},
    {"+", "/", false},
    {"+", "a/b", false},
    {"+/+", "/", true},  // '+' matches empty levels
    {"+/b", "/b", true},
    {"a/+", "a/", true},
    {"a/+", "a", false},
    {"a/+", "a/b/c", false},
    {"a/+/c", "a//c", true},
    {"a/+/c", "a/b/c", true},
    {"a/+/c", "a/b/d", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a/b/c/d", true},
    {"a/+/#", "a", false},
    {"+/+/+", "a/b/c", true},
    {"+/+/+", "a/b", false},
    {"//", "//", true},
    {"/+/", "/x/", true},
    // '$' topics: no match for filters starting with a wildcard [MQTT-4.7.2-1].
    {"#", "$SYS", false},
    {"#", "$SYS/broker/uptime", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+", "$foo", false},
    {"+/#", "$foo/bar", false},
    {"$SYS/#", "$SYS", true},
    {"$SYS/#", "$SYS/broker/uptime", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/+", "$SYS/a/b", false},
    {"a/$b", "a/$b", true},
    {"a/+", "a/$b", true},  // '$' only matters at the first level
    {"a/#", "a/$b/c", true},
};

mutable_message_ref make_message(std::string_view topic, std::string_view payload, std::uint64_t order,
                                 std::optional<std::uint32_t> expiry = std::nullopt) {
    message::init in;
    in.topic = topic;
    in.payload = codec::as_bytes(payload);
    in.qos = 1;
    in.retain = true;
    in.has_expiry = expiry.has_value();
    in.expiry_interval = expiry.value_or(0);
    mutable_message_ref m(message::create(in));
    m->set_retain_order(order);
    return m;
}

std::vector<std::string> retained_topics(retained_store& store, std::string_view filter,
                                         time_point now = steady_clock::now()) {
    std::vector<std::string> out;
    store.match(filter, now, [&](const message_ref& m) { out.emplace_back(m->topic()); });
    std::sort(out.begin(), out.end());
    return out;
}

std::string retained_payload(retained_store& store, std::string_view topic) {
    std::string out = "<none>";
    store.match(topic, steady_clock::now(), [&](const message_ref& m) {
        out.assign(reinterpret_cast<const char*>(m->payload().data()), m->payload().size());
    });
    return out;
}

}  // namespace

TEST_SUITE("topic") {

TEST_CASE("is_valid_name") {
    for (std::string_view ok : {"a", "/", "a/b", "a//b", "$SYS/broker", " ", "a b/c", "\xC3\xA9"}) {
        CAPTURE(ok);
        CHECK(is_valid_name(ok));
    }
    for (std::string_view bad : {"", "+", "#", "a/+", "a/#", "a+", "#a", "a/b#"}) {
        CAPTURE(bad);
        CHECK_FALSE(is_valid_name(bad));  // [MQTT-4.7.3-1], [MQTT-3.3.2-2]
    }
    CHECK(is_valid_name(std::string(65535, 'x')));
    CHECK_FALSE(is_valid_name(std::string(65536, 'x')));
}

TEST_CASE("is_valid_filter") {
    for (std::string_view ok : {"#", "+", "a", "/", "a/#", "+/+", "/+", "+/", "a//b", "+/a/#", "$SYS/#",
                                "a/+/b", "+/+/#", "//"}) {
        CAPTURE(ok);
        CHECK(is_valid_filter(ok));
    }
    for (std::string_view bad : {"", "a#", "#a", "a/#/b", "#/a", "##", "++", "a+", "+a", "a/b+", "a/+b/c",
                                 "a/#/", "a/##"}) {
        CAPTURE(bad);
        CHECK_FALSE(is_valid_filter(bad));  // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.1-3]
    }
    CHECK(is_valid_filter(std::string(65535, 'x')));
    CHECK_FALSE(is_valid_filter(std::string(65536, 'x')));
}

TEST_CASE("parse_subscription_filter") {
    subscription_filter f;
    SUBCASE("plain filters") {
        CHECK(parse_subscription_filter("a/+/#", f));
        CHECK_FALSE(f.shared);
        CHECK(f.group.empty());
        CHECK(f.filter == "a/+/#");
        CHECK_FALSE(parse_subscription_filter("a/#/b", f));
        // Only "$share/" introduces a shared subscription.
        CHECK(parse_subscription_filter("$shared/g/a", f));
        CHECK_FALSE(f.shared);
        CHECK(parse_subscription_filter("$share", f));
        CHECK_FALSE(f.shared);
        CHECK(f.filter == "$share");
    }
    SUBCASE("shared forms") {
        CHECK(parse_subscription_filter("$share/group/a/b", f));
        CHECK(f.shared);
        CHECK(f.group == "group");
        CHECK(f.filter == "a/b");
        CHECK(parse_subscription_filter("$share/g/#", f));
        CHECK(f.filter == "#");
        CHECK(parse_subscription_filter("$share/g/+/x/#", f));
        CHECK(f.filter == "+/x/#");
        CHECK(parse_subscription_filter("$share/g//", f));
        CHECK(f.filter == "/");
        CHECK(parse_subscription_filter("$share/$g/$SYS/#", f));
        CHECK(f.group == "$g");
        CHECK(f.filter == "$SYS/#");
    }
    SUBCASE("invalid shared forms [MQTT-4.8.2-1], [MQTT-4.8.2-2]") {
        for (std::string_view bad : {"$share/", "$share/g", "$share//a", "$share/g/", "$share/g+/a", "$share/+/a",
                                     "$share/#/a", "$share/g#/a", "$share/g/a#", "$share/g/a/#/b"}) {
            CAPTURE(bad);
            CHECK_FALSE(parse_subscription_filter(bad, f));
        }
    }
}

TEST_CASE("level_iterator") {
    auto levels = [](std::string_view s) {
        std::vector<std::string> out;
        level_iterator it(s);
        std::string_view l;
        while (it.next(l)) out.emplace_back(l);
        return out;
    };
    CHECK(levels("a/b/c") == std::vector<std::string>{"a", "b", "c"});
    CHECK(levels("a//b") == std::vector<std::string>{"a", "", "b"});
    CHECK(levels("/") == std::vector<std::string>{"", ""});
    CHECK(levels("") == std::vector<std::string>{""});
}

TEST_CASE("matches: filter x topic table") {
    for (const auto& c : match_table) {
        CAPTURE(c.filter);
        CAPTURE(c.topic);
        CHECK(matches(c.filter, c.topic) == c.expected);
    }
}

TEST_CASE("topic_trie agrees with matches on the whole table") {
    trie_fixture t;
    std::vector<std::string> filters;
    for (const auto& c : match_table) {
        if (std::find(filters.begin(), filters.end(), c.filter) == filters.end()) filters.emplace_back(c.filter);
    }
    for (const auto& f : filters) t.insert(f);
    CHECK(t.trie.size() == filters.size());
    std::set<std::string> topics;
    for (const auto& c : match_table) topics.insert(c.topic);
    for (const auto& topic : topics) {
        std::multiset<int> expected;
        for (std::size_t i = 0; i < filters.size(); ++i) {
            if (matches(filters[i], topic)) expected.insert(static_cast<int>(i));
        }
        CAPTURE(topic);
        CHECK(t.match(topic) == expected);
    }
    // And each table row on its own.
    for (const auto& c : match_table) {
        CAPTURE(c.filter);
        CAPTURE(c.topic);
        const int id = static_cast<int>(std::find(filters.begin(), filters.end(), c.filter) - filters.begin());
        CHECK((t.match(c.topic).count(id) == 1) == c.expected);
    }
}

TEST_CASE("topic_trie: insert, match, erase and pruning") {
    trie_fixture t;
    const int ab = t.insert("a/b");
    const int a_hash = t.insert("a/#");
    const int plus_b = t.insert("+/b");
    const int hash = t.insert("#");
    CHECK(t.match("a/b") == std::multiset<int>{ab, a_hash, plus_b, hash});
    CHECK(t.match("a") == std::multiset<int>{a_hash, hash});
    CHECK(t.match("x/b") == std::multiset<int>{plus_b, hash});
    CHECK(t.slots[a_hash]->multi_level);
    CHECK_FALSE(t.slots[ab]->multi_level);

    t.erase(ab);
    CHECK(t.trie.size() == 3);
    CHECK(t.match("a/b") == std::multiset<int>{a_hash, plus_b, hash});
    t.erase(hash);
    t.erase(plus_b);
    t.erase(a_hash);
    CHECK(t.trie.size() == 0);
    CHECK(t.match("a/b").empty());
    CHECK(t.match("a").empty());

    // The pruned branches can be rebuilt.
    const int again = t.insert("a/b");
    const int deep = t.insert("a/b/c/d/e");
    CHECK(t.match("a/b") == std::multiset<int>{again});
    t.erase(deep);  // prunes c/d/e but keeps a/b
    CHECK(t.match("a/b") == std::multiset<int>{again});
    CHECK(t.match("a/b/c/d/e").empty());
    const int deep2 = t.insert("a/b/c/d/e");
    CHECK(t.match("a/b/c/d/e") == std::multiset<int>{deep2});
    t.erase(again);  // a/b has a child: the node stays
    CHECK(t.match("a/b/c/d/e") == std::multiset<int>{deep2});
    CHECK(t.match("a/b").empty());
}

TEST_CASE("topic_trie: the same filter twice gives two entries") {
    trie_fixture t;
    const int x = t.insert("s/+");
    const int y = t.insert("s/+");
    CHECK(t.match("s/1") == std::multiset<int>{x, y});
    t.erase(x);
    CHECK(t.match("s/1") == std::multiset<int>{y});
}

TEST_CASE("topic_trie: visit order, with filters without wildcards where the walk meets them") {
    // topic_trie.hpp: at each level the filters ending there ('#' ones
    // first), then those below the level's own name, then those below '+'.
    // Filters without wildcards live in a table, not in nodes, and are
    // visited at the same place.
    trie_fixture t;
    const int hash = t.insert("#");
    const int a_hash = t.insert("a/#");
    const int ab_hash = t.insert("a/b/#");
    const int ab = t.insert("a/b");
    const int a_plus = t.insert("a/+");
    const int plus_b = t.insert("+/b");
    CHECK(t.slots[ab]->exact_table);
    CHECK_FALSE(t.slots[a_plus]->exact_table);
    CHECK(t.in_order("a/b") == std::vector<int>{hash, a_hash, ab_hash, ab, a_plus, plus_b});
    // No node on the topic's own path ("c"): still before the '+' branches.
    const int cd = t.insert("c/d");
    const int plus_d = t.insert("+/d");
    CHECK(t.in_order("c/d") == std::vector<int>{hash, cd, plus_d});
    // The path ends part of the way ("a" is a node, "a/x" is not).
    const int ax = t.insert("a/x");
    CHECK(t.in_order("a/x") == std::vector<int>{hash, a_hash, ax, a_plus});
    // A '$' topic: its own filter matches, leading wildcards do not.
    const int sys = t.insert("$SYS/x");
    CHECK(t.in_order("$SYS/x") == std::vector<int>{sys});
    CHECK(t.in_order("a/b/c") == std::vector<int>{hash, a_hash, ab_hash});
    // Erasing the last entry of a filter removes it from the table.
    t.erase(ab);
    CHECK(t.in_order("a/b") == std::vector<int>{hash, a_hash, ab_hash, a_plus, plus_b});
    const int ab_again = t.insert("a/b");
    CHECK(t.in_order("a/b") == std::vector<int>{hash, a_hash, ab_hash, ab_again, a_plus, plus_b});
}

TEST_CASE("topic_trie: many entries on one filter, swap-remove keeps slots right") {
    for (std::string_view filter : {"load/+/x", "load/#", "load/y/x"}) {
        CAPTURE(filter);
        trie_fixture t;
        constexpr int n = 500;
        for (int i = 0; i < n; ++i) t.insert(filter);
        std::vector<int> order(n);
        for (int i = 0; i < n; ++i) order[i] = i;
        std::mt19937 rng(12345);
        std::shuffle(order.begin(), order.end(), rng);
        std::set<int> remaining(order.begin(), order.end());
        for (int k = 0; k < n; ++k) {
            const int victim = order[k];
            t.erase(victim);
            remaining.erase(victim);
            if (k % 50 == 0 || remaining.size() < 5) {
                // Every remaining entry is still found through its own slot.
                for (int id : remaining) {
                    REQUIRE(t.trie.at(*t.slots[id]).id == id);
                    REQUIRE(t.trie.at(*t.slots[id]).slot == t.slots[id].get());
                }
                const auto found = t.match("load/y/x");
                CHECK(std::multiset<int>(remaining.begin(), remaining.end()) == found);
            }
        }
        CHECK(t.trie.size() == 0);
        CHECK(t.match("load/y/x").empty());
    }
}

TEST_CASE("retained_store: set, replace, clear") {
    retained_store store;
    store.apply(make_message("a/b", "one", 1));
    CHECK(store.size() == 1);
    CHECK(retained_payload(store, "a/b") == "one");
    store.apply(make_message("a/b", "two", 2));  // replaces
    CHECK(store.size() == 1);
    CHECK(retained_payload(store, "a/b") == "two");
    store.apply(make_message("a/b", "", 3));  // an empty payload clears [MQTT-3.3.1-6]
    CHECK(store.size() == 0);
    CHECK(retained_payload(store, "a/b") == "<none>");
    store.apply(make_message("a/c", "", 4));  // clearing a topic that has nothing is harmless
    CHECK(store.size() == 0);
}

TEST_CASE("retained_store: wildcard matching and '$' topics") {
    retained_store store;
    std::uint64_t order = 0;
    for (std::string_view t : {"a", "a/b", "a/b/c", "a//c", "x/b", "/", "$SYS/uptime", "$other"}) {
        store.apply(make_message(t, "p", ++order));
    }
    CHECK(store.size() == 8);
    CHECK(retained_topics(store, "#") == std::vector<std::string>{"/", "a", "a//c", "a/b", "a/b/c", "x/b"});
    CHECK(retained_topics(store, "a/#") == std::vector<std::string>{"a", "a//c", "a/b", "a/b/c"});
    CHECK(retained_topics(store, "a/+") == std::vector<std::string>{"a/b"});
    CHECK(retained_topics(store, "a/+/c") == std::vector<std::string>{"a//c", "a/b/c"});
    CHECK(retained_topics(store, "+/b") == std::vector<std::string>{"a/b", "x/b"});
    CHECK(retained_topics(store, "+") == std::vector<std::string>{"a"});
    CHECK(retained_topics(store, "+/+") == std::vector<std::string>{"/", "a/b", "x/b"});
    CHECK(retained_topics(store, "$SYS/#") == std::vector<std::string>{"$SYS/uptime"});
    CHECK(retained_topics(store, "$SYS/+") == std::vector<std::string>{"$SYS/uptime"});
    CHECK(retained_topics(store, "$other") == std::vector<std::string>{"$other"});
    CHECK(retained_topics(store, "+/uptime").empty());  // [MQTT-4.7.2-1]
    CHECK(retained_topics(store, "nothing/#").empty());
    // Every filter of the match table gives what matches() says.
    for (const auto& c : match_table) {
        retained_store one;
        one.apply(make_message(c.topic, "p", 1));
        CAPTURE(c.filter);
        CAPTURE(c.topic);
        CHECK(retained_topics(one, c.filter).size() == (c.expected ? 1u : 0u));
    }
}

TEST_CASE("retained_store: last writer wins by retain order") {
    retained_store store;
    store.apply(make_message("t", "new", 10));
    store.apply(make_message("t", "old", 5));  // older update arriving late: ignored
    CHECK(retained_payload(store, "t") == "new");

    SUBCASE("a clear arriving before an older set") {
        store.apply(make_message("u", "", 20));
        store.apply(make_message("u", "stale", 15));
        CHECK(retained_payload(store, "u") == "<none>");
        CHECK(store.size() == 1);
        // A newer set after the clear is applied.
        store.apply(make_message("u", "fresh", 21));
        CHECK(retained_payload(store, "u") == "fresh");
    }
    SUBCASE("an older clear does not remove a newer message") {
        store.apply(make_message("t", "", 7));
        CHECK(retained_payload(store, "t") == "new");
    }
}

TEST_CASE("retained_store: message expiry") {
    retained_store store;
    const auto now = steady_clock::now();
    store.apply(make_message("e/short", "x", 1, 10));
    store.apply(make_message("e/long", "y", 2, 1000));
    store.apply(make_message("e/never", "z", 3));
    CHECK(retained_topics(store, "e/#", now) == std::vector<std::string>{"e/long", "e/never", "e/short"});
    // Later than the short expiry: not delivered, and removed [MQTT-3.3.2-5].
    CHECK(retained_topics(store, "e/#", now + std::chrono::seconds(11)) ==
          std::vector<std::string>{"e/long", "e/never"});
    CHECK(store.size() == 2);
    CHECK(retained_topics(store, "e/short", now).empty());
    CHECK(retained_topics(store, "e/+", now + std::chrono::hours(1)) == std::vector<std::string>{"e/never"});
    CHECK(store.size() == 1);
    // An expired message on a node with children.
    store.apply(make_message("p", "parent", 4, 1));
    store.apply(make_message("p/c", "child", 5, 1));
    CHECK(retained_topics(store, "p/#", now + std::chrono::seconds(5)).empty());
    CHECK(store.size() == 1);
    store.apply(make_message("p/c", "again", 6));
    CHECK(retained_topics(store, "p/#") == std::vector<std::string>{"p/c"});
}

TEST_CASE("retained_store: sweep after the grace period forgets a clear") {
    retained_store store;
    store.apply(make_message("s", "", 50));
    store.sweep(steady_clock::now() + std::chrono::seconds(60));
    store.apply(make_message("s", "much later", 40));
    CHECK(retained_payload(store, "s") == "much later");
}

TEST_CASE("retained_store: sweep forgets old clears only") {
    // The worker sweeps on every tick, so a clear is swept (and kept) several
    // times within its grace period before it is forgotten.
    retained_store store;
    store.apply(make_message("s", "", 50));
    store.sweep(steady_clock::now());  // within the grace period: the clear is kept
    store.apply(make_message("s", "late", 40));
    CHECK(retained_payload(store, "s") == "<none>");
    // After the grace period the topic is forgotten entirely.
    store.sweep(steady_clock::now() + std::chrono::seconds(60));
    store.apply(make_message("s", "much later", 40));
    CHECK(retained_payload(store, "s") == "much later");
    CHECK(store.size() == 1);
    // A tombstone superseded by a newer set does not remove the message.
    store.apply(make_message("s", "", 60));
    store.apply(make_message("s", "set again", 61));
    store.sweep(steady_clock::now() + std::chrono::seconds(60));
    CHECK(retained_payload(store, "s") == "set again");
    store.apply(make_message("s", "older", 55));
    CHECK(retained_payload(store, "s") == "set again");
}

}  // TEST_SUITE

TEST_SUITE("shared_groups") {

namespace {

core::shared_member member(std::uint64_t session, std::shared_ptr<session_presence> presence, std::uint8_t qos = 1) {
    core::shared_member m;
    m.session_id = session;
    m.options.qos = qos;
    m.presence = std::move(presence);
    return m;
}

std::shared_ptr<session_presence> online(bool on) {
    auto p = std::make_shared<session_presence>();
    p->online = on;
    return p;
}

std::vector<std::uint64_t> deliveries(core::shared_groups& g, std::string_view topic, int times) {
    std::vector<std::uint64_t> out;
    for (int i = 0; i < times; ++i) {
        g.route(topic, [&](const core::shared_member& m, const shared_group_key&) { out.push_back(m.session_id); });
    }
    return out;
}

}  // namespace

TEST_CASE("round robin over online members") {
    core::shared_groups g;
    g.add("g", "a/+", member(1, online(true)));
    g.add("g", "a/+", member(2, online(true)));
    g.add("g", "a/+", member(3, online(true)));
    CHECK(g.group_count() == 1);
    CHECK(deliveries(g, "a/x", 6) == std::vector<std::uint64_t>{1, 2, 3, 1, 2, 3});
    CHECK(deliveries(g, "b/x", 3).empty());
}

TEST_CASE("online members are preferred, offline ones take turns when nobody is online") {
    core::shared_groups g;
    auto p1 = online(true), p2 = online(false), p3 = online(true);
    g.add("g", "t", member(1, p1));
    g.add("g", "t", member(2, p2));
    g.add("g", "t", member(3, p3));
    CHECK(deliveries(g, "t", 4) == std::vector<std::uint64_t>{1, 3, 1, 3});
    p2->online = true;
    p1->online = false;
    p3->online = false;
    CHECK(deliveries(g, "t", 2) == std::vector<std::uint64_t>{2, 2});
    p2->online = false;
    const auto offline = deliveries(g, "t", 3);
    CHECK(std::set<std::uint64_t>(offline.begin(), offline.end()) == std::set<std::uint64_t>{1, 2, 3});
}

TEST_CASE("one delivery per group, groups on the same filter are independent") {
    core::shared_groups g;
    g.add("g1", "x/#", member(1, online(true)));
    g.add("g1", "x/#", member(2, online(true)));
    g.add("g2", "x/#", member(3, online(true)));
    g.add("g3", "x/y", member(4, online(true)));
    CHECK(g.group_count() == 3);
    auto got = deliveries(g, "x/y", 1);
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<std::uint64_t>{1, 3, 4});
    got = deliveries(g, "x/z", 1);
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<std::uint64_t>{2, 3});  // g1's turn moved on to member 2
}

TEST_CASE("adding the same session again updates the member") {
    core::shared_groups g;
    g.add("g", "t", member(7, online(true), 0));
    g.add("g", "t", member(7, online(true), 2));
    CHECK(g.group_count() == 1);
    std::vector<std::uint8_t> qos;
    for (int i = 0; i < 2; ++i) {
        g.route("t", [&](const core::shared_member& m, const shared_group_key&) { qos.push_back(m.options.qos); });
    }
    CHECK(qos == std::vector<std::uint8_t>{2, 2});
}

TEST_CASE("a message whose member left goes to another member of its group (section 4.8.2)") {
    core::shared_groups g;
    auto p1 = online(true), p2 = online(false), p3 = online(true);
    g.add("g", "t/+", member(1, p1));
    g.add("g", "t/+", member(2, p2));
    g.add("g", "t/+", member(3, p3));
    shared_group_key key;
    g.route("t/x", [&](const core::shared_member&, const shared_group_key& k) { key = k; });
    CHECK(core::shared_groups::split_key(*key) == std::pair<std::string_view, std::string_view>{"g", "t/+"});
    std::vector<std::uint64_t> got;
    const auto reroute = [&](std::uint64_t left) {
        return g.reroute(key, left, [&](const core::shared_member& m) { got.push_back(m.session_id); });
    };
    // Member 1 left: an online member that is not 1, then the offline one when nobody else is online.
    CHECK(reroute(1));
    CHECK(reroute(1));
    CHECK(got == std::vector<std::uint64_t>{3, 3});
    p3->online = false;
    CHECK(reroute(3));
    CHECK(got.back() != 3);
    g.remove("g", "t/+", 2);
    g.remove("g", "t/+", 3);
    CHECK_FALSE(reroute(1));  // nobody else: the message has nowhere to go
    CHECK_FALSE(g.reroute(std::make_shared<const std::string>("other\0t"), 1, [&](const core::shared_member&) { got.push_back(0); }));
}

TEST_CASE("removing the last member removes the group") {
    core::shared_groups g;
    g.add("g", "t", member(1, online(true)));
    g.add("g", "t", member(2, online(true)));
    g.add("h", "t", member(3, online(true)));
    g.remove("g", "t", 1);
    CHECK(g.group_count() == 2);
    CHECK(deliveries(g, "t", 1).size() == 2);
    g.remove("g", "t", 2);
    CHECK(g.group_count() == 1);
    CHECK(deliveries(g, "t", 2) == std::vector<std::uint64_t>{3, 3});
    g.remove("g", "t", 2);  // already gone: harmless
    g.remove("nope", "t", 3);
    g.remove("h", "t", 3);
    CHECK(g.group_count() == 0);
    CHECK(deliveries(g, "t", 1).empty());
    // The group can come back.
    g.add("g", "t", member(9, online(false)));
    CHECK(deliveries(g, "t", 1) == std::vector<std::uint64_t>{9});
}

}  // TEST_SUITE
