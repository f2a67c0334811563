// The store's writer on a real RocksDB store in a temporary directory:
// physical retention (the writer's sweep and the compaction filter), what is
// written while the disk is short of space, and recovery after a failed write
// (through a file system that fails on demand). Assertions read the column
// families with raw iterators, not through the store's own bookkeeping.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "keys.hpp"
#include "records.hpp"
#include "retention.hpp"
#include "store.hpp"

using namespace strata::storage;

namespace {

constexpr std::uint64_t second_us = 1'000'000;
constexpr std::uint64_t minute_us = 60 * second_us;
constexpr std::uint64_t hour_us = 60 * minute_us;
constexpr std::uint64_t day_us = 24 * hour_us;

// Runs completions where the writer hands them over (there are no workers here).
class inline_sink final : public completion_sink {
public:
    void deliver(std::uint32_t, std::vector<std::pair<std::function<void(bool)>, bool>> work) override {
        for (auto& [fn, committed] : work) fn(committed);
    }
};

// A file system whose writes fail with "no space" while `full` is set, and
// whose free space (as the store's check sees it) is `free_bytes`.
class filling_fs final : public rocksdb::FileSystemWrapper {
public:
    explicit filling_fs(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}
    const char* Name() const override { return "strata.unit.filling_fs"; }

    std::atomic<bool> full{false};
    std::atomic<std::uint64_t> free_bytes{std::uint64_t{1} << 40};

    // RocksDB's own recovery from "no space" waits on this too.
    rocksdb::IOStatus GetFreeSpace(const std::string&, const rocksdb::IOOptions&, std::uint64_t* diskfree,
                                   rocksdb::IODebugContext*) override {
        *diskfree = full ? 0 : free_bytes.load();
        return rocksdb::IOStatus::OK();
    }

    rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override {
        if (full) return rocksdb::IOStatus::NoSpace("unit test: disk full");
        auto s = target()->NewWritableFile(f, o, r, d);
        if (s.ok()) *r = std::make_unique<file>(std::move(*r), full);
        return s;
    }

private:
    class file final : public rocksdb::FSWritableFileOwnerWrapper {
    public:
        file(std::unique_ptr<rocksdb::FSWritableFile> f, std::atomic<bool>& full)
            : FSWritableFileOwnerWrapper(std::move(f)), full_(full) {}
        using IOS = rocksdb::IOStatus;
        IOS Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full") : FSWritableFileOwnerWrapper::Append(d, o, g);
        }
        IOS Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o, const rocksdb::DataVerificationInfo& v,
                   rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full") : FSWritableFileOwnerWrapper::Append(d, o, v, g);
        }
        IOS PositionedAppend(const rocksdb::Slice& d, std::uint64_t off, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full")
                         : FSWritableFileOwnerWrapper::PositionedAppend(d, off, o, g);
        }
        IOS PositionedAppend(const rocksdb::Slice& d, std::uint64_t off, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full")
                         : FSWritableFileOwnerWrapper::PositionedAppend(d, off, o, v, g);
        }
        IOS Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full") : FSWritableFileOwnerWrapper::Sync(o, g);
        }

    private:
        std::atomic<bool>& full_;
    };
};

// A store in a temporary directory; reopen() keeps the directory.
struct scratch {
    std::filesystem::path dir;
    store_options options;
    std::unique_ptr<store> s;
    inline_sink sink;
    std::vector<std::string> log;
    std::mutex log_mutex;

    explicit scratch(store_options o = {}) : options(std::move(o)) {
        dir = std::filesystem::temp_directory_path() / ("strata-unit-store-" + std::to_string(std::random_device{}()));
        std::filesystem::remove_all(dir);
        options.path = dir.string();
        options.log = [this](std::string_view line) {
            std::lock_guard lock(log_mutex);
            log.emplace_back(line);
        };
        open();
    }
    ~scratch() {
        s.reset();
        std::filesystem::remove_all(dir);
    }
    void open() {
        std::string error;
        s = store::open(options, error);
        REQUIRE_MESSAGE(s, error);
    }
    void reopen() {
        s.reset();
        open();
    }
    bool logged(std::string_view text) {
        std::lock_guard lock(log_mutex);
        for (const auto& l : log) {
            if (l.find(text) != std::string::npos) return true;
        }
        return false;
    }

