// An exporter's runner and the export log under faults, on a real RocksDB
// store in a temporary directory, with a sink of the test's own in place of a
// database (the sinks themselves meet real databases in the e2e tests):
//
// - a batch the database refuses for some of its rows (a data_error) is split
//   until those rows are found; they go to the error table with the
//   database's message and their payload as published, the rest is written,
//   and the cursor moves past the whole batch;
// - export-log entries (and stored messages) that cannot be decoded are
//   counted, logged and skipped, and the exporter goes on;
// - a cursor the store cannot save, a log prune it refuses and a FlushWAL that
//   fails at stop are logged, and the first two are tried again until they
//   succeed (through a file system that fails on demand).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <map>
#include <thread>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "core/logger.hpp"
#include "exporter_set.hpp"
#include "keys.hpp"
#include "records.hpp"
#include "runner.hpp"
#include "store.hpp"

using namespace strata::storage;
namespace ex = strata::exporters;
namespace cfg = strata::config;

namespace {

// A file system whose writes fail with "no space" while `full` is set.
class failing_fs final : public rocksdb::FileSystemWrapper {
public:
    explicit failing_fs(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}
    const char* Name() const override { return "strata.unit.failing_fs"; }

    std::atomic<bool> full{false};

    rocksdb::IOStatus GetFreeSpace(const std::string&, const rocksdb::IOOptions&, std::uint64_t* diskfree,
                                   rocksdb::IODebugContext*) override {
        *diskfree = full ? 0 : std::uint64_t{1} << 40;
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
        IOS Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full") : FSWritableFileOwnerWrapper::Sync(o, g);
        }
        IOS Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
            return full_ ? IOS::NoSpace("unit test: disk full") : FSWritableFileOwnerWrapper::Fsync(o, g);
        }

    private:
        std::atomic<bool>& full_;
    };
};

class inline_completions final : public completion_sink {
public:
    void deliver(std::uint32_t, std::vector<std::pair<std::function<void(bool)>, bool>> work) override {
        for (auto& [fn, committed] : work) fn(committed);
    }
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

// A store with the export log, a logger writing to a file, and, on request,
// a file system that fails on demand.
struct bench {
    std::filesystem::path dir;
    std::shared_ptr<failing_fs> fs;
    std::mutex store_log_mutex;
    std::vector<std::string> store_log;
    std::unique_ptr<store> s;
    inline_completions completions;
    std::unique_ptr<strata::logger> log;
    std::string log_path;

    explicit bench(bool failing = false, durability mode = durability::wal) {
        dir = std::filesystem::temp_directory_path() / ("strata-unit-exp-" + std::to_string(std::random_device{}()));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        store_options o;
        o.path = (dir / "store").string();
        o.mode = mode;
        o.keep_log = true;
        o.min_free_bytes = 1 << 20;
        o.log = [this](std::string_view line) {
            std::lock_guard lock(store_log_mutex);
            store_log.emplace_back(line);
        };
        if (failing) {
            fs = std::make_shared<failing_fs>(rocksdb::FileSystem::Default());
            o.env = std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(fs));
            // The store's own free-space check sees plenty: another process
            // fills the disk faster than it looks, so writes fail (the store's
            // failed state, which it resumes from once the disk takes writes).
            o.free_space = [](const std::string&) { return std::optional<std::uint64_t>(std::uint64_t{1} << 40); };
        }
        std::string error;
        s = store::open(o, error);
        REQUIRE_MESSAGE(s, error);
        s->start(completions);
        log_path = (dir / "strata.log").string();
        cfg::log_config lc;
        lc.explicitly_set = true;
        lc.file = log_path;
        lc.timestamp = false;
        log = std::make_unique<strata::logger>(lc);
    }
    ~bench() {
        if (s) s->stop();
        s.reset();
        std::filesystem::remove_all(dir);
    }

