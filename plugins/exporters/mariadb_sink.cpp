// MariaDB and MySQL (libmariadb). Tables as sql_mapping.hpp describes, created
// if missing; each batch is one transaction of INSERTs with ON DUPLICATE KEY
// UPDATE as a no-op on the primary key (topic_id, ts_us, seq), so a replayed
// batch changes nothing (mariadb_on_duplicate: a duplicate on another unique
// key is a refusal). A MariaDB server gets them as bulk executions of a
// prepared statement (mariadb_bulk.hpp); a server without the bulk protocol
// (MySQL) as multi-row INSERT text, a few thousand rows per statement.
// Connection, read and write timeouts keep a vanished server from holding the
// exporter's thread for long; the runner retries. Rows the server refuses (a
// constraint, a value, a size) are a data_error, which the runner isolates; a
// column a route gained is added to its table (ALTER TABLE ... ADD COLUMN).
#include <mysql.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <set>

#include "db_url.hpp"
#include "mariadb_bulk.hpp"
#include "sinks.hpp"
#include "sql_mapping.hpp"

namespace strata::exporters {

namespace {

constexpr std::size_t max_statement_bytes = 4 << 20;  // well below max_allowed_packet (16 MB by default)

class mariadb_sink final : public sink {
public:
    mariadb_sink(db_url url, std::string password, bool bulk_allowed)
        : url_(std::move(url)), password_(std::move(password)), bulk_allowed_(bulk_allowed) {}
    ~mariadb_sink() override { disconnect(); }

    void write(std::span<const export_row> rows) override { write_rows(rows, true); }
    bool can_try() const override { return true; }
    void try_write(std::span<const export_row> rows) override { write_rows(rows, false); }

    // One transaction of the rows, committed (`keep`) or rolled back.
    void write_rows(std::span<const export_row> rows, bool keep) {
        connect();
        rejected_.clear();
        // Rows of one table go in one statement, in log order per table. The
        // tables are made (and given a route's new columns) first: DDL commits
        // the transaction it meets in MariaDB.
        std::map<std::string, std::vector<const export_row*>> by_table;
        for (const auto& r : rows) {
            const export_row* row = &r;
            if (r.error.empty()) {
                // A table that lacks a route's column and cannot get it: the row goes to the error table.
                if (const auto& t = table_of(r.route->target, *r.route); !t.problem.empty()) {
                    row = &rejected_.emplace_back(r);
                    make_misfit(rejected_.back(), t.problem);
                }
            }
            by_table[destination_of(*row)].push_back(row);
        }
        for (const auto& [name, list] : by_table) table_of(name, *list.front()->route);
        query("START TRANSACTION");
        try {
            for (const auto& [name, list] : by_table) {
                const auto& columns = tables_.at(name).columns;
                if (!bulk_) {
                    insert(name, columns, list);
                    continue;
                }
                auto& statement = bulk_inserts_[name];
                if (!statement) {
                    statement = std::make_unique<mariadb_bulk_insert>(db_, quote_identifier(name, '`'), columns,
                                                                      name.ends_with("_errors"));
                }
                statement->execute(list);
            }
            query(keep ? "COMMIT" : "ROLLBACK");
        } catch (...) {
            // A server that closed the connection (a packet too large) is connected to again.
            if (db_ && mysql_query(db_, "ROLLBACK") != 0) disconnect();
            throw;
        }
    }

    std::uint64_t rejected_rows() const override { return rejected_.size(); }

