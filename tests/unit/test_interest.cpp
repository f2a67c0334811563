// Routing by interest: a worker's replica of the other workers' filters.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/interest_index.hpp"

using namespace strata::core;

namespace {

std::vector<std::uint32_t> targets(interest_index& idx, std::string_view topic) {
    std::vector<std::uint32_t> out;
    idx.match(topic, [&](std::uint32_t w) { out.push_back(w); });
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("interest: each interested worker once, counted per subscription, never itself") {
    interest_index idx(0, 4);
    CHECK(targets(idx, "a/b").empty());
    idx.apply({"a/+", 1, true});
    idx.apply({"a/#", 1, true});   // worker 1 twice for a/b: visited once
    idx.apply({"a/b", 2, true});
    idx.apply({"a/b", 2, true});   // two subscriptions of worker 2 on one filter
    idx.apply({"#", 0, true});     // this worker's own: ignored
    idx.apply({"x/#", 3, true});
    CHECK(targets(idx, "a/b") == std::vector<std::uint32_t>{1, 2});
    CHECK(targets(idx, "x") == std::vector<std::uint32_t>{3});  // "x/#" matches "x"
    CHECK(targets(idx, "$SYS/x").empty());                      // wildcards never match '$' topics

    idx.apply({"a/b", 2, false});
    CHECK(targets(idx, "a/b") == std::vector<std::uint32_t>{1, 2});  // one subscription of 2 is left
    idx.apply({"a/b", 2, false});
    CHECK(targets(idx, "a/b") == std::vector<std::uint32_t>{1});
    idx.apply({"a/+", 1, false});
    idx.apply({"a/#", 1, false});
    idx.apply({"x/#", 3, false});
    CHECK(targets(idx, "a/b").empty());
    CHECK(idx.empty());

    // A removal that was never added (or for itself) changes nothing.
    idx.apply({"a/b", 2, false});
    idx.apply({"#", 0, false});
    CHECK(idx.empty());
}

TEST_CASE("interest: filters without wildcards are found by the topic, alongside wildcard ones") {
    interest_index idx(0, 4);
    idx.apply({"$SYS/broker/load", 1, true});  // an exact filter matches its '$' topic
    idx.apply({"dev/7/cmd", 2, true});
    idx.apply({"dev/+/cmd", 3, true});
    idx.apply({"dev/7/cmd", 3, true});          // worker 3 through both: visited once
    CHECK(targets(idx, "$SYS/broker/load") == std::vector<std::uint32_t>{1});
    CHECK(targets(idx, "$SYS/broker").empty());
    CHECK(targets(idx, "dev/7/cmd") == std::vector<std::uint32_t>{2, 3});
    CHECK(targets(idx, "dev/8/cmd") == std::vector<std::uint32_t>{3});
    CHECK(targets(idx, "dev/7/cmd/x").empty());
    CHECK(targets(idx, "dev/7").empty());

    idx.apply({"dev/+/cmd", 3, false});
    CHECK(targets(idx, "dev/7/cmd") == std::vector<std::uint32_t>{2, 3});  // its exact one stays
    CHECK(targets(idx, "dev/8/cmd").empty());
    idx.apply({"dev/7/cmd", 3, false});
    idx.apply({"dev/7/cmd", 2, false});
    CHECK(targets(idx, "dev/7/cmd").empty());
    idx.apply({"$SYS/broker/load", 1, false});
    CHECK(idx.empty());
}