    // Stores messages on topic t/<i> with these payloads, as one commit;
    // false when the store refused them.
    bool publish(const std::vector<std::string>& payloads, std::uint64_t ts = 0) {
        auto set = std::make_unique<write_set>();
        if (ts == 0) ts = now_us();
        for (std::uint32_t i = 0; i < payloads.size(); ++i) {
            const auto id = s->topic_id("t/" + std::to_string(i % 3));
            message_record m;
            m.qos = 1;
            m.client_id = "unit";
            m.payload = payloads[i];
            std::string value;
            encode_message(value, m);
            set->batch.Put(s->messages(), encode_message_key({id, ts, i}), value);
            set->messages.push_back({id, ts, i});
        }
        std::mutex mu;
        std::condition_variable cv;
        std::optional<bool> stored;
        set->completions.push_back({0,
                                    [&](bool ok) {
                                        std::lock_guard lock(mu);
                                        stored = ok;
                                        cv.notify_all();
                                    },
                                    true});
        s->submit(std::move(set));
        std::unique_lock lock(mu);
        REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return stored.has_value(); }));
        return *stored;
    }

    // How many lines of strata's log contain `text`.
    // The log is written by the logger's own thread: a line may land a
    // moment after what it tells of. This waits (bounded) for one, then counts.
    int logged_soon(std::string_view text) const {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (logged(text) == 0 && std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return logged(text);
    }
    int logged(std::string_view text) const {
        std::ifstream in(log_path);
        int n = 0;
        for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos ? 1 : 0;
        return n;
    }
    bool store_logged(std::string_view text) {
        std::lock_guard lock(store_log_mutex);
        for (const auto& l : store_log) {
            if (l.find(text) != std::string::npos) return true;
        }
        return false;
    }
    std::size_t log_entries() {
        std::unique_ptr<rocksdb::Iterator> it(s->db().NewIterator(rocksdb::ReadOptions(), s->log()));
        std::size_t n = 0;
        for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
        return n;
    }
};

// An exporter of every t/# message as text, writing to `sink`.
std::shared_ptr<const cfg::exporter_config> exporter(std::string name = "unit") {
    auto c = std::make_shared<cfg::exporter_config>();
    c->name = std::move(name);
    c->kind = "sqlite";
    c->url = "unused";
    c->batch_time_ms = 0;
    c->retry_min_ms = 10;
    c->retry_max_ms = 50;
    cfg::export_route_config r;
    r.filter = "t/#";
    r.target = "rows";
    r.payload = "text";
    c->routes.push_back(r);
    return c;
}

// A database of the test's own: refuses (with a data_error) any write that
// holds a row whose payload starts with "bad", and records the rows of every
// write it takes.
class recording_sink final : public ex::sink {
public:
    struct written {
        std::uint64_t log_seq;
        std::string payload;
        std::string error;
    };
    std::function<void()> on_write;  // runs at the start of each write (the test's fault)

    void write(std::span<const ex::export_row> rows) override {
        if (on_write) on_write();
        ++writes;
        for (const auto& r : rows) {
            if (r.error.empty() && r.payload.starts_with("bad")) throw ex::data_error("Fake DB: refused " + r.payload);
        }
        std::lock_guard lock(mutex);
        for (const auto& r : rows) rows_.push_back({r.log_seq, r.payload, r.error});
    }
    std::vector<written> rows() {
        std::lock_guard lock(mutex);
        return rows_;
    }
    std::atomic<int> writes{0};

private:
    std::mutex mutex;
    std::vector<written> rows_;
};

}  // namespace

TEST_CASE("exporters: rows the database refuses go to the error table; the rest of their batch is written") {
    bench b;
    std::vector<std::string> payloads;
    for (int i = 0; i < 40; ++i) payloads.push_back((i == 3 || i == 20 || i == 21 || i == 39 ? "bad-" : "ok-") +
                                                    std::to_string(i));
    REQUIRE(b.publish(payloads));
    const auto last = b.s->log_end() - 1;
    auto owned = std::make_unique<recording_sink>();
    auto* sink = owned.get();
    ex::runner r(exporter(), *b.s, *b.log, std::move(owned));
    r.start();
    REQUIRE_MESSAGE(eventually([&] { return r.status().cursor == last; }), "the batch never got through");
    r.stop();

    const auto rows = sink->rows();
    CHECK(rows.size() == payloads.size());  // each row written once, in the batch or in the error table
    std::map<std::string, std::string> by_payload;
    for (const auto& w : rows) CHECK(by_payload.emplace(w.payload, w.error).second);
    for (const auto& p : payloads) {
        REQUIRE(by_payload.contains(p));
        // The error row carries the database's message and the payload as published.
        CHECK(by_payload[p] == (p.starts_with("bad") ? "Fake DB: refused " + p : ""));
    }
    const auto s = r.status();
    CHECK(s.rows == payloads.size());
    CHECK(s.error_rows == 4);
    CHECK(s.refused_rows == 4);
    CHECK(s.errors == 0);
    CHECK(b.s->load_cursor("unit") == last);
    CHECK(b.logged_soon("the database refused 4 rows; they are in the TARGET_errors tables") == 1);
}

