// The store: RocksDB with one column family per kind of data (keys.hpp),
// written by one writer thread. Worker threads never touch the database on
// the publish path: each fills a write_set during its event-loop turn and
// hands it over with submit(); the writer commits the sets of all workers in
// one group (durability none: memtable only, wal: WAL written, fsync: WAL
// synced) and then hands back the completions of that group, so that
// acknowledgements that promise durability go out only after the commit.
//
// When the disk is short of space, or after a write failed, the writer stops
// storing new messages but keeps the store in step with the broker's memory:
// see bookkeeping.hpp and commit().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>

#include "keys.hpp"
#include "records.hpp"
#include "retention.hpp"
#include "session/message.hpp"

namespace strata::storage {

enum class durability { none, wal, fsync };

// Without history: the records of messages no session needs any more, as
// messages report them when they are destroyed (message_release). It must
// outlive every message: the broker's sessions may drop theirs after the
// store has stopped (the records left then are removed at the next start).
class release_list final : public message_release {
public:
    void released(std::uint64_t topic_id, std::uint64_t ts_us, std::uint32_t seq) override;
    std::vector<std::string> take();  // encoded message keys, in order
    void give_back(std::vector<std::string> keys);

private:
    std::mutex mutex_;
    std::vector<std::string> keys_;
};

struct store_options {
    std::string path;
    durability mode = durability::wal;
    retention_policy retention;
    // Below this much free space on the store's file system, QoS 1/2
    // publishes are refused before RocksDB runs into a full disk (a failed
    // write-ahead-log append cannot be recovered without reopening the store).
    std::uint64_t min_free_bytes = 128ull << 20;
    // Where RocksDB's own warnings and errors go (instead of a LOG file in the
    // store's directory: that file would be the first victim of a full disk).
    std::function<void(std::string_view)> log;
    // The environment RocksDB works through; null: the default. Tests pass one
    // whose file system fails on demand.
    std::shared_ptr<rocksdb::Env> env;
    // Free bytes on the store's file system (nullopt: unknown); null: statvfs.
    // Tests pass one that agrees with their failing file system.
    std::function<std::optional<std::uint64_t>(const std::string& path)> free_space;
    // Keep the export log (exporters are configured): every stored message
    // also gets an entry, in commit order, that exporters read from their cursor.
    bool keep_log = false;
    // Keep every message (`storage rocksdb`). false (Mosquitto's `persistence
    // true` alone): a message is written only when a persistent session's
    // record refers to it, and deleted once no session needs it (`releases`
    // collects those; required then).
    bool keep_history = true;
    std::shared_ptr<release_list> releases;
    // Bytes of write sets handed to the writer and not yet committed, beyond
    // which workers stop reading their clients (TCP pushes back) until half
    // of them are committed; 0 = no bound. A disk that stalls then slows the
    // publishers instead of filling memory.
    std::uint64_t max_queued_bytes = 64ull << 20;
    // Called on the writer thread when a full queue has drained below half.
    std::function<void()> drained;
    // The broker records in the store what it keeps (see check_mode());
    // tools that open a store for a moment (strata purge) leave it as it is.
    bool record_mode = true;
};

// Work for a worker thread once the write set holding it is committed.
struct completion {
    std::uint32_t worker = 0;
    // true once the set's bookkeeping is written, or kept by a failed store
    // for when it resumes (see commit()).
    std::function<void(bool committed)> run;
    // The work also needs the messages stored in its write set (a PUBREC): it
    // gets false when they were refused (short of space, or a failed write).
    bool needs_messages = false;
};


// What one worker hands to the writer after one event-loop turn.
struct write_set {
    rocksdb::WriteBatch batch;                 // messages, sessions (column families via the store's handles)
    struct stored_message {
        std::uint64_t topic_id;
        std::uint64_t ts_us;
        std::uint32_t seq;
    };
    std::vector<stored_message> messages;      // for the per-topic counters
    struct retained_update {
        std::string topic;
        std::uint64_t order;
        std::string value;                     // encoded retained_record; empty = clear
    };
    std::vector<retained_update> retained;     // newest order wins, whatever the commit order
    std::vector<std::shared_ptr<strata::commit_token>> parts;  // this worker's part of these messages is in the set
    std::vector<std::shared_ptr<strata::commit_token>> message_tokens;  // of the messages stored in this set
    std::vector<completion> completions;
    std::size_t bytes = 0;  // counted against max_queued_bytes while it waits (set by submit)

