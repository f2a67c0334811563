#include "reader.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <queue>

#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "store.hpp"
#include "topic/topic_name.hpp"

namespace strata::storage {

namespace {

constexpr auto max_ts = std::numeric_limits<std::uint64_t>::max();
// Beyond this many topics, one iterator is re-seeked instead of one
// iterator per topic: each RocksDB iterator pins memory and files, and a
// wildcard over a large tree would open thousands of them.
constexpr std::size_t max_topic_iterators = 64;

rocksdb::Slice as_slice(const std::string& s) { return {s.data(), s.size()}; }

bool below(const rocksdb::Slice& key, const std::string& upper) { return key.compare(as_slice(upper)) < 0; }

}  // namespace

// A secondary instance and the temporary directory it keeps its own files in.
struct reader::owned_db {
    std::unique_ptr<rocksdb::DB> db;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    std::filesystem::path secondary_dir;

    ~owned_db() {
        if (db) {
            for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
            db->Close();
            db.reset();
        }
        std::error_code ec;
        if (!secondary_dir.empty()) std::filesystem::remove_all(secondary_dir, ec);
    }
};

// The time budget of one query, looked at every few hundred keys.
class reader::deadline {
public:
    explicit deadline(std::chrono::milliseconds limit)
        : limit_(limit), at_(std::chrono::steady_clock::now() + limit) {}
    void tick() {
        if (limit_.count() == 0 || ++ticks_ % 256 != 0) return;
        if (std::chrono::steady_clock::now() > at_) {
            throw read_error(read_error::kind::timeout, "the query took longer than " +
                                                            std::to_string(limit_.count()) +
                                                            " ms; narrow the time range or the topic filter");
        }
    }

private:
    std::chrono::milliseconds limit_;
    std::chrono::steady_clock::time_point at_;
    unsigned ticks_ = 0;
};

reader::reader(store& s)
    : live_(&s), db_(&s.db()), messages_(s.messages()), topics_(s.topics()), retention_(s.options().retention) {}

reader::~reader() = default;

std::unique_ptr<reader> reader::open_secondary(const std::string& path, retention_policy retention,
                                               std::string& error) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(fs::path(path) / "CURRENT", ec)) {
        error = "store " + path + " does not exist (no RocksDB store in that directory)";
        return nullptr;
    }
    // The secondary keeps its info log and state in a directory of its own.
    std::string dir_template = (fs::temp_directory_path(ec) / "strata-query-XXXXXX").string();
    if (ec || ::mkdtemp(dir_template.data()) == nullptr) {
        error = "cannot create a temporary directory for reading the store";
        return nullptr;
    }
    auto owned = std::make_unique<owned_db>();
    owned->secondary_dir = dir_template;

    rocksdb::Options options;
    options.max_open_files = -1;  // required by secondary instances: files the broker deletes stay readable
    rocksdb::ColumnFamilyOptions messages;
    // The broker's layout, so that prefix seeks use its Bloom filters.
    messages.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = false;
    messages.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"messages", messages},
        {"topics", rocksdb::ColumnFamilyOptions()}};
    rocksdb::DB* raw = nullptr;
    const auto status = rocksdb::DB::OpenAsSecondary(options, path, dir_template, families, &owned->handles, &raw);
    if (!status.ok()) {
        error = "store " + path + " cannot be read (" + status.ToString() + ")";
        return nullptr;
    }
    owned->db.reset(raw);

    std::unique_ptr<reader> r(new reader());
    r->db_ = raw;
    r->messages_ = owned->handles[1];
    r->topics_ = owned->handles[2];
    r->retention_ = std::move(retention);
    r->owned_ = std::move(owned);
    return r;
}

void reader::check(const rocksdb::Status& s) const {
    if (!s.ok()) throw read_error(read_error::kind::store, "reading the store failed: " + s.ToString());
}

void reader::refresh() {
    if (owned_) check(db_->TryCatchUpWithPrimary());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), topics_));
    // Topic ids are assigned in increasing order and their names committed
    // in that order, before any message of theirs, so only ids above the
    // largest one known can be new.
    for (it->Seek(topic_id_key(max_known_id_ + 1)); it->Valid(); it->Next()) {
        const auto key = it->key().ToStringView();
        if (key.empty() || key[0] != 'i') break;
        if (key.size() != 9) continue;
        const std::uint64_t id = get_u64(key.data() + 1);
        known_[id] = known_topic{id, it->value().ToString(), {}};
        max_known_id_ = std::max(max_known_id_, id);
    }
    check(it->status());
    if (live_) {
        retention_ = live_->retention();  // SIGHUP may have changed it
        for (const auto& [id, st] : live_->all_stats()) {
            if (auto k = known_.find(id); k != known_.end()) k->second.stats = st;
        }
        return;
    }
    for (it->Seek("s"); it->Valid(); it->Next()) {
        const auto key = it->key().ToStringView();
        if (key.empty() || key[0] != 's') break;
        topic_stats st;
        if (key.size() != 9 || !decode_stats(it->value().ToStringView(), st)) continue;
        if (auto k = known_.find(get_u64(key.data() + 1)); k != known_.end()) k->second.stats = st;
    }
    check(it->status());
}

