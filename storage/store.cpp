#include "store.hpp"

#include <chrono>
#include <sys/statvfs.h>

#include <cstdarg>
#include <cstdio>
#include <future>

#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "topic/topic_name.hpp"

namespace strata::storage {

namespace {

constexpr auto retention_period_us = std::uint64_t{60} * 1'000'000;

const char* const cf_names[] = {"messages", "topics", "sessions", "retained", "cursors"};

// RocksDB's info log, sent to the broker's log (warnings and errors only).
class forwarding_logger final : public rocksdb::Logger {
public:
    explicit forwarding_logger(std::function<void(std::string_view)> sink)
        : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), sink_(std::move(sink)) {}
    using rocksdb::Logger::Logv;
    void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
    void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
        if (level < GetInfoLogLevel() || !sink_) return;
        char line[1024];
        const int n = std::vsnprintf(line, sizeof line, format, ap);
        if (n > 0) sink_(std::string_view(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1)));
    }

private:
    std::function<void(std::string_view)> sink_;
};

// A clear sentence for the ways opening a store fails.
std::string explain_open_failure(const std::string& path, const rocksdb::Status& s) {
    const std::string detail = s.ToString();
    if (s.IsCorruption()) {
        return "store " + path + " is corrupt (" + detail +
               "); strata does not repair or delete it: restore a backup or move it away";
    }
    if (detail.find("lock") != std::string::npos || detail.find("LOCK") != std::string::npos) {
        return "store " + path + " is in use by another process (" + detail + ")";
    }
    if (detail.find("Read-only file system") != std::string::npos || detail.find("Permission denied") != std::string::npos) {
        return "store " + path + " cannot be written (" + detail + ")";
    }
    if (s.IsNoSpace() || detail.find("No space left") != std::string::npos) {
        return "store " + path + ": no space left on the device (" + detail + ")";
    }
    return "store " + path + " cannot be opened (" + detail + ")";
}

}  // namespace

std::uint64_t now_us() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

store::store(store_options options) : options_(std::move(options)) {}

std::unique_ptr<store> store::open(const store_options& options, std::string& error) {
    std::unique_ptr<store> s(new store(options));
    s->retention_index_ = std::make_shared<topic_retention_index>(
        options.retention, [raw = s.get()](std::uint64_t id) { return raw->topic_name(id); });

    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.paranoid_checks = true;
    db_options.max_background_jobs = 2;
    db_options.info_log = std::make_shared<forwarding_logger>(options.log);
    // Without the write-ahead log (durability none) only flushed memtables
    // survive a crash, and each column family flushes on its own schedule: the
    // messages family could reach the disk while the topics family, holding the
    // names of their topic ids, does not; the ids would then be handed out again
    // to other topics. Atomic flush writes every family up to one point of the
    // write sequence, and the writer writes a topic's name before its messages.
    db_options.atomic_flush = options.mode == durability::none;

    rocksdb::ColumnFamilyOptions plain;
    rocksdb::ColumnFamilyOptions messages;
    // Scans stay inside one topic: a fixed 8-byte prefix (the topic id) with a Bloom filter.
    messages.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = false;
    messages.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    messages.compaction_filter_factory = make_retention_filter_factory(s->retention_index_);
    // Files are revisited at least daily, so the retention filter runs on cold data too.
    messages.periodic_compaction_seconds = 24 * 3600;
    messages.compression = rocksdb::kLZ4Compression;

    std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, plain},
                                                             {cf_names[0], messages}};
    for (int i = 1; i < 5; ++i) families.emplace_back(cf_names[i], plain);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    const auto status = rocksdb::DB::Open(db_options, options.path, families, &handles, &raw);
    if (!status.ok()) {
        error = explain_open_failure(options.path, status);
        return nullptr;
    }
    s->db_.reset(raw);
    s->cf_default_ = handles[0];
    s->cf_messages_ = handles[1];
    s->cf_topics_ = handles[2];
    s->cf_sessions_ = handles[3];
    s->cf_retained_ = handles[4];
    s->cf_cursors_ = handles[5];

    // Topic dictionary and counters into memory.
    std::unique_ptr<rocksdb::Iterator> it(s->db_->NewIterator(rocksdb::ReadOptions(), s->cf_topics_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const auto key = it->key().ToStringView();
        const auto value = it->value().ToStringView();
        if (key.size() > 1 && key[0] == 'n' && value.size() == 8) {
            const std::uint64_t id = get_u64(value.data());
            s->topic_ids_.emplace(std::string(key.substr(1)), id);
            s->topic_names_.emplace(id, std::string(key.substr(1)));
            s->next_topic_id_ = std::max(s->next_topic_id_, id + 1);
        } else if (key.size() == 9 && key[0] == 's') {
            topic_stats st;
            if (decode_stats(value, st)) s->stats_[get_u64(key.data() + 1)] = st;
        }
    }
    if (!it->status().ok()) {
        error = explain_open_failure(options.path, it->status());
        return nullptr;
    }
    // Never hand out an id that still has messages, even if its name was lost
    // (a store written before atomic flush was used for durability none): the
    // old messages would appear under the new topic.
    rocksdb::ReadOptions all;
    all.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> last(s->db_->NewIterator(all, s->cf_messages_));
    last->SeekToLast();
    if (message_key k; last->Valid() && decode_message_key(last->key().ToStringView(), k)) {
        s->next_topic_id_ = std::max(s->next_topic_id_, k.topic_id + 1);
    }
    // Order of retained updates: a restart continues above what is stored.
    std::unique_ptr<rocksdb::Iterator> r(s->db_->NewIterator(rocksdb::ReadOptions(), s->cf_retained_));
    for (r->SeekToFirst(); r->Valid(); r->Next()) {
        const auto v = r->value().ToStringView();
        if (v.size() >= 8) s->retained_orders_[r->key().ToString()] = get_u64(v.data());
    }
    return s;
}