    // Every key of a column family, read past the store (total order, no prefix tricks).
    std::vector<std::string> keys(rocksdb::ColumnFamilyHandle* cf) {
        rocksdb::ReadOptions ro;
        ro.total_order_seek = true;
        std::unique_ptr<rocksdb::Iterator> it(s->db().NewIterator(ro, cf));
        std::vector<std::string> out;
        for (it->SeekToFirst(); it->Valid(); it->Next()) out.push_back(it->key().ToString());
        REQUIRE(it->status().ok());
        return out;
    }
    std::vector<message_key> message_keys() {
        std::vector<message_key> out;
        for (const auto& k : keys(s->messages())) {
            message_key mk;
            REQUIRE(decode_message_key(k, mk));
            out.push_back(mk);
        }
        return out;
    }
    std::optional<std::string> get(rocksdb::ColumnFamilyHandle* cf, const std::string& key) {
        std::string value;
        const auto st = s->db().Get(rocksdb::ReadOptions(), cf, key, &value);
        if (st.IsNotFound()) return std::nullopt;
        REQUIRE(st.ok());
        return value;
    }
    topic_stats stored_stats(std::uint64_t id) {
        const auto v = get(s->topics(), topic_stats_key(id));
        topic_stats st;
        if (v) REQUIRE(decode_stats(*v, st));
        return st;
    }
};

std::string message_value(std::string_view payload) {
    message_record r;
    r.qos = 1;
    r.client_id = "unit";
    r.payload = payload;
    std::string v;
    encode_message(v, r);
    return v;
}

// Adds one message to a write set as worker_store::store_message does.
void add_message(store& s, write_set& set, std::string_view topic, std::uint64_t ts_us, std::uint32_t seq,
                 std::string_view payload = "x") {
    const auto id = s.topic_id(topic);
    set.batch.Put(s.messages(), encode_message_key({id, ts_us, seq}), message_value(payload));
    set.messages.push_back({id, ts_us, seq});
}

// Submits a set and waits until the writer has committed it; returns what
// a completion that needs the set's messages was told.
bool commit(store& s, std::unique_ptr<write_set> set) {
    std::mutex m;
    std::condition_variable cv;
    std::optional<bool> result;
    set->completions.push_back(completion{0,
                                          [&](bool stored) {
                                              std::lock_guard lock(m);
                                              result = stored;
                                              cv.notify_all();
                                          },
                                          true});
    s.submit(std::move(set));
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return result.has_value(); }));
    return *result;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

}  // namespace

// ---------------------------------------------------------------- retention