// A database with a unique index on the payload that can try rows (as the
// SQL sinks do, in a transaction rolled back): refuses a row whose payload it
// holds or that comes twice in one write, and any row starting with "bad".
class unique_payload_sink final : public ex::sink {
public:
    bool can_try() const override { return true; }
    void try_write(std::span<const ex::export_row> rows) override {
        ++trials;
        check(rows);
    }
    void write(std::span<const ex::export_row> rows) override {
        check(rows);
        ++commits;
        for (const auto& r : rows) (r.error.empty() ? stored : errors).emplace(r.payload, r.error);
    }
    std::map<std::string, std::string> stored, errors;  // payload -> reason
    int trials = 0, commits = 0;

private:
    void check(std::span<const ex::export_row> rows) const {
        std::set<std::string> seen;
        for (const auto& r : rows) {
            if (!r.error.empty()) continue;
            if (r.payload.starts_with("bad")) throw ex::data_error("Fake DB: refused " + r.payload);
            if (stored.contains(r.payload) || !seen.insert(r.payload).second) {
                throw ex::data_error("Fake DB: duplicate " + r.payload);
            }
        }
    }
};

TEST_CASE("exporters: a sink that can try rows finds the refused ones without committing, then writes once") {
    bench b;
    std::vector<std::string> payloads;
    for (int i = 0; i < 64; ++i) payloads.push_back((i % 16 == 5 ? "bad-" : "ok-") + std::to_string(i));
    REQUIRE(b.publish(payloads));
    auto owned = std::make_unique<unique_payload_sink>();
    auto* sink = owned.get();
    ex::runner r(exporter(), *b.s, *b.log, std::move(owned));
    r.start();
    REQUIRE(eventually([&] { return r.status().cursor == b.s->log_end() - 1; }));
    r.stop();
    CHECK(sink->commits == 1);  // the batch, once, with its refused rows in the error table
    CHECK(sink->trials > 0);
    CHECK(sink->stored.size() == 60);
    REQUIRE(sink->errors.size() == 4);
    CHECK(sink->errors["bad-5"] == "Fake DB: refused bad-5");
    CHECK(r.status().refused_rows == 4);
}

TEST_CASE("exporters: rows refused only together are found by committing halves") {
    bench b;
    // Each "same" row alone is fine; two in one write are not (a unique value twice in a batch).
    REQUIRE(b.publish({"a", "same", "b", "same", "c"}));
    auto owned = std::make_unique<unique_payload_sink>();
    auto* sink = owned.get();
    ex::runner r(exporter(), *b.s, *b.log, std::move(owned));
    r.start();
    REQUIRE(eventually([&] { return r.status().cursor == b.s->log_end() - 1; }));
    r.stop();
    CHECK(sink->stored.size() == 4);  // a, same (the first), b, c
    REQUIRE(sink->errors.size() == 1);
    CHECK(sink->errors["same"] == "Fake DB: duplicate same");
    CHECK(r.status().refused_rows == 1);
}

TEST_CASE("exporters: JSON rows the database refuses keep their payload as published") {
    bench b;
    REQUIRE(b.publish({R"({"v": 1, "note": "bad"})", R"( {"v":2} )"}));
    auto c = std::make_shared<cfg::exporter_config>(*exporter());
    c->routes[0].payload = "json";
    c->routes[0].all_fields = false;
    c->routes[0].fields = {"v"};
    c->routes[0].field_types = {"number"};
    c->routes[0].field_names = {"v"};
    class json_sink final : public ex::sink {
    public:
        std::vector<ex::export_row> errors;
        std::atomic<bool> done{false};
        void write(std::span<const ex::export_row> rows) override {
            for (const auto& r : rows) {
                if (r.error.empty() && r.fields.value("v", 0) == 1) throw ex::data_error("Fake DB: no ones");
            }
            for (const auto& r : rows) {
                if (!r.error.empty()) errors.push_back(r);
            }
            if (rows.back().fields.is_object() && rows.back().fields.value("v", 0) == 2) done = true;
        }
    };
    auto owned = std::make_unique<json_sink>();
    auto* sink = owned.get();
    ex::runner r(c, *b.s, *b.log, std::move(owned));
    r.start();
    REQUIRE(eventually([&] { return r.status().cursor == b.s->log_end() - 1; }));
    r.stop();
    REQUIRE(sink->done);
    REQUIRE(sink->errors.size() == 1);
    CHECK(sink->errors[0].error == "Fake DB: no ones");
    CHECK(sink->errors[0].payload == R"({"v": 1, "note": "bad"})");  // not the route's fields re-serialised
    CHECK(sink->errors[0].fields.is_null());
}