store::~store() {
    stop();
    if (db_) {
        for (auto* h : {cf_default_, cf_messages_, cf_topics_, cf_sessions_, cf_retained_, cf_cursors_}) {
            if (h) db_->DestroyColumnFamilyHandle(h);
        }
        db_->Close();
    }
}

std::uint64_t store::topic_id(std::string_view topic) {
    std::lock_guard lock(dictionary_mutex_);
    if (auto it = topic_ids_.find(std::string(topic)); it != topic_ids_.end()) return it->second;
    const std::uint64_t id = next_topic_id_++;
    topic_ids_.emplace(std::string(topic), id);
    topic_names_.emplace(id, std::string(topic));
    // Written by the writer before any set submitted after this call, so a
    // message is never committed before its topic's name.
    new_topics_.emplace_back(id, std::string(topic));
    return id;
}

std::string store::topic_name(std::uint64_t id) {
    std::lock_guard lock(dictionary_mutex_);
    auto it = topic_names_.find(id);
    return it == topic_names_.end() ? std::string() : it->second;
}

void store::start(completion_sink& sink) {
    sink_ = &sink;
    writer_ = std::thread([this] { run_writer(); });
}

void store::stop() {
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
    }
    queue_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
}

void store::submit(std::unique_ptr<write_set> set) {
    {
        std::lock_guard lock(queue_mutex_);
        queue_.push_back(std::move(set));
    }
    queue_cv_.notify_one();
}

topic_stats store::stats(std::uint64_t topic_id) {
    std::lock_guard lock(stats_mutex_);
    auto it = stats_.find(topic_id);
    return it == stats_.end() ? topic_stats{} : it->second;
}

std::vector<std::pair<std::uint64_t, topic_stats>> store::all_stats() {
    std::lock_guard lock(stats_mutex_);
    return {stats_.begin(), stats_.end()};
}