TEST_CASE("retention: the writer's sweep deletes expired messages and keeps the counters exact") {
    store_options o;
    o.retention.rules = {{"old/#", 3600}};  // one hour; other topics forever
    scratch st(o);
    st.s->start(st.sink);
    // The writer sweeps once as it starts, then every minute: let that first
    // sweep pass, so that the one below is the sweep under test.
    REQUIRE(commit(*st.s, std::make_unique<write_set>()));
    const auto now = now_us();
    auto set = std::make_unique<write_set>();
    add_message(*st.s, *set, "old/a", now - 3 * day_us, 0);
    add_message(*st.s, *set, "old/a", now - 2 * day_us, 0);
    add_message(*st.s, *set, "old/a", now - 2 * hour_us, 0);
    add_message(*st.s, *set, "old/a", now - 10 * minute_us, 0);  // kept
    add_message(*st.s, *set, "old/a", now - 5 * minute_us, 1);   // kept
    add_message(*st.s, *set, "old/c", now - 3 * day_us, 0);
    add_message(*st.s, *set, "old/c", now - 2 * hour_us, 0);
    add_message(*st.s, *set, "keep/b", now - 30 * day_us, 0);  // no rule: forever
    add_message(*st.s, *set, "keep/b", now - 3 * day_us, 0);
    REQUIRE(commit(*st.s, std::move(set)));
    const auto a = st.s->topic_id("old/a");
    const auto b = st.s->topic_id("keep/b");
    const auto c = st.s->topic_id("old/c");
    REQUIRE(st.message_keys().size() == 9);
    REQUIRE(st.s->stats(a).count == 5);

    CHECK(st.s->sweep_retention(now) == 5);

    std::map<std::uint64_t, std::vector<std::uint64_t>> left;  // topic id -> timestamps, from the raw keys
    for (const auto& k : st.message_keys()) left[k.topic_id].push_back(k.ts_us);
    CHECK(left[a] == std::vector<std::uint64_t>{now - 10 * minute_us, now - 5 * minute_us});
    CHECK(left[b] == std::vector<std::uint64_t>{now - 30 * day_us, now - 3 * day_us});
    CHECK(left.count(c) == 0);

    const auto sa = st.s->stats(a);
    CHECK(sa.count == 2);
    CHECK(sa.first_us == now - 10 * minute_us);
    CHECK(sa.last_us == now - 5 * minute_us);
    const auto sc = st.s->stats(c);
    CHECK(sc.count == 0);
    CHECK(sc.first_us == 0);
    CHECK(sc.last_us == 0);
    CHECK(st.s->stats(b).count == 2);
    // The counters on disk say the same, and a restart reads them back.
    for (auto id : {a, b, c}) {
        const auto mem = st.s->stats(id);
        const auto disk = st.stored_stats(id);
        CHECK(disk.count == mem.count);
        CHECK(disk.first_us == mem.first_us);
        CHECK(disk.last_us == mem.last_us);
    }
    CHECK(st.s->sweep_retention(now) == 0);  // nothing more to do
    st.reopen();
    CHECK(st.s->stats(a).count == 2);
    CHECK(st.s->stats(c).count == 0);
    CHECK(st.message_keys().size() == 4);
}

