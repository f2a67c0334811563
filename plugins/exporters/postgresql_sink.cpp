// PostgreSQL (libpq). Tables as sql_mapping.hpp describes, created if missing
// (timestamptz, jsonb, bytea); each batch is one transaction of multi-row
// INSERT ... ON CONFLICT (topic_id, ts_us, seq) DO NOTHING, so a replayed
// batch changes nothing (and only that conflict is ignored: a row a unique
// index of the user's refuses is a refusal, not a row already there). A row with U+0000 in a text or JSON
// value, which PostgreSQL cannot store, goes to the error table. A row the
// server refuses (SQLSTATE classes 22 and 23, a trigger's exception, ...) is a
// data_error, which the runner isolates; a column a route gained is added to
// its table (ALTER TABLE ... ADD COLUMN IF NOT EXISTS).
#include <libpq-fe.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "db_url.hpp"
#include "sinks.hpp"
#include "sql_mapping.hpp"

namespace strata::exporters {

namespace {

constexpr std::size_t max_statement_bytes = 4 << 20;

class postgresql_sink final : public sink {
public:
    postgresql_sink(db_url url, std::string password) : url_(std::move(url)), password_(std::move(password)) {}
    ~postgresql_sink() override { disconnect(); }

    void write(std::span<const export_row> rows) override { write_rows(rows, true); }
    bool can_try() const override { return true; }
    void try_write(std::span<const export_row> rows) override { write_rows(rows, false); }

    // One transaction of the rows, committed (`keep`) or rolled back.
    void write_rows(std::span<const export_row> rows, bool keep) {
        connect();
        // The tables are made (and given a route's new columns) before the
        // batch's transaction: a rolled-back batch must not take them along.
        rejected_.clear();
        std::map<std::string, std::vector<const export_row*>> by_table;
        for (const auto& r : rows) {
            const export_row* row = &r;
            if (r.error.empty()) {
                // A table that lacks a route's column and cannot get it, or a
                // value PostgreSQL cannot hold: to the error table.
                std::optional<std::string> why;
                if (const auto& t = table_of(r.route->target, *r.route); !t.problem.empty()) why = t.problem;
                else why = unstorable(r);
                if (why) {
                    row = &rejected_.emplace_back(r);
                    make_misfit(rejected_.back(), std::move(*why));
                }
            }
            by_table[destination_of(*row)].push_back(row);
        }
        for (const auto& [name, list] : by_table) table_of(name, *list.front()->route);
        exec("BEGIN");
        try {
            for (const auto& [name, list] : by_table) insert(name, list);
            exec(keep ? "COMMIT" : "ROLLBACK");
        } catch (...) {
            if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
            throw;
        }
    }

    std::uint64_t rejected_rows() const override { return rejected_.size(); }

    void disconnect() override {
        if (conn_) PQfinish(conn_);
        conn_ = nullptr;
        tables_.clear();
    }

private:
    void connect() {
        if (conn_) return;
        const char* keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout",
                              "application_name", "keepalives_idle", nullptr};
        const std::string port = std::to_string(url_.port);
        const char* values[] = {url_.host.c_str(), port.c_str(), url_.database.c_str(), url_.user.c_str(),
                                password_.c_str(), "5", "strata", "30", nullptr};
        conn_ = PQconnectdbParams(keys, values, 0);
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
            std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
            while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
            disconnect();
            throw export_error("cannot connect to PostgreSQL at " + url_.host + ":" + port + " as " + url_.user + ": " +
                               why);
        }
        exec("SET client_min_messages = warning");  // "relation exists, skipping" notices stay quiet
    }

    // A failed statement: its message, and whether the server refused the
    // rows themselves (then retrying the batch as it is would fail forever).
    struct failure {
        std::string message;
        std::string sqlstate;
    };

