// What an exporter writes: one stored message, as a row mapped by its route.
// Sinks (one per database kind) turn rows into their database's records and
// write each batch idempotently: the unique key is (topic id, timestamp, seq),
// the message's key in the store, so writing a batch twice (after a crash or a
// failed acknowledgement) leaves every row once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/broker_config.hpp"
#include "keys.hpp"

namespace strata::exporters {

struct export_row {
    std::uint64_t log_seq = 0;
    storage::message_key key;     // unique: topic id, arrival time (µs since the epoch), seq
    std::string topic;
    std::string client_id;        // publisher
    std::uint8_t qos = 0;
    bool retain = false;
    const config::export_route_config* route = nullptr;
    std::vector<std::pair<std::string, std::string>> captures;  // named topic levels (+room)
    // payload=json: the JSON object's fields (all of them, or the route's);
    // payload=text|bytes: null, and `payload` holds the bytes.
    nlohmann::json fields;
    std::string payload;
    // Set when the payload does not fit the route (not JSON, a field missing):
    // the row goes to the exporter's error table/collection with this reason.
    std::string error;

    // "topicid-ts-seq": the key as one string (document _id, Kafka header, ...).
    std::string unique_id() const {
        return std::to_string(key.topic_id) + "-" + std::to_string(key.ts_us) + "-" + std::to_string(key.seq);
    }
};

// Where a row goes: its route's target (table, collection, Kafka topic), or
// TARGET_errors when it did not fit the route (docs/exporters.md, misfits).
inline std::string destination_of(const export_row& row) {
    return row.error.empty() ? row.route->target : row.route->target + "_errors";
}

// Thrown by a sink when a batch (or the connection) failed; the runner logs it,
// waits and retries the same batch.
struct export_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Thrown by a sink when the database refused rows of the batch themselves (a
// constraint, a type, a value, a size: the same rows would fail again), not
// because of the connection or the server. Nothing of the batch was written
// (or what was is idempotent). The runner then writes the batch in halves
// until it has found the refused rows, and writes those to the error table
// with what() (the database's message) as the reason, so that one bad row
// never holds back the rows after it (docs/exporters.md, "Rows a database
// refuses"). Retrying it as a whole would fail forever.
struct data_error : export_error {
    using export_error::export_error;
};

// Turns `row` into a misfit with `reason`: it goes to TARGET_errors. `raw` is
// the payload as published when known (else the JSON fields, re-serialised).
void make_misfit(export_row& row, std::string reason, const std::string* raw = nullptr);

// A database's message made fit for a reason column: valid UTF-8 without NUL
// (what PostgreSQL text takes), at most `limit` bytes (PostgreSQL quotes the
// whole failing row in some messages).
std::string reason_text(std::string_view message, std::size_t limit = 1000);

// One database: connects lazily and writes batches. Runs only on its
// exporter's thread, so it needs no locking and may block.
class sink {
public:
    virtual ~sink() = default;
    // Writes the rows (all of one batch, in log order). Throws export_error;
    // after a throw, the next call may reconnect.
    virtual void write(std::span<const export_row> rows) = 0;
    // Whether try_write() is there: SQL sinks, whose batches are transactions.
    virtual bool can_try() const { return false; }
    // Writes the rows as write() does, then rolls them back: throws what
    // write() would (data_error for refused rows), keeps nothing. The runner
    // finds the rows a database refuses with these (cheap: nothing is
    // committed) and then writes the batch once, rather than committing every
    // half of it on the way.
    virtual void try_write(std::span<const export_row> rows) { write(rows); }
    // Drops the connection (after an error, or at shutdown).
    virtual void disconnect() {}
    // How many rows of the last successful write() the sink itself found unfit
    // for its database (beyond row.error: a document MongoDB would refuse, say)
    // and wrote to the error table instead, so that error_rows counts them.
    virtual std::uint64_t rejected_rows() const { return 0; }
    // Of those, how many the database itself refused when the sink tried
    // them (MongoDB's write errors, Kafka's refused records), as opposed to
    // rows the sink's own checks kept from it: counted in refused_rows too.
    virtual std::uint64_t refused_rows() const { return 0; }
    // Called from another thread when the exporter stops: a write() waiting on
    // its database in short slices (Kafka's delivery reports, say) gives up
    // at the next one and throws export_error, so that stopping strata does
    // not wait for a database that has gone silent.
    virtual void interrupt() {}
};

}  // namespace strata::exporters