TEST_CASE("exporters: export-log entries that cannot be decoded are counted, logged and skipped") {
    bench b;
    REQUIRE(b.publish({"m0", "m1", "m2", "m3", "m4", "m5"}));
    const auto first = b.s->log_end() - 6;
    // Damage: an entry whose value is no message key, a key of the wrong
    // size, and a message record that is not one.
    std::string key;
    put_u64(key, first + 1);
    REQUIRE(b.s->db().Put({}, b.s->log(), key, "garbage").ok());
    REQUIRE(b.s->db().Put({}, b.s->log(), key + "x", "whatever").ok());
    std::string entry;
    key.clear();
    put_u64(key, first + 4);
    REQUIRE(b.s->db().Get({}, b.s->log(), key, &entry).ok());
    REQUIRE(b.s->db().Put({}, b.s->messages(), entry, "\xff\xff").ok());

    auto owned = std::make_unique<recording_sink>();
    auto* sink = owned.get();
    ex::runner r(exporter(), *b.s, *b.log, std::move(owned));
    r.start();
    REQUIRE(eventually([&] { return r.status().cursor == first + 5; }));
    r.stop();
    std::vector<std::string> exported;
    for (const auto& w : sink->rows()) exported.push_back(w.payload);
    CHECK(exported == std::vector<std::string>{"m0", "m2", "m3", "m5"});
    const auto s = r.status();
    CHECK(s.undecodable == 3);
    CHECK(s.expired == 0);
    CHECK(b.logged_soon("export-log entries that could not be decoded") == 1);
}

TEST_CASE("exporters: a cursor the store cannot save is logged and saved once the store takes writes again") {
    bench b(true);
    REQUIRE(b.publish({"a", "b", "c"}));
    const auto last = b.s->log_end() - 1;
    auto owned = std::make_unique<recording_sink>();
    auto* sink = owned.get();
    // The disk fills while the database takes the batch: the cursor cannot be saved after it.
    sink->on_write = [fs = b.fs] { fs->full = true; };
    ex::runner r(exporter(), *b.s, *b.log, std::move(owned));
    const auto before = b.s->load_cursor("unit");
    r.start();
    REQUIRE(eventually([&] { return r.status().cursor == last; }));
    // The store itself fails on its next write; nothing is saved while it is down.
    CHECK_FALSE(b.publish({"d"}));
    CHECK(b.s->failed());
    REQUIRE(eventually([&] { return b.logged("cannot save its cursor") == 1; }));
    CHECK(b.s->load_cursor("unit") == before);
    b.fs->full = false;
    REQUIRE_MESSAGE(eventually([&] { return !b.s->failed(); }, std::chrono::seconds(30)), "the store did not resume");
    REQUIRE_MESSAGE(eventually([&] { return b.s->load_cursor("unit") == last; }), "the cursor was never saved");
    CHECK(b.logged_soon("saved its cursor again") == 1);
    // Tried every idle second while the store was down, and said once.
    CHECK(b.logged("cannot save its cursor") == 1);
    r.stop();
    CHECK(sink->rows().size() == 3);
}

TEST_CASE("exporters: a log prune the store refuses is logged and done at a later pass") {
    bench b(true);
    REQUIRE(b.publish({"a", "b", "c"}));
    std::string error;
    cfg::broker_config none;  // no exporter: every entry may go
    auto set = ex::exporter_set::create(none, *b.s, *b.log, error);
    REQUIRE(set);
    b.fs->full = true;
    CHECK_FALSE(b.publish({"d"}));
    REQUIRE(b.s->failed());
    CHECK_FALSE(set->prune());
    CHECK_FALSE(set->prune());
    CHECK(b.logged_soon("cannot cut the export log") == 1);
    CHECK(b.log_entries() == 3);
    b.fs->full = false;
    REQUIRE_MESSAGE(eventually([&] { return !b.s->failed(); }, std::chrono::seconds(30)), "the store did not resume");
    CHECK(set->prune());
    CHECK(b.log_entries() == 0);
    CHECK(b.logged_soon("the export log is cut again") == 1);
}

TEST_CASE("store: a write-ahead log that cannot be synced at stop is tried again and logged") {
    bench b(true, durability::fsync);
    REQUIRE(b.publish({"a"}));
    b.fs->full = true;
    b.s->stop();
    CHECK(b.store_logged("writing the write-ahead log at stop failed 3 times"));
    b.fs->full = false;
}
