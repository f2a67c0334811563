// The per-listener connection rate (max_connection_rate): the token bucket
// and its rate-limited logging, with time passed in by hand.
#include <doctest/doctest.h>

#include <chrono>

#include "net/connection_rate.hpp"

using namespace strata;

TEST_SUITE("net") {

TEST_CASE("max_connection_rate: a token bucket of one second's worth") {
    using namespace std::chrono_literals;
    const auto t0 = net::connection_rate::clock::now();
    net::connection_rate unlimited(0);
    for (int i = 0; i < 1000; ++i) CHECK(unlimited.admit(t0));

    net::connection_rate r(5);
    for (int i = 0; i < 5; ++i) CHECK(r.admit(t0));  // a burst of one second's worth
    CHECK_FALSE(r.admit(t0));
    CHECK_FALSE(r.admit(t0 + 100ms));
    CHECK(r.admit(t0 + 200ms));  // one token a fifth of a second
    CHECK_FALSE(r.admit(t0 + 250ms));
    // A long quiet time fills the bucket, but no further than 5.
    int admitted = 0;
    for (int i = 0; i < 20; ++i) admitted += r.admit(t0 + 100s) ? 1 : 0;
    CHECK(admitted == 5);
    // Sustained: about 5 a second get through however many knock.
    admitted = 0;
    for (int ms = 0; ms < 10000; ms += 10) admitted += r.admit(t0 + 200s + std::chrono::milliseconds(ms)) ? 1 : 0;
    CHECK(admitted >= 50);
    CHECK(admitted <= 56);
}

TEST_CASE("max_connection_rate: refusals are logged at most once a second, with their count") {
    using namespace std::chrono_literals;
    const auto t0 = net::connection_rate::clock::now();
    net::connection_rate r(1);
    CHECK(r.admit(t0));
    CHECK_FALSE(r.admit(t0));
    CHECK(r.refusals_to_log(t0) == 1);
    for (int i = 0; i < 10; ++i) {
        CHECK_FALSE(r.admit(t0 + 10ms));
        CHECK(r.refusals_to_log(t0 + 10ms) == 0);
    }
    CHECK(r.admit(t0 + 1500ms));
    CHECK_FALSE(r.admit(t0 + 1500ms));
    CHECK(r.refusals_to_log(t0 + 1500ms) == 11);
}

}  // TEST_SUITE
