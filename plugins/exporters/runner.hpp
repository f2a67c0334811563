// One exporter at work, on two threads of its own (never a worker's): the
// reader reads the store's export log after its cursor and maps the messages
// its routes take into batches; the writer writes each batch to the database
// through its sink and only then moves the cursor. The reader prepares the
// next batch while the database takes the current one (one batch in hand at
// most), so neither waits for the other's work. A write that fails for the
// connection or the server is retried, with a growing pause, until it
// succeeds: a database outage only grows the lag; a crash or restart of strata
// resumes at the cursor, and the sink's idempotent writes make the replayed
// tail harmless (docs/exporters.md, "Delivery"). A write the database refuses
// for the rows themselves (data_error) is split in halves until the refused
// rows are found; those go to the error table with the database's message, the
// rest is written, and only then does the cursor move.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/broker_config.hpp"
#include "export_row.hpp"
#include "route.hpp"

namespace strata {
class logger;
}
namespace strata::storage {
class store;
}

namespace strata::exporters {

// A snapshot of an exporter for $SYS and GET /api/v1/exporters.
struct exporter_status {
    std::string name;
    std::string kind;
    std::string state;            // starting, up, retrying, stopped
    std::string last_error;       // of the last failed write; empty once one succeeds
    std::uint64_t cursor = 0;     // the last log sequence exported
    std::uint64_t lag = 0;        // logged messages after the cursor (for any exporter's routes)
    std::uint64_t rows = 0;       // rows written since start
    std::uint64_t error_rows = 0; // rows written to the error table (misfits and refused rows)
    std::uint64_t refused_rows = 0;  // of those, rows the database itself refused (found by splitting a batch)
    std::uint64_t errors = 0;     // failed writes (each retried)
    std::uint64_t expired = 0;    // messages deleted by retention or purge before they were exported
    std::uint64_t undecodable = 0;  // export-log entries (or their messages) that could not be decoded: skipped
    double rows_per_second = 0;
};

class runner {
public:
    // `resume_at`: the cursor to start from (a changed exporter taking over
    // from its previous runner); nullopt: the one saved in the store.
    runner(std::shared_ptr<const config::exporter_config> cfg, storage::store& store, logger& log,
           std::unique_ptr<sink> s, std::optional<std::uint64_t> resume_at = std::nullopt);
    ~runner();
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;

    void start();
    // Stops after the write in progress (a blocked database call returns at
    // its timeout) and saves the cursor.
    void stop();
    exporter_status status() const;
    const config::exporter_config& config() const { return *cfg_; }
    // The cursor, for pruning the log (thread-safe).
    std::uint64_t cursor() const { return cursor_.load(std::memory_order_acquire); }

private:
    // A mapped batch handed from the reader to the writer; `last` is the log
    // sequence the cursor moves to once its rows are written.
    struct batch {
        std::vector<export_row> rows;
        std::uint64_t last = 0;
    };

    void read_loop();
    void write_loop();
    // Reader: waits until the writer has taken the previous batch; false when stopping.
    bool hand_over(batch& b);
    // Reads log entries after `from` into `rows` (at most batch_size); returns
    // the last log sequence looked at (from itself when there was none).
    std::uint64_t collect(std::uint64_t from, std::vector<export_row>& rows);
    // Counts and logs entries that cannot be decoded; each key once.
    void count_undecodable(std::uint64_t n, const std::string& last_key, const char* what);

    // What writing one batch came to, for the counters.
    struct tally {
        std::uint64_t rejected = 0;  // rows the sink itself sent to the error table
        std::uint64_t refused = 0;   // rows the database refused, found by splitting
        std::string first_refusal;
    };
    enum class attempt { written, refused, stopped };
    // Writes `rows` (or, `trial`, tries them: sink::try_write), retrying
    // failures of the connection or the server with a growing pause;
    // `refused` with the database's message for a data_error.
    attempt write_until_done(std::span<const export_row> rows, tally& t, std::string& refusal, bool trial = false);
    // Writes `rows`, splitting them on a data_error until every row is written
    // or in the error table; false when the exporter stops first.
    bool write_batch(std::span<export_row> rows, tally& t);
    // The rows of `rows` (refused as a whole) the database refuses alone,
    // with its message, as indexes from `offset`; tries halves, which a sink
    // that can_try() rolls back. False when the exporter stops first.
    bool find_refused(std::span<export_row> rows, std::size_t offset,
                      std::vector<std::pair<std::size_t, std::string>>& found, tally& t);
    // Makes `row` a misfit with the database's message and its payload as published.
    void refuse(export_row& row, std::string refusal, tally& t);
    bool write_refused_row(export_row& row, std::string refusal, tally& t);
    // Retries a write that failed for the connection or the server; false when stopping.
    bool back_off(const std::string& why, std::size_t rows, std::chrono::milliseconds& wait);
    // Saves the cursor; a failure is logged (at most every 30 s) and the
    // caller tries again later.
    bool save_cursor(std::uint64_t c);
    // The payload of a stored message as published (null when it is gone).
    std::optional<std::string> raw_payload(const storage::message_key& key);
    void set_state(const char* state, std::string error = {});
    bool pause(std::chrono::milliseconds d);  // false when stopping
    const std::string& topic_name(std::uint64_t id);

    std::shared_ptr<const config::exporter_config> cfg_;
    storage::store& store_;
    logger& log_;
    std::unique_ptr<sink> sink_;
    route_table routes_;
    std::unordered_map<std::uint64_t, std::string> topic_names_;  // cache, reader thread only
    json_reader json_;                                              // reader thread only

    std::thread reader_;
    std::thread writer_;
    std::atomic<bool> stopping_{false};
    std::mutex wake_mutex_;
    std::condition_variable wake_;  // stop() wakes a retry pause

    std::mutex handoff_mutex_;
    std::condition_variable handoff_;
    std::optional<batch> pending_;  // the batch the writer takes next

    std::atomic<std::uint64_t> cursor_{0};
    bool cursor_unsaved_ = false;  // the constructor could not save a new exporter's cursor
    mutable std::mutex status_mutex_;
    exporter_status status_;

    // Logging of failures that repeat: the first, then at most every 30 s.
    std::chrono::steady_clock::time_point last_write_log_{}, last_refusal_log_{}, last_save_log_{},
        last_undecodable_log_{};
    std::uint64_t refusals_unlogged_ = 0;       // writer thread
    bool save_failing_ = false;                 // writer thread
    std::string last_undecodable_key_;          // reader thread: counted up to here
    std::uint64_t undecodable_unlogged_ = 0;    // reader thread
};

// The password of an exporter: its exporter_password_file's first line, or
// its exporter_password_env variable (empty when neither is set). False with
// `error` when the file cannot be read or the variable is unset.
bool read_exporter_password(const config::exporter_config& cfg, std::string& password, std::string& error);

}  // namespace strata::exporters