    bool empty() const {
        return batch.Count() == 0 && messages.empty() && retained.empty() && parts.empty() && message_tokens.empty() &&
               completions.empty();
    }
};

// Receives completions on the writer thread; the broker posts them to the
// workers. Each function gets whether its write was committed.
class completion_sink {
public:
    virtual ~completion_sink() = default;
    virtual void deliver(std::uint32_t worker, std::vector<std::pair<std::function<void(bool)>, bool>> work) = 0;
};

class store {
public:
    // Opens (creating if needed) the store at options.path. Refuses, with a
    // message, a store that is locked by another process, corrupt, or on a
    // read-only file system; never repairs or wipes anything.
    static std::unique_ptr<store> open(const store_options& options, std::string& error);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const store_options& options() const { return options_; }
    // SIGHUP: settings that change without a restart. The retention applies
    // to the next sweep and every query from now on.
    void set_retention(retention_policy policy);
    retention_policy retention() const { return retention_index_->policy(); }
    void set_limits(std::uint64_t min_free_bytes, std::uint64_t max_queued_bytes);
    rocksdb::DB& db() { return *db_; }
    rocksdb::ColumnFamilyHandle* messages() { return cf_messages_; }
    rocksdb::ColumnFamilyHandle* topics() { return cf_topics_; }
    rocksdb::ColumnFamilyHandle* sessions() { return cf_sessions_; }
    rocksdb::ColumnFamilyHandle* retained() { return cf_retained_; }
    rocksdb::ColumnFamilyHandle* cursors() { return cf_cursors_; }
    rocksdb::ColumnFamilyHandle* log() { return cf_log_; }

    // ---- the export log (store_log.cpp) ----
    // The sequence number the next logged message gets (so the newest is log_end() - 1).
    std::uint64_t log_end() const { return log_end_.load(std::memory_order_acquire); }
    // Waits (at most `timeout`) until a message after `seq` is logged; true if one is.
    bool wait_for_log(std::uint64_t seq, std::chrono::milliseconds timeout);
    // An exporter's position: the last log sequence it exported (0: none).
    std::optional<std::uint64_t> load_cursor(std::string_view exporter);
    // False when RocksDB refused the write (a failed store, a full disk): the
    // caller logs it and tries again later.
    bool save_cursor(std::string_view exporter, std::uint64_t seq);
    // Deletes the log entries below `seq` (every exporter is past them); on
    // the writer thread. False when the store refused it (it has failed).
    bool prune_log(std::uint64_t seq);

    // The id of a topic, assigning (and queueing for the writer) a new one.
    // Thread-safe; workers cache the answers.
    std::uint64_t topic_id(std::string_view topic);
    // The name of a topic id (empty when unknown). Thread-safe.
    std::string topic_name(std::uint64_t id);

    // Starts the writer thread; completions go to `sink`.
    void start(completion_sink& sink);
    // Commits what was submitted, then stops the writer thread.
    void stop();
    // Hands a write set to the writer (thread-safe, never blocks on I/O).
    void submit(std::unique_ptr<write_set> set);
    // Whether max_queued_bytes wait for the writer: workers read no client
    // input meanwhile. Lock-free.
    bool backlogged() const { return backlogged_.load(std::memory_order_relaxed); }
    std::uint64_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }

    // False while the file system is short of space (back on when space
    // returns) or after a write failed (until the store resumes, once space
    // is back, or strata restarts): new QoS 1/2 messages are refused then.
    bool writable() const { return writable_.load(std::memory_order_relaxed); }
    // True after a write failed, until the store resumes: nothing can be
    // written (a purge neither). Short of space alone is not failed.
    bool failed() const { return failed_.load(std::memory_order_relaxed); }

    // Per-topic counters as the writer keeps them (thread-safe copy).
    topic_stats stats(std::uint64_t topic_id);
    std::vector<std::pair<std::uint64_t, topic_stats>> all_stats();

    // Deletes the messages of the topics matching `filter` older than
    // `before_us` (explicit purge); runs on the writer thread and waits.
    std::uint64_t purge(std::string_view filter, std::uint64_t before_us);
    // Without history: where messages report that no session needs them.
    message_release* releases() const { return options_.releases.get(); }
    // Without history, at start-up (before the writer runs): deletes the
    // message records none of `referenced` (encoded message keys) names,
    // those a crash left behind. Returns how many.
    std::uint64_t remove_unreferenced(const std::vector<std::string>& referenced);

