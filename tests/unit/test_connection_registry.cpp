// The worker's connection registry (core/connection_registry.hpp): ids that
// find their connection while it is registered, and never a later one that
// took over its slot.
#include <doctest/doctest.h>

#include "core/connection_registry.hpp"
#include "fake_broker_port.hpp"

using namespace strata;
using namespace strata::test;

TEST_SUITE("broker") {

TEST_CASE("connection registry: ids find their connection, and stop finding it once it is removed") {
    fake_broker_port h;
    client a(h, v5), b(h, v5), c(h, v5);
    core::connection_registry r;
    r.add(&a.conn);
    r.add(&b.conn);
    r.add(&c.conn);
    CHECK(r.size() == 3);
    CHECK(a.conn.id != b.conn.id);
    CHECK(b.conn.id != c.conn.id);
    CHECK(r.find(a.conn.id) == &a.conn);
    CHECK(r.find(b.conn.id) == &b.conn);
    CHECK(r.find(c.conn.id) == &c.conn);
    const auto b_id = b.conn.id;
    r.remove(&b.conn);
    CHECK(r.size() == 2);
    CHECK(r.find(b_id) == nullptr);
    CHECK(r.find(a.conn.id) == &a.conn);
    CHECK(r.find(c.conn.id) == &c.conn);
    // The dense list still holds exactly the two that remain.
    CHECK(((r.at(0) == &a.conn && r.at(1) == &c.conn) || (r.at(0) == &c.conn && r.at(1) == &a.conn)));
    r.remove(&b.conn);  // twice: nothing happens
    CHECK(r.size() == 2);
    CHECK(r.find(0) == nullptr);
    CHECK(r.find(~std::uint64_t{0}) == nullptr);
}

TEST_CASE("connection registry: a slot taken again does not answer to the old id") {
    fake_broker_port h;
    client a(h, v5), b(h, v5);
    core::connection_registry r;
    r.add(&a.conn);
    const auto old_id = a.conn.id;
    r.remove(&a.conn);
    r.add(&b.conn);  // takes the slot a left
    CHECK((b.conn.id & 0xFFFFFFFFu) == (old_id & 0xFFFFFFFFu));
    CHECK(b.conn.id != old_id);
    CHECK(r.find(old_id) == nullptr);
    CHECK(r.find(b.conn.id) == &b.conn);
}

}  // TEST_SUITE