std::vector<reader::known_topic> reader::matching(std::string_view filter, topic_gate* gate) const {
    std::vector<known_topic> out;
    for (const auto& [id, t] : known_) {
        if (topic::matches(filter, t.name)) out.push_back(t);
    }
    if (!gate) return out;
    std::vector<std::string_view> names;
    names.reserve(out.size());
    for (const auto& t : out) names.push_back(t.name);
    gate->prepare(names);
    std::erase_if(out, [&](const known_topic& t) { return !gate->visible(t.name); });
    return out;
}

std::vector<reader::known_topic> reader::page_of(std::string_view filter, topic_gate* gate,
                                                 const std::optional<std::string>& after) const {
    auto out = matching(filter, gate);
    if (after) std::erase_if(out, [&](const known_topic& t) { return t.name <= *after; });
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

std::uint64_t reader::cutoff(const known_topic& t, std::uint64_t now) const {
    const std::uint64_t seconds = retention_.seconds_for(t.name);
    if (seconds == 0 || now < seconds * 1'000'000) return 0;
    return now - seconds * 1'000'000;
}

topic_page reader::topics(std::string_view filter, topic_gate* gate, const std::optional<std::string>& after,
                          std::size_t limit) {
    refresh();
    deadline dl(time_limit_);
    const auto now = now_us();
    topic_page page;
    for (auto& t : page_of(filter, gate, after)) {
        dl.tick();
        topic_stats st = t.stats;
        if (st.count == 0) continue;
        const std::uint64_t c = cutoff(t, now);
        if (c > 0 && st.first_us < c) {
            if (st.last_us < c) continue;
            // The writer has not swept yet: subtract what is past the cutoff
            // (about a minute of messages at most while the broker runs).
            const std::string upper = message_key_at(t.id, c);
            const rocksdb::Slice upper_slice = as_slice(upper);
            rocksdb::ReadOptions ro;
            ro.prefix_same_as_start = true;
            ro.iterate_upper_bound = &upper_slice;
            std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, messages_));
            std::uint64_t expired = 0;
            for (it->Seek(topic_prefix(t.id)); it->Valid(); it->Next()) {
                ++expired;
                dl.tick();
            }
            check(it->status());
            st.count = st.count > expired ? st.count - expired : 0;
            // The first message left.
            ro.iterate_upper_bound = nullptr;
            it.reset(db_->NewIterator(ro, messages_));
            it->Seek(upper);
            check(it->status());
            message_key k;
            if (st.count == 0 || !it->Valid() || !decode_message_key(it->key().ToStringView(), k) || k.topic_id != t.id) {
                continue;
            }
            st.first_us = k.ts_us;
        }
        if (page.items.size() == limit) {
            page.more = true;
            break;
        }
        page.items.push_back(topic_entry{t.id, std::move(t.name), st});
    }
    return page;
}