void store::run_writer() {
    for (;;) {
        std::vector<std::unique_ptr<write_set>> sets;
        std::vector<std::function<void()>> tasks;
        bool stopping = false;
        {
            std::unique_lock lock(queue_mutex_);
            queue_cv_.wait_for(lock, std::chrono::seconds(1),
                               [&] { return stopping_ || !queue_.empty() || !writer_tasks_.empty(); });
            sets.swap(queue_);
            tasks.swap(writer_tasks_);
            stopping = stopping_;
        }
        check_space();
        if (!sets.empty()) commit(sets);
        for (auto& t : tasks) t();
        const auto now = now_us();
        if (!options_.retention.empty() && now >= next_retention_us_) {
            apply_retention(now);
            next_retention_us_ = now + retention_period_us;
        }
        if (stopping) {
            std::lock_guard lock(queue_mutex_);
            if (queue_.empty() && writer_tasks_.empty()) break;
        }
    }
    // After a failed write RocksDB's log writer keeps the error: leave it alone.
    if (write_failed_) return;
    if (options_.mode == durability::none) {
        // Nothing is in a log: a clean stop writes every memtable (atomically, see open()).
        const std::vector<rocksdb::ColumnFamilyHandle*> families = {cf_default_, cf_messages_, cf_topics_,
                                                                    cf_sessions_, cf_retained_, cf_cursors_};
        const auto flushed = db_->Flush(rocksdb::FlushOptions(), families);
        if (!flushed.ok() && options_.log) options_.log("flushing the store at stop failed: " + flushed.ToString());
    } else {
        db_->FlushWAL(options_.mode == durability::fsync);
    }
}

void store::refresh_writable() { writable_.store(!space_low_ && !write_failed_, std::memory_order_relaxed); }

void store::check_space() {
    struct statvfs fs {};
    if (::statvfs(options_.path.c_str(), &fs) != 0) return;
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    // 10% hysteresis, so that the state does not flap around the threshold.
    const bool low = space_low_ ? free_bytes < options_.min_free_bytes + options_.min_free_bytes / 10
                                : free_bytes < options_.min_free_bytes;
    if (low != space_low_ && options_.log) {
        options_.log(low ? "free space " + std::to_string(free_bytes >> 20) + " MiB is below storage_min_free_space: "
                               "refusing QoS 1/2 publishes until space returns"
                         : std::string("free space is back: accepting QoS 1/2 publishes again"));
    }
    space_low_ = low;
    refresh_writable();
}

void store::commit(std::vector<std::unique_ptr<write_set>>& sets) {
    rocksdb::WriteOptions wo;
    wo.disableWAL = options_.mode == durability::none;
    bool ok = writable_.load(std::memory_order_relaxed);

    // Topic names first: messages of those topics are in the sets below.
    rocksdb::WriteBatch dictionary;
    std::size_t written_topics = 0;
    {
        std::lock_guard lock(dictionary_mutex_);
        for (const auto& [id, name] : new_topics_) {
            std::string id_bytes;
            put_u64(id_bytes, id);
            dictionary.Put(cf_topics_, topic_name_key(name), id_bytes);
            dictionary.Put(cf_topics_, topic_id_key(id), name);
        }
        written_topics = new_topics_.size();
    }
    if (ok && dictionary.Count() > 0) ok = db_->Write(wo, &dictionary).ok();
    if (ok && written_topics > 0) {
        // Only what was written leaves the list: a failed write is retried with the next commit.
        std::lock_guard lock(dictionary_mutex_);
        new_topics_.erase(new_topics_.begin(), new_topics_.begin() + static_cast<std::ptrdiff_t>(written_topics));
    }
    for (auto& set : sets) {
        if (ok && set->batch.Count() > 0) ok = db_->Write(wo, &set->batch).ok();
    }

    // Retained messages (newest order wins) and per-topic counters.
    rocksdb::WriteBatch tail;
    if (ok) {
        std::unordered_map<std::uint64_t, bool> touched;
        std::lock_guard lock(stats_mutex_);
        for (auto& set : sets) {
            for (auto& r : set->retained) {
                auto& order = retained_orders_[r.topic];
                if (r.order < order) continue;
                order = r.order;
                if (r.value.empty()) tail.Delete(cf_retained_, r.topic);
                else tail.Put(cf_retained_, r.topic, r.value);
            }
            for (const auto& m : set->messages) {
                auto& st = stats_[m.topic_id];
                ++st.count;
                if (st.first_us == 0 || m.ts_us < st.first_us) st.first_us = m.ts_us;
                st.last_us = std::max(st.last_us, m.ts_us);
                touched[m.topic_id] = true;
            }
        }
        for (const auto& [id, unused] : touched) tail.Put(cf_topics_, topic_stats_key(id), encode_stats(stats_[id]));
        auto last = wo;
        last.sync = options_.mode == durability::fsync;
        if (tail.Count() > 0) ok = db_->Write(last, &tail).ok();
        else if (last.sync) ok = db_->FlushWAL(true).ok();
    }
    if (!ok && writable_.load(std::memory_order_relaxed)) {
        write_failed_ = true;
        refresh_writable();
        if (options_.log) {
            options_.log("a write to the store failed; QoS 1/2 publishes are refused until strata is restarted "
                         "(subscribers are still served)");
        }
    }

    // Completions, per worker, in commit order.
    std::unordered_map<std::uint32_t, std::vector<std::pair<std::function<void(bool)>, bool>>> work;
    for (auto& set : sets) {
        for (auto& c : set->completions) work[c.worker].emplace_back(std::move(c.run), ok);
        for (auto& token : set->parts) {
            if (!ok) token->failed.store(true, std::memory_order_relaxed);
            if (token->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                work[token->worker].emplace_back(std::move(token->done), !token->failed.load(std::memory_order_relaxed));
            }
        }
    }
    for (auto& [worker, items] : work) sink_->deliver(worker, std::move(items));
}