    void disconnect() override {
        bulk_inserts_.clear();  // their statements before their connection
        if (db_) mysql_close(db_);
        db_ = nullptr;
        tables_.clear();
    }

private:
    void connect() {
        if (db_) return;
        db_ = mysql_init(nullptr);
        if (!db_) throw export_error("MariaDB: out of memory");
        const unsigned int connect_timeout = 5, io_timeout = 30;
        mysql_options(db_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
        mysql_options(db_, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
        mysql_options(db_, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
        mysql_options(db_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        if (!mysql_real_connect(db_, url_.host.c_str(), url_.user.c_str(), password_.c_str(), url_.database.c_str(),
                                url_.port, nullptr, 0)) {
            const std::string why = mysql_error(db_);
            disconnect();
            throw export_error("cannot connect to MariaDB at " + url_.host + ":" + std::to_string(url_.port) + " as " +
                               url_.user + ": " + why);
        }
        query("SET time_zone = '+00:00'");
        // Strict, whatever the server's default: a value that does not fit
        // is refused (and goes to the error table) instead of being changed
        // with a warning, and mariadb_on_duplicate's NULL is refused instead
        // of becoming a 0 in the other row.
        query("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, IF(@@SESSION.sql_mode = '', '', ','), "
              "'STRICT_ALL_TABLES')");
        bulk_ = bulk_allowed_ && speaks_bulk_protocol();
    }

    bool speaks_bulk_protocol() {
        unsigned long capabilities = 0, extended = 0;
        if (mariadb_get_infov(db_, MARIADB_CONNECTION_SERVER_CAPABILITIES, &capabilities) != 0 ||
            mariadb_get_infov(db_, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended) != 0) {
            return false;
        }
        // CLIENT_MYSQL set: a MySQL server, which has no bulk protocol.
        return !(capabilities & CLIENT_MYSQL) && (extended & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));
    }

    void query(const std::string& sql) {
        if (mysql_real_query(db_, sql.data(), sql.size()) != 0) {
            throw_mariadb_error(mysql_errno(db_), mysql_sqlstate(db_),
                                "MariaDB: " + std::string(mysql_error(db_)) + " (in: " + sql.substr(0, 80) + ")");
        }
    }

    static const char* type_name(sql_type t) {
        switch (t) {
            case sql_type::number: return "DOUBLE";
            case sql_type::json: return "JSON";
            case sql_type::bytes: return "LONGBLOB";
            default: return "LONGTEXT";  // TEXT stops at 64 KB: a longer value would fail its batch forever
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
        std::string create = "CREATE TABLE IF NOT EXISTS " + quote_identifier(name, '`') +
                             " (topic_id BIGINT UNSIGNED NOT NULL, ts_us BIGINT UNSIGNED NOT NULL, "
                             "seq INT UNSIGNED NOT NULL, ts DATETIME(6) NOT NULL, topic TEXT NOT NULL, "
                             "client_id TEXT, qos TINYINT, `retain` BOOLEAN";  // MQTT strings: 65,535 bytes at most
        for (const auto& c : t.columns) create += ", " + quote_identifier(c.name, '`') + " " + type_name(c.type);
        create += ", PRIMARY KEY (topic_id, ts_us, seq), KEY by_time (ts)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
        query(create);
        // A table made for an earlier configuration lacks the columns a route gained since.
        std::string list = "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                           "TABLE_NAME = ";
        append_string(list, name);
        query(list);
        std::set<std::string> existing;
        if (MYSQL_RES* result = mysql_store_result(db_)) {
            while (MYSQL_ROW r = mysql_fetch_row(result)) existing.emplace(r[0] ? r[0] : "");
            mysql_free_result(result);
        } else {
            throw export_error("MariaDB: " + std::string(mysql_error(db_)));
        }
        for (const auto& c : t.columns) {
            // Case-insensitive in MariaDB, as column names are.
            const bool has = std::any_of(existing.begin(), existing.end(), [&](const std::string& e) {
                return e.size() == c.name.size() && std::equal(e.begin(), e.end(), c.name.begin(), [](char a, char b) {
                           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                       });
            });
            if (has) continue;
            const std::string alter = "ALTER TABLE " + quote_identifier(name, '`') + " ADD COLUMN " +
                                      quote_identifier(c.name, '`') + " " + type_name(c.type);
            if (mysql_real_query(db_, alter.data(), alter.size()) == 0) continue;
            const unsigned code = mysql_errno(db_);
            const std::string why = mysql_error(db_);
            if (code == 1060) continue;  // ER_DUP_FIELDNAME: added meanwhile by someone else
            // The connection, the server going away, a lock: retried. Anything
            // else (no ALTER privilege, too many columns, a row too wide) is
            // the table's answer: its rows go to the error table, saying why.
            const bool transient = (code >= 2000 && code < 3000) || code == 1205 || code == 1213 || code == 1040 ||
                                   code == 1053 || code == 1927;
            if (transient) throw export_error("MariaDB: " + why + " (in: " + alter.substr(0, 80) + ")");
            t.problem = "MariaDB: table " + name + " has no column " + c.name + " and it cannot be added: " + why;
            break;
        }
        return tables_.emplace(name, std::move(t)).first->second;
    }

    void append_string(std::string& sql, std::string_view value) {
        sql += '\'';
        const std::size_t at = sql.size();
        sql.resize(at + value.size() * 2 + 1);
        const auto n = mysql_real_escape_string(db_, sql.data() + at, value.data(), value.size());
        sql.resize(at + n);
        sql += '\'';
    }

    void insert(const std::string& name, const std::vector<sql_column>& columns,
                const std::vector<const export_row*>& rows) {
        const bool errors = name.ends_with("_errors");
        std::string head = "INSERT INTO " + quote_identifier(name, '`') +
                           " (topic_id, ts_us, seq, ts, topic, client_id, qos, `retain`";
        for (const auto& c : columns) head += ", " + quote_identifier(c.name, '`');
        head += ") VALUES ";
        const std::string tail = mariadb_on_duplicate;
        std::string sql = head;
        bool first = true;
        for (const auto* row : rows) {
            if (!first) sql += ',';
            first = false;
            sql += '(';
            sql += std::to_string(row->key.topic_id) + "," + std::to_string(row->key.ts_us) + "," +
                   std::to_string(row->key.seq) + ",";
            auto ts = iso_time(row->key.ts_us);  // 2026-11-30T01:02:03.456789Z -> DATETIME(6)
            ts[10] = ' ';
            ts.pop_back();
            sql += "'" + ts + "',";
            append_string(sql, row->topic);
            sql += ',';
            append_string(sql, row->client_id);
            sql += "," + std::to_string(row->qos) + "," + (row->retain ? "1" : "0");
            if (errors) {
                sql += ',';
                append_string(sql, row->error);
                sql += ',';
                append_string(sql, row->payload);
            } else {
                for (const auto& c : columns) {
                    sql += ',';
                    const auto value = column_value(*row, c);
                    if (!value) sql += "NULL";
                    else if (c.type == sql_type::number) sql += *value;  // a JSON number: valid SQL as it is
                    else append_string(sql, *value);
                }
            }
            sql += ')';
            if (sql.size() > max_statement_bytes) {
                query(sql + tail);
                sql = head;
                first = true;
            }
        }
        if (!first) query(sql + tail);
    }

    db_url url_;
    std::string password_;
    MYSQL* db_ = nullptr;
    std::map<std::string, table> tables_;  // created (and checked) in this connection
    std::deque<export_row> rejected_;  // of the last write: copies of rows whose table cannot take them, as misfits
    bool bulk_allowed_;  // exporter_option bulk (on by default)
    bool bulk_ = false;  // allowed, and the server speaks MariaDB's bulk protocol
    std::map<std::string, std::unique_ptr<mariadb_bulk_insert>> bulk_inserts_;  // per table, in this connection
};

}  // namespace

std::unique_ptr<sink> make_mariadb_sink(const config::exporter_config& cfg, const std::string& password,
                                        std::string& error) {
    auto url = parse_db_url(cfg.url, 3306);
    if (!url || (url->scheme != "mysql" && url->scheme != "mariadb") || url->database.empty()) {
        error = cfg.defined_at + ": exporter " + cfg.name + ": exporter_url must be mysql://USER@HOST:PORT/DATABASE";
        return nullptr;
    }
    bool bulk = true;
    for (const auto& [key, value] : cfg.options) {
        if (key == "bulk" && (value == "on" || value == "off")) {
            bulk = value == "on";
        } else {
            error = cfg.defined_at + ": exporter " + cfg.name + ": unknown mariadb option '" + key + " " + value +
                    "' (bulk on|off)";
            return nullptr;
        }
    }
    return std::make_unique<mariadb_sink>(std::move(*url), password, bulk);
}

}  // namespace strata::exporters