message_page reader::messages(std::string_view filter, std::uint64_t from_us, std::uint64_t to_us, std::size_t limit,
                              const std::optional<position>& after, topic_gate* gate) {
    refresh();
    deadline dl(time_limit_);
    const auto now = now_us();
    auto topics = matching(filter, gate);

    // One consistent view for every topic of the page (a secondary instance
    // is frozen between catch-ups anyway).
    struct snapshot_guard {
        rocksdb::DB* db = nullptr;
        const rocksdb::Snapshot* snap = nullptr;
        ~snapshot_guard() {
            if (snap) db->ReleaseSnapshot(snap);
        }
    } snapshot;
    if (live_) {
        snapshot.db = db_;
        snapshot.snap = db_->GetSnapshot();
    }

    struct stream {
        const known_topic* topic = nullptr;
        std::string upper;  // exclusive: topic id | to
        rocksdb::Slice upper_slice;
        std::unique_ptr<rocksdb::Iterator> own;
        rocksdb::Iterator* it = nullptr;
        std::string key;  // the head: the next message of this topic
        position head;
    };
    const bool shared = topics.size() > max_topic_iterators;
    rocksdb::ReadOptions base;
    base.prefix_same_as_start = true;
    base.snapshot = snapshot.snap;
    std::unique_ptr<rocksdb::Iterator> shared_it;
    if (shared) shared_it.reset(db_->NewIterator(base, messages_));

    // Reads the head of `s` from its iterator's current position.
    const auto load = [&](stream& s) {
        if (!s.it->Valid()) {
            check(s.it->status());
            return false;
        }
        const auto key = s.it->key();
        message_key k;
        if (!below(key, s.upper) || !decode_message_key(key.ToStringView(), k) || k.topic_id != s.topic->id) {
            return false;
        }
        s.key.assign(key.data(), key.size());
        s.head = position_of(k);
        return true;
    };
    const auto later = [](const stream* a, const stream* b) { return b->head < a->head; };
    std::priority_queue<stream*, std::vector<stream*>, decltype(later)> heap(later);
    std::vector<std::unique_ptr<stream>> streams;
    for (const auto& t : topics) {
        const std::uint64_t from = std::max(from_us, cutoff(t, now));
        if (from >= to_us) continue;
        message_key start{t.id, from, 0};
        if (after) {
            const auto resume = resume_key(t.id, *after);
            if (!resume) continue;
            start = std::max(start, *resume);
        }
        auto s = std::make_unique<stream>();
        s->topic = &t;
        s->upper = message_key_at(t.id, to_us);
        s->upper_slice = as_slice(s->upper);
        if (shared) {
            s->it = shared_it.get();
        } else {
            auto ro = base;
            ro.iterate_upper_bound = &s->upper_slice;
            s->own.reset(db_->NewIterator(ro, messages_));
            s->it = s->own.get();
        }
        s->it->Seek(encode_message_key(start));
        dl.tick();
        if (load(*s)) heap.push(s.get());
        streams.push_back(std::move(s));
    }

    // k-way merge: the earliest head, then that topic's next message.
    message_page page;
    std::size_t bytes = 0;
    while (!heap.empty() && page.items.size() < limit && bytes < page_bytes_) {
        stream* s = heap.top();
        heap.pop();
        dl.tick();
        if (shared) {
            s->it->Seek(s->key);
            if (!s->it->Valid() || s->it->key() != as_slice(s->key)) {
                check(s->it->status());
                throw read_error(read_error::kind::store, "a message vanished while it was being read");
            }
        }
        message_key k{s->head.topic_id, s->head.ts_us, s->head.seq};
        page.items.push_back(stored_message{s->topic->name, k, s->it->value().ToString()});
        bytes += page.items.back().value.size();
        s->it->Next();
        if (load(*s)) heap.push(s);
    }
    page.more = !heap.empty();
    return page;
}

latest_page reader::latest(std::string_view filter, topic_gate* gate, const std::optional<std::string>& after,
                           std::size_t limit) {
    refresh();
    deadline dl(time_limit_);
    const auto now = now_us();
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;  // SeekForPrev across the prefix boundary, without prefix tricks
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, messages_));
    latest_page page;
    for (const auto& t : page_of(filter, gate, after)) {
        dl.tick();
        it->SeekForPrev(encode_message_key(message_key{t.id, max_ts, std::numeric_limits<std::uint32_t>::max()}));
        if (!it->Valid()) {
            check(it->status());
            continue;
        }
        message_key k;
        if (!decode_message_key(it->key().ToStringView(), k) || k.topic_id != t.id || k.ts_us < cutoff(t, now)) {
            continue;
        }
        if (page.items.size() == limit) {
            page.more = true;
            break;
        }
        page.items.push_back(stored_message{t.name, k, it->value().ToString()});
    }
    return page;
}

series_result reader::series(std::string_view topic, std::string_view field, std::uint64_t from_us,
                             std::uint64_t to_us, std::uint64_t step_us, aggregation agg) {
    refresh();
    deadline dl(time_limit_);
    series_result result;
    const auto candidates = matching(topic, nullptr);
    const auto t = std::find_if(candidates.begin(), candidates.end(), [&](const auto& c) { return c.name == topic; });
    if (t == candidates.end()) return result;
    const std::uint64_t from = std::max(from_us, cutoff(*t, now_us()));
    if (from >= to_us) return result;

    const std::string upper = message_key_at(t->id, to_us);
    const rocksdb::Slice upper_slice = as_slice(upper);
    rocksdb::ReadOptions ro;
    ro.prefix_same_as_start = true;
    ro.iterate_upper_bound = &upper_slice;
    ro.fill_cache = false;  // a long scan should not evict what live queries use
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, messages_));
    series_builder builder(step_us, agg);
    for (it->Seek(message_key_at(t->id, from)); it->Valid(); it->Next()) {
        dl.tick();
        message_key k;
        message_record m;
        if (!decode_message_key(it->key().ToStringView(), k) || !decode_message(it->value().ToStringView(), m)) {
            ++result.skipped;
            continue;
        }
        if (const auto v = numeric_field_of_payload(m.payload, field)) {
            builder.add(k.ts_us, *v);
            ++result.samples;
        } else {
            ++result.skipped;
        }
    }
    check(it->status());
    result.points = builder.finish();
    return result;
}

}  // namespace strata::storage
