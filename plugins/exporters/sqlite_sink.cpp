// SQLite (libsqlite3): the database file at exporter_url, for single-box
// deployments. Tables as sql_mapping.hpp describes; each batch is one
// transaction of INSERT ... ON CONFLICT (the message key) DO NOTHING, so a
// replayed batch leaves every row once. (Not INSERT OR IGNORE: that also
// skips, without a word, a row a UNIQUE, NOT NULL or CHECK constraint of the
// user's refuses.) A row SQLite refuses (a constraint or a trigger of
// the user's, a type or size) is a data_error, which the runner isolates; a
// column a route gained is added to its table (ALTER TABLE ... ADD COLUMN).
#include <sqlite3.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "sinks.hpp"
#include "sql_mapping.hpp"

namespace strata::exporters {

namespace {

class sqlite_sink final : public sink {
public:
    explicit sqlite_sink(std::string path) : path_(std::move(path)) {}
    ~sqlite_sink() override { disconnect(); }

    void write(std::span<const export_row> rows) override { write_rows(rows, true); }
    bool can_try() const override { return true; }
    void try_write(std::span<const export_row> rows) override { write_rows(rows, false); }

    std::uint64_t rejected_rows() const override { return rejected_.size(); }

    void disconnect() override {
        tables_.clear();  // its statements go before the connection
        if (db_) sqlite3_close_v2(db_);
        db_ = nullptr;
    }

private:
    // One transaction of the rows, committed (`keep`) or rolled back.
    void write_rows(std::span<const export_row> rows, bool keep) {
        connect();
        rejected_.clear();
        // The tables first (and a route's new columns), outside the batch's
        // transaction: a batch rolled back must not take them along.
        std::vector<const export_row*> list;
        list.reserve(rows.size());
        for (const auto& r : rows) {
            const export_row* row = &r;
            // A table that lacks a route's column and cannot get it: the row goes to the error table.
            if (r.error.empty()) {
                if (const auto& t = table_for(r.route->target, *r.route); !t.problem.empty()) {
                    row = &rejected_.emplace_back(r);
                    make_misfit(rejected_.back(), t.problem);
                }
            }
            table_for(destination_of(*row), *row->route);
            list.push_back(row);
        }
        exec("BEGIN IMMEDIATE");
        try {
            for (const auto* row : list) insert(*row);
            exec(keep ? "COMMIT" : "ROLLBACK");
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    struct statement_deleter {
        void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
    };
    using statement = std::unique_ptr<sqlite3_stmt, statement_deleter>;
    struct table {
        std::vector<sql_column> columns;
        statement insert;
        std::string problem;  // why rows cannot go in (a missing column that could not be added)
    };

    void connect() {
        if (db_) return;
        if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK) {
            const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
            disconnect();
            throw export_error("cannot open SQLite database " + path_ + ": " + why);
        }
        sqlite3_busy_timeout(db_, 5000);
        exec("PRAGMA journal_mode=WAL");
    }

    void exec(const std::string& sql) {
        char* message = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
            const std::string why = message ? message : "error";
            sqlite3_free(message);
            throw export_error("SQLite: " + why + " (in: " + sql.substr(0, 80) + ")");
        }
    }

    // What SQLite says about the row itself: a constraint (a CHECK, NOT NULL
    // or UNIQUE of the user's, a trigger's RAISE), a type, a size. Anything
    // else (busy, locked, I/O, full, read-only) is retried.
    static bool refuses_row(int code) {
        switch (code & 0xff) {
            case SQLITE_CONSTRAINT:
            case SQLITE_MISMATCH:
            case SQLITE_TOOBIG:
            case SQLITE_RANGE: return true;
            default: return false;
        }
    }