    std::optional<failure> run(const std::string& sql) {
        PGresult* r = PQexec(conn_, sql.c_str());
        const auto status = PQresultStatus(r);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
            PQclear(r);
            return std::nullopt;
        }
        // One line: the primary message, and its detail (for a constraint:
        // the failing row), rather than libpq's several lines.
        failure f;
        if (const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) f.message = primary;
        else f.message = PQresultErrorMessage(r);
        if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) f.message += std::string(" (") + detail + ")";
        if (const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) f.sqlstate = state;
        PQclear(r);
        for (auto& c : f.message) c = c == '\n' ? ' ' : c;
        while (!f.message.empty() && f.message.back() == ' ') f.message.pop_back();
        if (f.message.empty()) f.message = conn_ ? PQerrorMessage(conn_) : "no answer";
        return f;
    }

    // Class 22 (data exception: out of range, invalid text for a type, too
    // long), 23 (integrity: a CHECK, NOT NULL, UNIQUE or foreign key of the
    // user's), a trigger's RAISE EXCEPTION (P0001), a datatype mismatch with a
    // column the user changed (42804), a value over a limit (54000: an index
    // row too large). Connection, server, lock, privilege and missing-table
    // errors are retried (a reconnection creates a table dropped meanwhile).
    static bool refuses_row(const std::string& sqlstate) {
        return sqlstate.starts_with("22") || sqlstate.starts_with("23") || sqlstate == "P0001" ||
               sqlstate == "42804" || sqlstate == "54000";
    }

    void exec(const std::string& sql) {
        if (auto f = run(sql)) {
            const std::string why = "PostgreSQL: " + f->message + " (in: " + sql.substr(0, 80) + ")";
            if (refuses_row(f->sqlstate)) throw data_error("PostgreSQL: " + f->message);
            throw export_error(why);
        }
    }

    static const char* type_name(sql_type t) {
        switch (t) {
            case sql_type::number: return "double precision";
            case sql_type::json: return "jsonb";
            case sql_type::bytes: return "bytea";
            default: return "text";
        }
    }

    struct table {
        std::vector<sql_column> columns;
        std::string problem;  // why rows cannot go in (a missing column that could not be added)
    };

    // Table `name`, created if missing and given the route's columns it lacks.
    const table& table_of(const std::string& name, const config::export_route_config& route) {
        const auto it = tables_.find(name);
        if (it != tables_.end()) return it->second;
        table t{table_columns(name, route), {}};
        std::string create = "CREATE TABLE IF NOT EXISTS " + quote_identifier(name) +
                             " (topic_id bigint NOT NULL, ts_us bigint NOT NULL, seq bigint NOT NULL, "
                             "ts timestamptz NOT NULL, topic text NOT NULL, client_id text, qos smallint, retain boolean";
        for (const auto& c : t.columns) create += ", " + quote_identifier(c.name) + " " + type_name(c.type);
        create += ", PRIMARY KEY (topic_id, ts_us, seq))";
        exec(create);
        const std::string index = "CREATE INDEX IF NOT EXISTS " + quote_identifier(name + "_by_time") + " ON " +
                                  quote_identifier(name) + " (ts)";
        // A table of another owner (42501) keeps the indexes its owner gave it.
        if (auto f = run(index); f && f->sqlstate != "42501") {
            throw export_error("PostgreSQL: " + f->message + " (in: " + index.substr(0, 80) + ")");
        }
        // A table made for an earlier configuration lacks the columns a route
        // gained since. (Only those are altered: even ADD COLUMN IF NOT EXISTS
        // needs the table's owner.)
        std::string list = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                           "AND table_name = ";
        append_literal(list, name);
        std::set<std::string> existing;
        PGresult* columns = PQexec(conn_, list.c_str());
        if (PQresultStatus(columns) != PGRES_TUPLES_OK) {
            const std::string why = PQresultErrorMessage(columns);
            PQclear(columns);
            throw export_error("PostgreSQL: " + why);
        }
        for (int i = 0; i < PQntuples(columns); ++i) existing.emplace(PQgetvalue(columns, i, 0));
        PQclear(columns);
        for (const auto& c : t.columns) {
            if (existing.contains(c.name)) continue;
            const std::string alter = "ALTER TABLE " + quote_identifier(name) + " ADD COLUMN IF NOT EXISTS " +
                                      quote_identifier(c.name) + " " + type_name(c.type);
            const auto f = run(alter);
            if (!f) continue;
            // Not the owner (42501), too many columns (54011), ...: the table's
            // answer. The connection or the server: retried.
            const bool refused = f->sqlstate.starts_with("42") || f->sqlstate.starts_with("54") ||
                                 f->sqlstate.starts_with("0A");
            if (!refused) throw export_error("PostgreSQL: " + f->message + " (in: " + alter.substr(0, 80) + ")");
            t.problem = "PostgreSQL: table " + name + " has no column " + c.name + " and it cannot be added: " +
                        f->message;
            break;
        }
        return tables_.emplace(name, std::move(t)).first->second;
    }

    // PostgreSQL's text and jsonb cannot hold U+0000 (valid UTF-8, and valid
    // in a JSON string as \u0000): such a row would fail its whole batch
    // again and again. It goes to the error table instead, with the reason.
    std::optional<std::string> unstorable(const export_row& row) {
        auto it = route_columns_.find(row.route);
        if (it == route_columns_.end()) it = route_columns_.emplace(row.route, route_columns(*row.route)).first;
        for (const auto& c : it->second) {
            if (c.type == sql_type::bytes) continue;  // bytea holds any byte
            const auto cell = column_cell(row, c);
            const bool nul = cell.what == sql_cell::kind::text ? cell.text.find('\0') != std::string_view::npos
                             : cell.what == sql_cell::kind::json ? holds_nul(*cell.json)
                                                                 : false;
            if (nul) return "PostgreSQL cannot store U+0000 (a NUL character) in " + c.name;
        }
        return std::nullopt;
    }

    static bool holds_nul(const nlohmann::json& value) {
        if (value.is_string()) return value.get_ref<const std::string&>().find('\0') != std::string::npos;
        if (value.is_array()) return std::any_of(value.begin(), value.end(), holds_nul);
        if (!value.is_object()) return false;
        for (const auto& [key, item] : value.items()) {
            if (key.find('\0') != std::string::npos || holds_nul(item)) return true;
        }
        return false;
    }

    void append_literal(std::string& sql, std::string_view value) {
        sql += '\'';
        const std::size_t at = sql.size();
        sql.resize(at + value.size() * 2 + 1);
        int error = 0;
        const auto n = PQescapeStringConn(conn_, sql.data() + at, value.data(), value.size(), &error);
        if (error) throw data_error("PostgreSQL: cannot escape a value (invalid UTF-8?)");
        sql.resize(at + n);
        sql += '\'';
    }

    void append_bytes(std::string& sql, std::string_view value) {
        std::size_t n = 0;
        unsigned char* escaped =
            PQescapeByteaConn(conn_, reinterpret_cast<const unsigned char*>(value.data()), value.size(), &n);
        if (!escaped) throw export_error("PostgreSQL: out of memory escaping bytes");
        sql += '\'';
        sql.append(reinterpret_cast<const char*>(escaped), n > 0 ? n - 1 : 0);  // n counts the terminating 0
        sql += "'::bytea";
        PQfreemem(escaped);
    }

    void insert(const std::string& name, const std::vector<const export_row*>& rows) {
        const auto& columns = table_of(name, *rows.front()->route).columns;
        const bool errors = name.ends_with("_errors");
        std::string head = "INSERT INTO " + quote_identifier(name) + " (topic_id, ts_us, seq, ts, topic, client_id, qos, retain";
        for (const auto& c : columns) head += ", " + quote_identifier(c.name);
        head += ") VALUES ";
        const std::string tail = " ON CONFLICT (topic_id, ts_us, seq) DO NOTHING";
        std::string sql = head;
        bool first = true;
        for (const auto* row : rows) {
            if (!first) sql += ',';
            first = false;
            sql += '(' + std::to_string(row->key.topic_id) + "," + std::to_string(row->key.ts_us) + "," +
                   std::to_string(row->key.seq) + ",'" + iso_time(row->key.ts_us) + "',";
            append_literal(sql, row->topic);
            sql += ',';
            append_literal(sql, row->client_id);
            sql += "," + std::to_string(row->qos) + "," + (row->retain ? "true" : "false");
            if (errors) {
                sql += ',';
                append_literal(sql, row->error);
                sql += ',';
                append_bytes(sql, row->payload);
            } else {
                for (const auto& c : columns) {
                    sql += ',';
                    const auto value = column_value(*row, c);
                    if (!value) sql += "NULL";
                    else if (c.type == sql_type::number) sql += *value;
                    else if (c.type == sql_type::bytes) append_bytes(sql, *value);
                    else {
                        append_literal(sql, *value);
                        if (c.type == sql_type::json) sql += "::jsonb";
                    }
                }
            }
            sql += ')';
            if (sql.size() > max_statement_bytes) {
                exec(sql + tail);
                sql = head;
                first = true;
            }
        }
        if (!first) exec(sql + tail);
    }

    db_url url_;
    std::string password_;
    PGconn* conn_ = nullptr;
    std::map<std::string, table> tables_;  // created (and checked) in this connection
    std::map<const config::export_route_config*, std::vector<sql_column>> route_columns_;
    std::deque<export_row> rejected_;  // of the last write: copies of the rows PostgreSQL cannot store, as misfits
};

}  // namespace

std::unique_ptr<sink> make_postgresql_sink(const config::exporter_config& cfg, const std::string& password,
                                           std::string& error) {
    auto url = parse_db_url(cfg.url, 5432);
    if (!url || (url->scheme != "postgresql" && url->scheme != "postgres") || url->database.empty()) {
        error = cfg.defined_at + ": exporter " + cfg.name +
                ": exporter_url must be postgresql://USER@HOST:PORT/DATABASE";
        return nullptr;
    }
    return std::make_unique<postgresql_sink>(std::move(*url), password);
}

}  // namespace strata::exporters