std::uint64_t store::delete_before(std::uint64_t topic_id, std::uint64_t before_us) {
    const std::string begin = topic_prefix(topic_id);
    const std::string end = message_key_at(topic_id, before_us);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = nullptr;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_messages_));
    std::uint64_t removed = 0;
    for (it->Seek(begin); it->Valid() && it->key().compare(end) < 0; it->Next()) ++removed;
    if (removed == 0) return 0;
    rocksdb::WriteBatch batch;
    batch.DeleteRange(cf_messages_, begin, end);
    std::lock_guard lock(stats_mutex_);
    auto& st = stats_[topic_id];
    st.count = st.count > removed ? st.count - removed : 0;
    // The first message left, if any.
    it->Seek(end);
    st.first_us = 0;
    if (it->Valid() && it->key().starts_with(begin)) {
        message_key k;
        if (decode_message_key(it->key().ToStringView(), k)) st.first_us = k.ts_us;
    }
    if (st.first_us == 0) st.last_us = 0;
    batch.Put(cf_topics_, topic_stats_key(topic_id), encode_stats(st));
    rocksdb::WriteOptions wo;
    wo.disableWAL = options_.mode == durability::none;
    if (!db_->Write(wo, &batch).ok()) {
        write_failed_ = true;
        refresh_writable();
    }
    return removed;
}

void store::apply_retention(std::uint64_t now) {
    if (!writable()) return;
    std::vector<std::uint64_t> ids;
    {
        std::lock_guard lock(stats_mutex_);
        for (const auto& [id, st] : stats_) {
            if (st.count > 0) ids.push_back(id);
        }
    }
    for (auto id : ids) {
        const auto seconds = retention_index_->seconds_for(id);
        if (seconds == 0 || now < seconds * 1'000'000) continue;
        delete_before(id, now - seconds * 1'000'000);
    }
}

std::uint64_t store::purge(std::string_view filter, std::uint64_t before_us) {
    std::promise<std::uint64_t> done;
    auto result = done.get_future();
    {
        std::lock_guard lock(queue_mutex_);
        writer_tasks_.push_back([this, f = std::string(filter), before_us, &done] {
            std::vector<std::uint64_t> ids;
            {
                std::lock_guard dict(dictionary_mutex_);
                for (const auto& [name, id] : topic_ids_) {
                    if (topic::matches(f, name)) ids.push_back(id);
                }
            }
            std::uint64_t removed = 0;
            for (auto id : ids) removed += delete_before(id, before_us);
            done.set_value(removed);
        });
    }
    queue_cv_.notify_one();
    return result.get();
}

}  // namespace strata::storage