    // The columns table `name` has in the file.
    std::set<std::string> existing_columns(const std::string& name) {
        std::set<std::string> out;
        statement s = prepare("SELECT name FROM pragma_table_info(?)");
        sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            out.emplace(reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)));
        }
        if (rc != SQLITE_DONE) throw export_error(std::string("SQLite: ") + sqlite3_errmsg(db_));
        return out;
    }

    statement prepare(const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
            throw export_error(std::string("SQLite: ") + sqlite3_errmsg(db_));
        }
        return statement(s);
    }

    static const char* sql_type_name(sql_type t) {
        switch (t) {
            case sql_type::number: return "REAL";
            case sql_type::bytes: return "BLOB";
            default: return "TEXT";
        }
    }

    table& table_for(const std::string& name, const config::export_route_config& route) {
        const auto it = tables_.find(name);
        if (it != tables_.end()) return it->second;
        table t;
        std::string create = "CREATE TABLE IF NOT EXISTS " + quote_identifier(name) +
                             " (topic_id INTEGER NOT NULL, ts_us INTEGER NOT NULL, seq INTEGER NOT NULL, "
                             "ts TEXT NOT NULL, topic TEXT NOT NULL, client_id TEXT, qos INTEGER, retain INTEGER";
        std::string insert = "INSERT INTO " + quote_identifier(name) +
                             " (topic_id, ts_us, seq, ts, topic, client_id, qos, retain";
        std::string params = "?,?,?,?,?,?,?,?";
        t.columns = table_columns(name, route);
        for (const auto& c : t.columns) {
            create += ", " + quote_identifier(c.name) + " " + sql_type_name(c.type);
            insert += ", " + quote_identifier(c.name);
            params += ",?";
        }
        create += ", PRIMARY KEY (topic_id, ts_us, seq))";
        exec(create);
        // A table made for an earlier configuration lacks the columns a route gained since.
        const auto existing = existing_columns(name);
        for (const auto& c : t.columns) {
            if (existing.contains(c.name)) continue;
            const std::string alter = "ALTER TABLE " + quote_identifier(name) + " ADD COLUMN " +
                                      quote_identifier(c.name) + " " + sql_type_name(c.type);
            char* message = nullptr;
            const int rc = sqlite3_exec(db_, alter.c_str(), nullptr, nullptr, &message);
            const std::string why = message ? message : "error";
            sqlite3_free(message);
            if (rc == SQLITE_OK) continue;
            if ((rc & 0xff) != SQLITE_ERROR) throw export_error("SQLite: " + why + " (in: " + alter.substr(0, 80) + ")");
            t.problem = "SQLite: table " + name + " has no column " + c.name + " and it cannot be added: " + why;
            return tables_.emplace(name, std::move(t)).first->second;
        }
        t.insert = prepare(insert + ") VALUES (" + params + ") ON CONFLICT (topic_id, ts_us, seq) DO NOTHING");
        return tables_.emplace(name, std::move(t)).first->second;
    }

    void insert(const export_row& row) {
        const bool failed = !row.error.empty();
        auto& t = table_for(destination_of(row), *row.route);
        sqlite3_stmt* s = t.insert.get();
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(row.key.topic_id));
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(row.key.ts_us));
        sqlite3_bind_int64(s, 3, row.key.seq);
        const auto ts = iso_time(row.key.ts_us);
        sqlite3_bind_text(s, 4, ts.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, row.topic.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 6, row.client_id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 7, row.qos);
        sqlite3_bind_int(s, 8, row.retain ? 1 : 0);
        int index = 9;
        if (failed) {
            sqlite3_bind_text(s, index++, row.error.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_blob(s, index++, row.payload.data(), static_cast<int>(row.payload.size()), SQLITE_TRANSIENT);
        } else {
            for (const auto& c : t.columns) {
                const auto value = column_value(row, c);
                if (!value) sqlite3_bind_null(s, index);
                else if (c.type == sql_type::bytes)
                    sqlite3_bind_blob(s, index, value->data(), static_cast<int>(value->size()), SQLITE_TRANSIENT);
                else if (c.type == sql_type::number)
                    sqlite3_bind_double(s, index, std::stod(*value));
                else
                    sqlite3_bind_text(s, index, value->c_str(), static_cast<int>(value->size()), SQLITE_TRANSIENT);
                ++index;
            }
        }
        if (const int rc = sqlite3_step(s); rc != SQLITE_DONE) {
            const std::string why = std::string("SQLite: ") + sqlite3_errmsg(db_);
            if (refuses_row(sqlite3_extended_errcode(db_))) throw data_error(why);
            throw export_error(why);
        }
    }

    std::string path_;
    sqlite3* db_ = nullptr;
    std::map<std::string, table> tables_;
    std::deque<export_row> rejected_;  // of the last write: copies of rows whose table cannot take them, as misfits
};

}  // namespace

std::unique_ptr<sink> make_sqlite_sink(const config::exporter_config& cfg) {
    return std::make_unique<sqlite_sink>(cfg.url);
}

}  // namespace strata::exporters