TEST_CASE("purge: many slices delete exactly the range and keep the counters exact") {
    scratch st;
    st.s->start(st.sink);
    // More than one slice's worth (10,000 keys) in one topic, some in the same microsecond.
    auto set = std::make_unique<write_set>();
    for (std::uint32_t i = 0; i < 25'000; ++i) add_message(*st.s, *set, "big/t", 1'000 + i / 2, i);
    add_message(*st.s, *set, "big/u", 500, 0);  // all of this topic goes, from its counter
    REQUIRE(commit(*st.s, std::move(set)));
    const auto t = st.s->topic_id("big/t");
    const auto u = st.s->topic_id("big/u");
    REQUIRE(st.s->stats(t).count == 25'000);

    // Messages before ts 1000 + 11,000 go: 22,000 of big/t, and big/u's one.
    CHECK(st.s->purge("big/#", 1'000 + 11'000) == 22'001);
    CHECK(st.s->stats(t).count == 3'000);
    CHECK(st.s->stats(t).first_us == 12'000);
    CHECK(st.s->stats(u).count == 0);
    std::size_t left = 0;
    for (const auto& k : st.message_keys()) {
        CHECK(k.topic_id == t);
        CHECK(k.ts_us >= 12'000);
        ++left;
    }
    CHECK(left == 3'000);
    CHECK(st.stored_stats(t).count == 3'000);
    CHECK(st.s->purge("big/#", 1'000 + 11'000) == 0);  // nothing more before that time
}

TEST_CASE("retention filter: decides on the key's timestamp, per topic") {
    retention_policy policy;
    policy.rules = {{"old/#", 3600}};
    auto index = std::make_shared<topic_retention_index>(policy, [](std::uint64_t id) -> std::string {
        if (id == 1) return "old/a";
        if (id == 2) return "keep/b";
        return "";  // unknown id
    });
    auto factory = make_retention_filter_factory(index);
    rocksdb::CompactionFilter::Context context{};
    context.is_full_compaction = true;
    const auto now = now_us();
    auto filter = factory->CreateCompactionFilter(context);
    auto removes = [&](std::uint64_t topic, std::uint64_t ts) {
        std::string new_value;
        bool changed = false;
        return filter->Filter(1, encode_message_key({topic, ts, 0}), "value", &new_value, &changed);
    };
    const std::uint64_t keep = hour_us + retention_backstop_margin_us;
    CHECK(removes(1, now - keep - minute_us));   // older than retention and margin
    CHECK(removes(1, now - 30 * day_us));
    CHECK_FALSE(removes(1, now - hour_us + minute_us));   // within retention
    CHECK_FALSE(removes(1, now - hour_us - minute_us));   // expired, but within the margin: the sweep's job
    CHECK_FALSE(removes(2, now - 300 * day_us));           // no rule: kept forever
    CHECK_FALSE(removes(3, now - 300 * day_us));           // no name: never delete what cannot be placed
    CHECK(removes(1, now - 30 * day_us));                  // back to topic 1 after others: decided per topic
    std::string new_value;
    bool changed = false;
    CHECK_FALSE(filter->Filter(1, "not a message key", "v", &new_value, &changed));
}

TEST_CASE("retention filter: compactions remove old messages and leave the other column families alone") {
    store_options o;
    o.retention.rules = {{"old/#", 3600}};
    scratch st(o);  // no writer: only the compaction filter can delete
    const auto id = st.s->topic_id("old/a");
    const auto forever = st.s->topic_id("keep/b");
    const auto now = now_us();
    const auto old_key = encode_message_key({id, now - 2 * day_us, 0});
    const auto new_key = encode_message_key({id, now - minute_us, 0});
    const auto kept_key = encode_message_key({forever, now - 2 * day_us, 0});
    auto& db = st.s->db();
    for (const auto& k : {old_key, new_key, kept_key}) REQUIRE(db.Put({}, st.s->messages(), k, message_value("m")).ok());
    // Keys shaped like old message keys in every other family.
    for (auto* cf : {st.s->topics(), st.s->sessions(), st.s->retained(), st.s->cursors()}) {
        REQUIRE(db.Put({}, cf, old_key, "not a message").ok());
    }
    rocksdb::CompactRangeOptions all;
    all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (auto* cf : {st.s->messages(), st.s->topics(), st.s->sessions(), st.s->retained(), st.s->cursors()}) {
        REQUIRE(db.Flush(rocksdb::FlushOptions(), cf).ok());
        REQUIRE(db.CompactRange(all, cf, nullptr, nullptr).ok());
    }
    CHECK(st.keys(st.s->messages()) == std::vector<std::string>{new_key, kept_key});  // ids 1, 2: key order
    CHECK_FALSE(st.get(st.s->messages(), old_key));
    CHECK(st.get(st.s->messages(), new_key));
    CHECK(st.get(st.s->messages(), kept_key));
    for (auto* cf : {st.s->topics(), st.s->sessions(), st.s->retained(), st.s->cursors()}) {
        CHECK(st.get(cf, old_key) == std::optional<std::string>("not a message"));
    }
}

// ---------------------------------------------------------------- short of space, failed writes

TEST_CASE("short of space: new messages are refused, the bookkeeping of the same sets is written") {
    store_options o;
    o.min_free_bytes = std::uint64_t{1} << 62;  // never enough: the writer sees "low" at once
    scratch st(o);
    auto& db = st.s->db();
    // State from before the disk filled up.
    const auto delivered = delivery_key("sub", 7);
    REQUIRE(db.Put({}, st.s->sessions(), delivered, "a delivery record").ok());
    std::string old_retained;
    encode_retained(old_retained, retained_record{1, 1, {}});
    REQUIRE(db.Put({}, st.s->retained(), "r/t", old_retained).ok());
    st.s->start(st.sink);
    REQUIRE(eventually([&] { return !st.s->writable(); }));
    CHECK_FALSE(st.s->failed());  // short of space is not a failure

    auto set = std::make_unique<write_set>();
    add_message(*st.s, *set, "low/t", now_us(), 0);
    set->batch.Put(st.s->sessions(), inbound_key("pub", 3), "held message key");  // accepts the message: dropped
    set->batch.Put(st.s->sessions(), session_key("sub"), "session record");         // bookkeeping: written
    set->batch.Delete(st.s->sessions(), delivered);                                  // bookkeeping: written
    set->retained.push_back({"r/t", 5, "new retained value"});
    auto token = std::make_shared<strata::commit_token>();
    token->remaining.store(1);
    std::atomic<int> acked{-1};  // -1: not yet; then 0 or 1
    token->done = [&](bool ok) { acked = ok ? 1 : 0; };
    set->message_tokens.push_back(token);
    set->parts.push_back(token);
    std::atomic<int> bookkeeping_done{-1};
    set->completions.push_back(completion{0, [&](bool ok) { bookkeeping_done = ok ? 1 : 0; }, false});
    CHECK_FALSE(commit(*st.s, std::move(set)));  // the PUBREC-like completion is refused

    REQUIRE(eventually([&] { return acked >= 0; }));
    CHECK(acked == 0);             // the PUBACK-like token too
    CHECK(bookkeeping_done == 1);  // the rest went on
    CHECK(st.keys(st.s->messages()).empty());
    CHECK_FALSE(st.get(st.s->sessions(), inbound_key("pub", 3)));
    CHECK(st.get(st.s->sessions(), session_key("sub")) == std::optional<std::string>("session record"));
    CHECK_FALSE(st.get(st.s->sessions(), delivered));
    // The retained message could not be stored: the old one must not come back after a restart.
    CHECK_FALSE(st.get(st.s->retained(), "r/t"));
    CHECK(st.s->stats(st.s->topic_id("low/t")).count == 0);
    // The topic's name is bookkeeping too (small, and needed by later messages).
    CHECK(st.get(st.s->topics(), topic_name_key("low/t")));
    CHECK(st.logged("below storage_min_free_space"));
}

TEST_CASE("a failed write: bookkeeping waits, the store resumes when the disk recovers, then catches up") {
    auto fs = std::make_shared<filling_fs>(rocksdb::FileSystem::Default());
    store_options o;
    o.min_free_bytes = 1 << 20;
    o.env = std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(fs));
    o.free_space = [fs](const std::string&) { return std::optional<std::uint64_t>(fs->free_bytes.load()); };
    scratch st(o);
    st.s->start(st.sink);
    const auto t0 = now_us();
    {
        auto set = std::make_unique<write_set>();
        add_message(*st.s, *set, "f/t", t0, 0, "before");
        REQUIRE(commit(*st.s, std::move(set)));
    }
    // Another process fills the disk faster than the free-space check: the write fails.
    fs->full = true;
    {
        auto set = std::make_unique<write_set>();
        add_message(*st.s, *set, "f/t", t0 + 1, 0, "during");
        set->batch.Put(st.s->sessions(), session_key("x"), "subscribed while the disk was full");
        CHECK_FALSE(commit(*st.s, std::move(set)));
    }
    CHECK(st.s->failed());
    CHECK_FALSE(st.s->writable());
    fs->free_bytes = 0;  // the check sees it now: no resume is tried while full
    {
        auto set = std::make_unique<write_set>();  // bookkeeping only, while failed
        set->batch.Delete(st.s->sessions(), session_key("gone"));
        set->batch.Put(st.s->sessions(), session_key("y"), "also waits");
        CHECK(commit(*st.s, std::move(set)));  // no messages to refuse: the work goes on
    }
    CHECK(st.s->failed());
    CHECK_FALSE(st.get(st.s->sessions(), session_key("y")));  // not yet: the store cannot take it
    fs->full = false;
    fs->free_bytes = std::uint64_t{1} << 40;
    // RocksDB may be recovering by itself first (it checks for space every 5 s).
    REQUIRE_MESSAGE(eventually([&] { return !st.s->failed(); }, std::chrono::seconds(20)), "the store did not resume");
    CHECK(st.s->writable());
    CHECK(st.logged("the store resumed"));
    // The bookkeeping written while failed is there now; the refused message is not.
    CHECK(st.get(st.s->sessions(), session_key("x")) == std::optional<std::string>("subscribed while the disk was full"));
    CHECK(st.get(st.s->sessions(), session_key("y")) == std::optional<std::string>("also waits"));
    {
        auto set = std::make_unique<write_set>();
        add_message(*st.s, *set, "f/t", t0 + 2, 0, "after");
        CHECK(commit(*st.s, std::move(set)));
    }
    st.s->stop();
    st.reopen();
    const auto id = st.s->topic_id("f/t");
    std::vector<std::uint64_t> ts;
    for (const auto& k : st.message_keys()) {
        CHECK(k.topic_id == id);
        ts.push_back(k.ts_us);
    }
    CHECK(ts == std::vector<std::uint64_t>{t0, t0 + 2});
    CHECK(st.s->stats(id).count == 2);
    CHECK(st.get(st.s->sessions(), session_key("x")));
}

// ---------------------------------------------------------------- topic ids

TEST_CASE("topic ids: an id that still has messages is not handed out again, even without its name") {
    scratch st;
    // A message whose topic's name was lost (as a crash without atomic flush could leave it).
    REQUIRE(st.s->db().Put({}, st.s->messages(), encode_message_key({41, now_us(), 0}), message_value("orphan")).ok());
    st.reopen();
    CHECK(st.s->topic_id("new/topic") == 42);
}

// ---------------------------------------------------------------- without history

TEST_CASE("without history: released records are deleted, unreferenced ones at start, and a history store is kept") {
    store_options o;
    o.keep_history = false;
    o.releases = std::make_shared<release_list>();
    scratch st(o);
    auto set = std::make_unique<write_set>();
    for (std::uint32_t seq = 1; seq <= 4; ++seq) add_message(*st.s, *set, "q/t", 1000, seq);
    st.s->start(st.sink);
    REQUIRE(commit(*st.s, std::move(set)));
    REQUIRE(st.message_keys().size() == 4);
    const auto id = st.message_keys().front().topic_id;

    // Released (a session is done with it): deleted with the writer's next round.
    o.releases->released(id, 1000, 1);
    CHECK(eventually([&] { return st.message_keys().size() == 3; }));
    st.s->stop();

    // At start, what no session refers to goes (a crash before its release was written).
    const std::vector<std::string> referenced{encode_message_key({id, 1000, 3}), encode_message_key({id, 9, 9})};
    CHECK(st.s->remove_unreferenced(referenced) == 2);
    REQUIRE(st.message_keys().size() == 1);
    CHECK(st.message_keys().front().seq == 3);

    // The store now says it keeps sessions only; opening it with history is an upgrade...
    st.options.keep_history = true;
    st.reopen();
    CHECK(st.get(st.s->db().DefaultColumnFamily(), "strata:keeps") == "history");
    // ...and a store with history is never opened to keep sessions only (it would lose the history).
    st.s.reset();
    store_options sessions_only = st.options;
    sessions_only.keep_history = false;
    std::string error;
    CHECK_FALSE(store::open(sessions_only, error));
    CHECK(error.find("keeps the history of every message (storage rocksdb)") != std::string::npos);
    st.open();
    CHECK(st.message_keys().size() == 1);  // nothing was deleted
}
