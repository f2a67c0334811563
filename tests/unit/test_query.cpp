// The query side of the store: time and step parsing, cursors, aggregation,
// and the reader's merge and pagination over a real store whose keys are
// written directly, so that equal timestamps can be forced.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <set>

#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include "keys.hpp"
#include "query_params.hpp"
#include "reader.hpp"
#include "records.hpp"
#include "series.hpp"
#include "store.hpp"

using namespace strata::storage;

namespace {

std::uint64_t t(std::string_view text) {
    std::string error;
    const auto us = parse_time(text, error);
    REQUIRE_MESSAGE(us, std::string(text) << ": " << error);
    return *us;
}

std::string time_error(std::string_view text) {
    std::string error;
    CHECK_FALSE(parse_time(text, error));
    return error;
}

}  // namespace

TEST_CASE("times: RFC 3339 and epoch milliseconds") {
    CHECK(t("1970-01-01T00:00:00Z") == 0);
    CHECK(t("2026-11-24T10:00:00Z") == 1'795'514'400'000'000ull);
    CHECK(t("1795514400000") == 1'795'514'400'000'000ull);
    CHECK(t("0") == 0);
    // fractions: milliseconds, microseconds, nanoseconds (truncated)
    CHECK(t("2026-11-24T10:00:00.5Z") == 1'795'514'400'500'000ull);
    CHECK(t("2026-11-24T10:00:00.123456Z") == 1'795'514'400'123'456ull);
    CHECK(t("2026-11-24T10:00:00.123456789Z") == 1'795'514'400'123'456ull);
    // offsets: the same instant
    CHECK(t("2026-11-24T11:30:00+01:30") == t("2026-11-24T10:00:00Z"));
    CHECK(t("2026-11-24T05:00:00-05:00") == t("2026-11-24T10:00:00Z"));
    CHECK(t("2026-11-24t10:00:00z") == t("2026-11-24T10:00:00Z"));
    CHECK(t("2026-11-24 10:00:00Z") == t("2026-11-24T10:00:00Z"));
    CHECK(t("2026-11-24") == t("2026-11-24T00:00:00Z"));
    CHECK(t("2024-02-29T00:00:00Z") == 1'709'164'800'000'000ull);  // leap day

    CHECK(time_error("").find("RFC 3339") != std::string::npos);
    CHECK(time_error("yesterday").find("RFC 3339") != std::string::npos);
    CHECK(time_error("2026-11-24T10:00:00").find("time zone") != std::string::npos);
    CHECK(time_error("2026-11-24T10:00Z").find("RFC 3339") != std::string::npos);
    CHECK(time_error("2026-13-01T00:00:00Z") == "no such date");
    CHECK(time_error("2025-02-29T00:00:00Z") == "no such date");
    CHECK(time_error("2026-11-24T24:00:00Z").find("out of range") != std::string::npos);
    CHECK(time_error("2026-11-24T10:00:00+25:00").find("offset") != std::string::npos);
    CHECK(time_error("2026-11-24T10:00:00.Z").find("RFC 3339") != std::string::npos);
    CHECK(time_error("2026-11-24T10:00:00Zjunk").find("RFC 3339") != std::string::npos);
    CHECK(time_error("1969-12-31T23:59:59Z").find("1970") != std::string::npos);
    CHECK(time_error("1970-01-01T00:30:00+01:00").find("1970") != std::string::npos);
    CHECK(time_error("99999999999999999999").find("9999") != std::string::npos);
    CHECK(time_error("-5").find("RFC 3339") != std::string::npos);
}

TEST_CASE("times: formatted as RFC 3339 in UTC with microseconds, and back") {
    CHECK(format_time(0) == "1970-01-01T00:00:00.000000Z");
    CHECK(format_time(1'795'514'400'123'456ull) == "2026-11-24T10:00:00.123456Z");
    CHECK(format_time(1'709'164'799'999'999ull) == "2024-02-28T23:59:59.999999Z");
    std::mt19937_64 rng(7);
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t us = rng() % 253'402'300'800'000'000ull;
        CHECK(t(format_time(us)) == us);
    }
}

TEST_CASE("steps") {
    const auto step = [](std::string_view text) {
        std::string error;
        const auto us = parse_step(text, error);
        return us ? *us : 0;
    };
    CHECK(step("30s") == 30'000'000ull);
    CHECK(step("1m") == 60'000'000ull);
    CHECK(step("5min") == 300'000'000ull);
    CHECK(step("1h") == 3'600'000'000ull);
    CHECK(step("1d") == 86'400'000'000ull);
    CHECK(step("2w") == 1'209'600'000'000ull);
    CHECK(step("250ms") == 250'000ull);
    CHECK(step("3650d") == 3650 * 86'400'000'000ull);
    for (const char* bad : {"", "m", "0s", "1", "1x", "-1m", "1.5h", "1 m", "3651d", "999999999999w"}) {
        std::string error;
        CHECK_MESSAGE(!parse_step(bad, error), std::string(bad));
        CHECK(!error.empty());
    }
}

TEST_CASE("base64") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode(std::string("\xff\xfe\x00", 3)) == "//4A");
    CHECK(base64_encode(std::string("\xff\xfe\x00", 3), true) == "__4A");
    CHECK(base64_encode("fo", true) == "Zm8");
    CHECK(base64url_decode("Zm8") == "fo");
    CHECK(base64url_decode("__4A") == std::string("\xff\xfe\x00", 3));
    CHECK_FALSE(base64url_decode("Zm8="));   // padding is not part of the URL form
    CHECK_FALSE(base64url_decode("Z"));      // impossible length
    CHECK_FALSE(base64url_decode("Zm9"));    // leftover bits set: a second spelling of "fo"
    CHECK_FALSE(base64url_decode("a+b/"));
}

TEST_CASE("cursors: round trip, and junk is refused") {
    const position p{1'795'514'400'123'456ull, 42, 0x01000007};
    const auto c = encode_cursor(p);
    CHECK(c.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos);
    CHECK(decode_cursor(c) == p);
    CHECK_FALSE(decode_cursor(""));
    CHECK_FALSE(decode_cursor("abc"));
    CHECK_FALSE(decode_cursor(c.substr(1)));
    CHECK_FALSE(decode_cursor(c + "AA"));
    auto other_version = c;
    other_version[1] = 'B';  // first byte 0x01 -> 0x05
    CHECK_FALSE(decode_cursor(other_version));
}

TEST_CASE("cursors: where each topic resumes in (ts, topic, seq) order") {
    const position after{100, 5, 7};
    CHECK(resume_key(4, after) == message_key{4, 101, 0});  // earlier topic: only later timestamps
    CHECK(resume_key(5, after) == message_key{5, 100, 8});  // same topic: the next seq
    CHECK(resume_key(6, after) == message_key{6, 100, 0});  // later topic: same timestamp still to come
    CHECK(resume_key(5, position{100, 5, 0xFFFFFFFF}) == message_key{5, 101, 0});
    CHECK_FALSE(resume_key(4, position{~0ull, 5, 0}));
}

TEST_CASE("aggregation") {
    CHECK(parse_aggregation("avg") == aggregation::avg);
    CHECK(parse_aggregation("sum") == aggregation::sum);
    CHECK_FALSE(parse_aggregation("mean"));
    CHECK(aggregation_name(aggregation::last) == "last");

    const std::uint64_t m = 60'000'000;
    const auto run = [&](aggregation agg) {
        series_builder b(m, agg);
        // bucket [0, 1m): 1, 5, 3; nothing in [1m, 2m); bucket [2m, 3m): 10, -2
        b.add(0, 1);
        b.add(10, 5);
        b.add(m - 1, 3);
        b.add(2 * m, 10);
        b.add(2 * m + 5, -2);
        return b.finish();
    };
    const auto avg = run(aggregation::avg);
    REQUIRE(avg.size() == 2);
    CHECK(avg[0].start_us == 0);
    CHECK(avg[0].value == doctest::Approx(3.0));
    CHECK(avg[0].count == 3);
    CHECK(avg[1].start_us == 2 * m);
    CHECK(avg[1].value == doctest::Approx(4.0));
    CHECK(run(aggregation::min)[0].value == 1);
    CHECK(run(aggregation::min)[1].value == -2);
    CHECK(run(aggregation::max)[0].value == 5);
    CHECK(run(aggregation::sum)[0].value == 9);
    CHECK(run(aggregation::count)[1].value == 2);
    CHECK(run(aggregation::last)[0].value == 3);
    CHECK(run(aggregation::last)[1].value == -2);
    CHECK(series_builder(m, aggregation::avg).finish().empty());
    // buckets are aligned on the epoch, not on the first sample
    series_builder b(m, aggregation::count);
    b.add(90'000'000, 1);
    CHECK(b.finish()[0].start_us == 60'000'000);
}

TEST_CASE("numeric fields of JSON payloads") {
    CHECK(numeric_field_of_payload(R"({"t": 21.5})", "t") == 21.5);
    CHECK(numeric_field_of_payload(R"({"t": -3})", "t") == -3);
    CHECK(numeric_field_of_payload(R"({"a": {"b": {"c": 7}}})", "a.b.c") == 7);
    CHECK(numeric_field_of_payload(R"({"a.b": 1, "a": {"b": 2}})", "a.b") == 1);  // the literal key wins
    CHECK_FALSE(numeric_field_of_payload(R"({"t": "21.5"})", "t"));
    CHECK_FALSE(numeric_field_of_payload(R"({"t": true})", "t"));
    CHECK_FALSE(numeric_field_of_payload(R"({"t": null})", "t"));
    CHECK_FALSE(numeric_field_of_payload(R"({"u": 1})", "t"));
    CHECK_FALSE(numeric_field_of_payload(R"({"a": 1})", "a.b"));
    CHECK_FALSE(numeric_field_of_payload("21.5", "t"));
    CHECK_FALSE(numeric_field_of_payload("{not json", "t"));
    CHECK_FALSE(numeric_field_of_payload(std::string("\xff\x00", 2), "t"));
}

namespace {

// A store in a temporary directory whose messages are written directly.
struct scratch_store {
    std::filesystem::path dir;
    std::unique_ptr<store> s;

    scratch_store() {
        dir = std::filesystem::temp_directory_path() /
              ("strata-unit-query-" + std::to_string(std::random_device{}()));
        std::filesystem::remove_all(dir);
        store_options o;
        o.path = dir.string();
        std::string error;
        s = store::open(o, error);
        REQUIRE_MESSAGE(s, error);
    }
    ~scratch_store() {
        s.reset();
        std::filesystem::remove_all(dir);
    }

    void topic(std::uint64_t id, const std::string& name) {
        std::string id_bytes;
        put_u64(id_bytes, id);
        REQUIRE(s->db().Put({}, s->topics(), topic_name_key(name), id_bytes).ok());
        REQUIRE(s->db().Put({}, s->topics(), topic_id_key(id), name).ok());
    }
    void message(const message_key& k, std::string_view payload) {
        message_record r;
        r.qos = 1;
        r.client_id = "unit";
        r.payload = payload;
        std::string value;
        encode_message(value, r);
        REQUIRE(s->db().Put({}, s->messages(), encode_message_key(k), value).ok());
    }
};

std::string payload_of(const stored_message& m) {
    message_record r;
    REQUIRE(decode_message(m.value, r));
    return std::string(r.payload);
}

}  // namespace

TEST_CASE("reader: merge across topics and pages with equal timestamps lose or repeat nothing") {
    scratch_store st;
    st.topic(1, "s/a");
    st.topic(2, "s/b");
    st.topic(3, "other");
    // Many messages share timestamps, within a topic (seq apart) and across topics.
    std::vector<std::pair<message_key, std::string>> all;
    for (std::uint64_t ts : {100, 100, 100, 200, 200, 300}) {
        for (std::uint64_t id : {1, 2}) {
            const message_key k{id, ts, static_cast<std::uint32_t>(all.size())};
            all.emplace_back(k, std::to_string(id) + "@" + std::to_string(ts) + "#" + std::to_string(k.seq));
            st.message(k, all.back().second);
        }
    }
    st.message({3, 150, 0}, "not matched");
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return position_of(a.first) < position_of(b.first); });

    reader r(*st.s);
    for (std::size_t limit : {1, 2, 3, 5, 100}) {
        std::vector<std::string> seen;
        std::optional<position> after;
        for (int pages = 0; pages < 100; ++pages) {
            const auto page = r.messages("s/+", 0, ~0ull, limit, after);
            CHECK(page.items.size() <= limit);
            for (const auto& m : page.items) seen.push_back(payload_of(m));
            if (!page.more) break;
            REQUIRE_FALSE(page.items.empty());
            after = position_of(page.items.back().key);
        }
        std::vector<std::string> expected;
        for (const auto& [k, p] : all) expected.push_back(p);
        CHECK_MESSAGE(seen == expected, "limit " << limit);
    }

    // [from, to): 100 included, 300 excluded
    const auto bounded = r.messages("s/a", 100, 300, 100, std::nullopt);
    CHECK(bounded.items.size() == 5);
    CHECK_FALSE(bounded.more);
    CHECK(r.messages("#", 150, 151, 100, std::nullopt).items.size() == 1);

    const auto latest = r.latest("#", nullptr).items;
    REQUIRE(latest.size() == 3);
    CHECK(latest[0].topic == "other");
    CHECK(latest[1].topic == "s/a");
    CHECK(latest[1].key.ts_us == 300);
    CHECK(latest[2].topic == "s/b");
}

TEST_CASE("reader: the per-topic iterator limit does not change the answer") {
    // More topics than the reader opens iterators for: one iterator is re-seeked.
    scratch_store st;
    std::vector<std::string> expected;
    for (std::uint64_t id = 1; id <= 80; ++id) st.topic(id, "many/" + std::to_string(id));
    for (std::uint64_t ts = 1; ts <= 3; ++ts) {
        for (std::uint64_t id = 1; id <= 80; ++id) {
            st.message({id, ts * 10, 0}, std::to_string(id) + "@" + std::to_string(ts));
            expected.push_back(std::to_string(id) + "@" + std::to_string(ts));
        }
    }
    reader r(*st.s);
    std::vector<std::string> seen;
    std::optional<position> after;
    for (int pages = 0; pages < 100; ++pages) {
        const auto page = r.messages("many/#", 0, ~0ull, 7, after);
        for (const auto& m : page.items) seen.push_back(payload_of(m));
        if (!page.more) break;
        after = position_of(page.items.back().key);
    }
    CHECK(seen == expected);
}

namespace {

// Lets through the topics not in `hidden`; counts the batches it was asked to prepare.
class hiding_gate final : public topic_gate {
public:
    explicit hiding_gate(std::set<std::string> hidden) : hidden_(std::move(hidden)) {}
    void prepare(const std::vector<std::string_view>& topics) override {
        ++batches;
        prepared += topics.size();
    }
    bool visible(std::string_view topic) override { return !hidden_.contains(std::string(topic)); }
    int batches = 0;
    std::size_t prepared = 0;

private:
    std::set<std::string> hidden_;
};

}  // namespace

TEST_CASE("reader: a gate hides topics from wildcards, asked once per query") {
    scratch_store st;
    st.topic(1, "room/a");
    st.topic(2, "room/b");
    st.topic(3, "room/c");
    for (std::uint64_t id = 1; id <= 3; ++id) st.message({id, 100 * id, 0}, "m" + std::to_string(id));
    reader r(*st.s);
    hiding_gate gate({"room/b"});

    const auto page = r.messages("room/#", 0, ~0ull, 100, std::nullopt, &gate);
    REQUIRE(page.items.size() == 2);
    CHECK(page.items[0].topic == "room/a");
    CHECK(page.items[1].topic == "room/c");
    CHECK(gate.batches == 1);
    CHECK(gate.prepared == 3);

    const auto latest = r.latest("room/+", &gate).items;
    REQUIRE(latest.size() == 2);
    CHECK(latest[0].topic == "room/a");
    CHECK(latest[1].topic == "room/c");
}

TEST_CASE("reader: the latest messages come a page at a time, by topic name") {
    scratch_store st;
    std::vector<std::string> expected;
    for (std::uint64_t id = 1; id <= 25; ++id) {
        const auto name = "dev/" + std::string(id < 10 ? "0" : "") + std::to_string(id);
        st.topic(id, name);
        st.message({id, 1000 + id, 0}, name);
        expected.push_back(name);
    }
    reader r(*st.s);
    std::vector<std::string> seen;
    std::optional<std::string> after;
    for (int pages = 0; pages < 10; ++pages) {
        const auto page = r.latest("dev/+", nullptr, after, 7);
        CHECK(page.items.size() <= 7);
        for (const auto& m : page.items) seen.push_back(m.topic);
        if (!page.more) break;
        after = page.items.back().topic;
    }
    CHECK(seen == expected);
    // The last page says there is no more.
    const auto last = r.latest("dev/+", nullptr, std::string("dev/20"), 5);
    CHECK(last.items.size() == 5);
    CHECK_FALSE(last.more);
}