    // Runs the retention sweep as of `now_us` on the writer thread and waits
    // (the writer runs it every minute by itself; for tests). Returns the
    // number of messages deleted.
    std::uint64_t sweep_retention(std::uint64_t now_us);

private:
    explicit store(store_options options);
    void run_writer();
    bool check_mode(std::string& error);
    void commit(std::vector<std::unique_ptr<write_set>>& sets);
    // ---- maintenance (store_maintenance.cpp): purges and retention sweeps,
    // a slice at a time between commits, so the writer never stalls on them ----
    struct maintenance_job {
        std::vector<std::uint64_t> topics;  // still to do, the current one first
        std::uint64_t before_us = 0;        // purge: one cutoff for all; 0: retention's per topic
        std::uint64_t now_us = 0;           // retention: the sweep's time
        std::string resume;                 // where the current topic continues (empty: its start)
        std::uint64_t deleted = 0;
        std::function<void(std::uint64_t deleted)> done;  // may be empty
    };
    // Writer thread: one slice of the oldest job (at most `slice_keys` keys).
    void maintain();
    // Writer thread: queues a sweep of every topic's expired messages as of `now_us`.
    void start_retention(std::uint64_t now_us, std::function<void(std::uint64_t)> done);
    // Writer thread: deletes up to the budget of one topic's messages before
    // `cutoff_us`, from `resume` (empty: its first key); returns whether the
    // topic is done, and adds what it deleted to `deleted`.
    bool delete_slice(std::uint64_t topic_id, std::uint64_t cutoff_us, std::string& resume, std::size_t& budget,
                      std::uint64_t& deleted);
    std::deque<std::unique_ptr<maintenance_job>> maintenance_;  // writer thread
    // Runs `task` on the writer thread and waits for its result.
    std::uint64_t on_writer(std::function<std::uint64_t()> task);

    // Writer thread: one write; a failure marks the store failed and is logged.
    bool write(rocksdb::WriteBatch& batch, bool sync = false);
    void note_failure(const rocksdb::Status& status);
    std::vector<rocksdb::ColumnFamilyHandle*> all_families() const;
    // Bookkeeping that could not be written yet (the store failed), in order.
    void keep_for_later(rocksdb::WriteBatch&& batch);
    bool write_backlog();
    void try_resume();

    store_options options_;
    std::unique_ptr<rocksdb::DB> db_;
    rocksdb::ColumnFamilyHandle* cf_default_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_messages_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_topics_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_sessions_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_retained_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_cursors_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_log_ = nullptr;
    // Export log: the next sequence; waiters are woken after each commit.
    std::atomic<std::uint64_t> log_end_{1};
    std::mutex log_mutex_;
    std::condition_variable log_cv_;
    std::uint64_t next_log_seq_ = 1;  // writer thread
    // Writer thread: adds the log entries of a set's messages to its batch.
    void append_log(write_set& set);
    // Writer thread, after a commit: lets exporters see the new entries.
    void publish_log_end();
    std::shared_ptr<topic_retention_index> retention_index_;

    // Topic dictionary (guarded by dictionary_mutex_).
    std::mutex dictionary_mutex_;
    std::unordered_map<std::string, std::uint64_t> topic_ids_;
    std::unordered_map<std::uint64_t, std::string> topic_names_;
    std::uint64_t next_topic_id_ = 1;
    std::vector<std::pair<std::uint64_t, std::string>> new_topics_;  // not written yet

    // Writer queue (guarded by queue_mutex_).
    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::vector<std::unique_ptr<write_set>> queue_;
    std::vector<std::function<void()>> writer_tasks_;  // run on the writer thread (purge)
    bool stopping_ = false;
    std::atomic<std::uint64_t> queued_bytes_{0};
    // options_' values, changeable on SIGHUP.
    std::atomic<std::uint64_t> min_free_bytes_{0};
    std::atomic<std::uint64_t> max_queued_bytes_{0};
    std::atomic<bool> has_retention_{false};
    std::atomic<bool> backlogged_{false};
    std::uint64_t backlog_episodes_ = 0;       // writer thread: since the last report
    std::uint64_t next_backlog_report_us_ = 0;  // writer thread
    // Writer thread: the committed sets no longer count against the bound.
    void committed_bytes(std::uint64_t bytes);

    // Owned by the writer thread.
    std::thread writer_;
    completion_sink* sink_ = nullptr;
    std::unordered_map<std::string, std::uint64_t> retained_orders_;
    std::unordered_map<std::uint64_t, topic_stats> stats_;  // guarded by stats_mutex_ for readers
    std::mutex stats_mutex_;
    std::atomic<bool> writable_{true};
    std::atomic<bool> failed_{false};
    std::uint64_t next_retention_us_ = 0;
    void check_space();
    void refresh_writable();
    bool space_low_ = false;     // writer thread
    bool write_failed_ = false;  // writer thread; until DB::Resume() succeeds
    std::uint64_t next_resume_us_ = 0;
    bool resume_reported_ = false;
    // Writer thread: deletes the records the release list collected.
    void delete_released();
    std::deque<rocksdb::WriteBatch> backlog_;  // writer thread; see keep_for_later()
    std::size_t backlog_bytes_ = 0;
    bool backlog_overflowed_ = false;
};

// Wall clock in microseconds since the Unix epoch.
std::uint64_t now_us();

}  // namespace strata::storage
