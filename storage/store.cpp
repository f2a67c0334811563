#include "store.hpp"
#include "core/thread_name.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <cstdarg>
#include <cstdio>
#include <future>

#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "bookkeeping.hpp"
#include "topic/topic_name.hpp"

namespace strata::storage {

namespace {

constexpr auto retention_period_us = std::uint64_t{60} * 1'000'000;

const char* const cf_names[] = {"messages", "topics", "sessions", "retained", "cursors", "log"};

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
    // Before the lock check: creating the LOCK file is the first write, so on a
    // read-only file system the error names the lock too.
    if (detail.find("Read-only file system") != std::string::npos || detail.find("Permission denied") != std::string::npos) {
        return "store " + path + " cannot be written (" + detail + ")";
    }
    if (detail.find("lock") != std::string::npos || detail.find("LOCK") != std::string::npos) {
        return "store " + path + " is in use by another process (" + detail + ")";
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

store::store(store_options options) : options_(std::move(options)) {
    set_limits(options_.min_free_bytes, options_.max_queued_bytes);
    has_retention_ = !options_.retention.empty();
}

void store::set_retention(retention_policy policy) {
    has_retention_ = !policy.empty();
    retention_index_->set_policy(std::move(policy));
}

void store::set_limits(std::uint64_t min_free_bytes, std::uint64_t max_queued_bytes) {
    min_free_bytes_.store(min_free_bytes, std::memory_order_relaxed);
    max_queued_bytes_.store(max_queued_bytes, std::memory_order_relaxed);
}

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
    if (options.env) db_options.env = options.env.get();
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
    for (int i = 1; i < 6; ++i) families.emplace_back(cf_names[i], plain);
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
    s->cf_log_ = handles[6];
    if (!s->check_mode(error)) return nullptr;
    {
        // The export log continues after its newest entry.
        std::unique_ptr<rocksdb::Iterator> last(s->db_->NewIterator(rocksdb::ReadOptions(), s->cf_log_));
        last->SeekToLast();
        if (last->Valid() && last->key().size() == 8) s->next_log_seq_ = get_u64(last->key().data()) + 1;
        s->log_end_ = s->next_log_seq_;
    }

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

// The store says what it keeps (a key of the default family). A store with
// the history of every message is never opened to keep sessions only: that
// would leave its history to be deleted as records no session needs.
bool store::check_mode(std::string& error) {
    static const std::string key = "strata:keeps";
    std::string mode;
    const auto got = db_->Get(rocksdb::ReadOptions(), cf_default_, key, &mode);
    if (got.IsNotFound()) {
        // Stores of earlier versions kept everything; an empty one is new.
        rocksdb::ReadOptions all;
        all.total_order_seek = true;
        std::unique_ptr<rocksdb::Iterator> any(db_->NewIterator(all, cf_messages_));
        any->SeekToFirst();
        mode = any->Valid() ? "history" : "";
    } else if (!got.ok()) {
        error = explain_open_failure(options_.path, got);
        return false;
    }
    if (mode == "history" && !options_.keep_history) {
        error = "store " + options_.path +
                " keeps the history of every message (storage rocksdb), but the configuration asks only for "
                "Mosquitto's persistence (persistence true without storage rocksdb); add `storage rocksdb` to "
                "keep using it, or name another directory (persistence_location, storage_path)";
        return false;
    }
    const std::string wanted = options_.keep_history ? "history" : "sessions";
    if (options_.record_mode && mode != wanted) {
        const auto put = db_->Put(rocksdb::WriteOptions(), cf_default_, key, wanted);
        if (!put.ok()) {
            error = explain_open_failure(options_.path, put);
            return false;
        }
    }
    return true;
}

void release_list::released(std::uint64_t topic_id, std::uint64_t ts_us, std::uint32_t seq) {
    std::lock_guard lock(mutex_);
    keys_.push_back(encode_message_key(message_key{topic_id, ts_us, seq}));
}

std::vector<std::string> release_list::take() {
    std::lock_guard lock(mutex_);
    return std::exchange(keys_, {});
}

void release_list::give_back(std::vector<std::string> keys) {
    std::lock_guard lock(mutex_);
    keys.insert(keys.end(), std::make_move_iterator(keys_.begin()), std::make_move_iterator(keys_.end()));
    keys_ = std::move(keys);
}

void store::delete_released() {
    if (!options_.releases) return;
    auto keys = options_.releases->take();
    if (keys.empty()) return;
    if (write_failed_) {
        // Taken once the store resumes; a crash meanwhile leaves records
        // that the next start removes (remove_unreferenced).
        options_.releases->give_back(std::move(keys));
        return;
    }
    rocksdb::WriteBatch batch;
    for (const auto& k : keys) batch.Delete(cf_messages_, k);
    write(batch);
}

std::uint64_t store::remove_unreferenced(const std::vector<std::string>& referenced) {
    std::vector<std::string> sorted(referenced);
    std::sort(sorted.begin(), sorted.end());
    rocksdb::ReadOptions all;
    all.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(all, cf_messages_));
    rocksdb::WriteBatch batch;
    std::uint64_t removed = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (std::binary_search(sorted.begin(), sorted.end(), it->key().ToString())) continue;
        batch.Delete(cf_messages_, it->key());
        ++removed;
        if (batch.Count() >= 10'000 && !write(batch)) return removed;
        if (batch.Count() >= 10'000) batch.Clear();
    }
    if (batch.Count() > 0) write(batch);
    return removed;
}

store::~store() {
    stop();
    if (db_) {
        for (auto* h : {cf_default_, cf_messages_, cf_topics_, cf_sessions_, cf_retained_, cf_cursors_, cf_log_}) {
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
    writer_ = std::thread([this] {
        name_this_thread("strata-store");
        run_writer();
    });
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
    // What the set holds in memory until it is committed: the batch, and a
    // little for each record and completion around it.
    set->bytes = set->batch.GetDataSize() + 64 * (set->messages.size() + set->completions.size() + set->parts.size());
    const auto queued = queued_bytes_.fetch_add(set->bytes, std::memory_order_relaxed) + set->bytes;
    const auto bound = max_queued_bytes_.load(std::memory_order_relaxed);
    if (bound != 0 && queued >= bound) {
        backlogged_.store(true, std::memory_order_relaxed);
    }
    {
        std::lock_guard lock(queue_mutex_);
        queue_.push_back(std::move(set));
    }
    queue_cv_.notify_one();
}

void store::committed_bytes(std::uint64_t bytes) {
    const auto queued = queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
    if (backlogged_.load(std::memory_order_relaxed) && queued <= max_queued_bytes_.load(std::memory_order_relaxed) / 2) {
        backlogged_.store(false, std::memory_order_relaxed);
        // Said at most once a minute: under a sustained overload it happens often.
        ++backlog_episodes_;
        const auto now = now_us();
        if (options_.log && now >= next_backlog_report_us_) {
            options_.log("writes waited for the disk (storage_queue_limit reached " +
                         std::to_string(backlog_episodes_) +
                         " time(s) in the last minute): clients were not read meanwhile");
            backlog_episodes_ = 0;
            next_backlog_report_us_ = now + 60'000'000;
        }
        if (options_.drained) options_.drained();
    }
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
            // With maintenance under way, only a look: its next slice follows the commit.
            const auto idle = maintenance_.empty() ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0);
            std::unique_lock lock(queue_mutex_);
            queue_cv_.wait_for(lock, idle, [&] { return stopping_ || !queue_.empty() || !writer_tasks_.empty(); });
            sets.swap(queue_);
            tasks.swap(writer_tasks_);
            stopping = stopping_;
        }
        check_space();
        if (write_failed_ && !space_low_) try_resume();
        if (!sets.empty()) {
            commit(sets);
            std::uint64_t bytes = 0;
            for (const auto& set : sets) bytes += set->bytes;
            committed_bytes(bytes);
        }
        if (!options_.keep_history) delete_released();
        for (auto& t : tasks) t();
        const auto now = now_us();
        if (has_retention_.load(std::memory_order_relaxed) && now >= next_retention_us_) {
            start_retention(now, nullptr);
            next_retention_us_ = now + retention_period_us;
        }
        // Purges and retention sweeps go a slice at a time between commits.
        maintain();
        if (stopping) {
            std::lock_guard lock(queue_mutex_);
            if (queue_.empty() && writer_tasks_.empty()) break;
        }
    }
    // Maintenance still under way stops with what it did (the next start's
    // sweep takes up retention again).
    for (auto& job : maintenance_) {
        if (job->done) job->done(job->deleted);
    }
    maintenance_.clear();
    if (write_failed_) {
        // RocksDB keeps the error; what could not be written is lost.
        if (!backlog_.empty() && options_.log) {
            options_.log("stopping with " + std::to_string(backlog_.size()) +
                         " session updates the failed store could not take: persistent sessions may be out of date "
                         "after the restart");
        }
        return;
    }
    if (options_.mode == durability::none) {
        // Nothing is in a log: a clean stop writes every memtable (atomically, see open()).
        const auto flushed = db_->Flush(rocksdb::FlushOptions(), all_families());
        if (!flushed.ok() && options_.log) options_.log("flushing the store at stop failed: " + flushed.ToString());
    } else {
        // The last writes to the disk (synced with fsync). A failure is tried
        // again a few times, and said: the broker is stopping, nothing waits.
        rocksdb::Status flushed;
        for (int attempt = 1; attempt <= 3; ++attempt) {
            flushed = db_->FlushWAL(options_.mode == durability::fsync);
            if (flushed.ok()) break;
            if (attempt < 3) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (!flushed.ok() && options_.log) {
            options_.log("writing the write-ahead log at stop failed 3 times (" + flushed.ToString() +
                         "): the last writes may be lost if the machine goes down before the system writes them");
        }
    }
}

std::vector<rocksdb::ColumnFamilyHandle*> store::all_families() const {
    return {cf_default_, cf_messages_, cf_topics_, cf_sessions_, cf_retained_, cf_cursors_, cf_log_};
}

// One group of write sets. Normally each set is one atomic write (a message,
// its delivery records and its inbound record commit together). While new
// messages may not be stored (the disk is short of space, or the store failed)
// a set's bookkeeping is still written, or kept for when the store resumes,
// so that the store never falls behind the broker's memory; only its new
// messages are refused, and the acknowledgements that promise them get false.
void store::commit(std::vector<std::unique_ptr<write_set>>& sets) {
    // Bookkeeping that waited for a failed store goes first: the store sees every change in order.
    write_backlog();
    const bool take_messages = !space_low_ && !write_failed_;

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
    const bool names_written = written_topics == 0 || write(dictionary);
    if (written_topics > 0 && names_written) {
        // Only what was written leaves the list: a failed write is retried with the next commit.
        std::lock_guard lock(dictionary_mutex_);
        new_topics_.erase(new_topics_.begin(), new_topics_.begin() + static_cast<std::ptrdiff_t>(written_topics));
    }

    const auto families = all_families();
    std::vector<char> kept(sets.size(), 0);  // the set's messages (if any) are in the store
    for (std::size_t i = 0; i < sets.size(); ++i) {
        auto& set = *sets[i];
        if (set.messages.empty()) {
            kept[i] = 1;
            if (set.batch.Count() > 0 && !write(set.batch)) keep_for_later(std::move(set.batch));
            continue;
        }
        // A message goes in only after its topic's name (the dictionary above).
        if (take_messages && names_written) {
            // Its export-log entry goes in the same atomic write: an exporter
            // never sees an entry without its message, nor misses a stored one.
            if (options_.keep_log) append_log(set);
            if (write(set.batch)) {
                kept[i] = 1;
                continue;
            }
        }
        rocksdb::WriteBatch rest;
        const auto copied = bookkeeping_of(set.batch, families, cf_messages_, cf_sessions_, cf_log_, rest);
        if (!copied.ok() && options_.log) options_.log("a write set could not be split: " + copied.ToString());
        if (rest.Count() > 0 && !write(rest)) keep_for_later(std::move(rest));
    }

    // Retained messages (newest order wins) and per-topic counters.
    rocksdb::WriteBatch tail;
    {
        std::unordered_map<std::uint64_t, bool> touched;
        std::lock_guard lock(stats_mutex_);
        for (std::size_t i = 0; i < sets.size(); ++i) {
            for (auto& r : sets[i]->retained) {
                auto& order = retained_orders_[r.topic];
                if (r.order < order) continue;
                order = r.order;
                // A retained message that could not be stored clears the stored
                // one: a restart must not bring back a value the broker has replaced.
                if (r.value.empty() || !kept[i]) tail.Delete(cf_retained_, r.topic);
                else tail.Put(cf_retained_, r.topic, r.value);
            }
            if (!kept[i] || !options_.keep_history) continue;
            for (const auto& m : sets[i]->messages) {
                auto& st = stats_[m.topic_id];
                ++st.count;
                if (st.first_us == 0 || m.ts_us < st.first_us) st.first_us = m.ts_us;
                st.last_us = std::max(st.last_us, m.ts_us);
                touched[m.topic_id] = true;
            }
        }
        for (const auto& [id, unused] : touched) {
            tail.Put(cf_topics_, topic_stats_key(id), encode_stats(stats_[id]));
        }
    }
    const bool sync = options_.mode == durability::fsync;
    if (tail.Count() > 0) {
        // With fsync this write syncs the log, and with it every write before it.
        if (!write(tail, sync)) keep_for_later(std::move(tail));
    } else if (sync && !write_failed_) {
        if (const auto synced = db_->FlushWAL(true); !synced.ok()) note_failure(synced);
    }

    if (options_.keep_log) publish_log_end();

    // Anything failing in the group refuses the group's new messages: with
    // fsync, even a message whose write went through is not known to be synced.
    const bool healthy = !write_failed_;
    for (std::size_t i = 0; i < sets.size(); ++i) {
        if (kept[i] && healthy) continue;
        for (auto& token : sets[i]->message_tokens) token->failed.store(true, std::memory_order_relaxed);
        // Without history, a worker writes the record of another worker's
        // message with its own session records: the publisher's promise
        // depends on it.
        if (!options_.keep_history) {
            for (auto& token : sets[i]->parts) {
                if (token) token->failed.store(true, std::memory_order_relaxed);
            }
        }
    }
    // Completions, per worker, in commit order. Bookkeeping was committed or
    // waits in the backlog, so work that needs only bookkeeping goes on.
    std::unordered_map<std::uint32_t, std::vector<std::pair<std::function<void(bool)>, bool>>> work;
    for (std::size_t i = 0; i < sets.size(); ++i) {
        auto& set = *sets[i];
        const bool messages_ok = set.messages.empty() || (kept[i] && healthy);
        for (auto& c : set.completions) work[c.worker].emplace_back(std::move(c.run), !c.needs_messages || messages_ok);
        for (auto& token : set.parts) {
            if (token->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                work[token->worker].emplace_back(std::move(token->done), !token->failed.load(std::memory_order_relaxed));
            }
        }
    }
    for (auto& [worker, items] : work) sink_->deliver(worker, std::move(items));
}

std::uint64_t store::on_writer(std::function<std::uint64_t()> task) {
    std::promise<std::uint64_t> done;
    auto result = done.get_future();
    {
        std::lock_guard lock(queue_mutex_);
        writer_tasks_.push_back([&done, &task] { done.set_value(task()); });
    }
    queue_cv_.notify_one();
    return result.get();
}

}  // namespace strata::storage
