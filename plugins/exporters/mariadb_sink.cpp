// MariaDB and MySQL (libmariadb). Tables as sql_mapping.hpp describes, created
// if missing; each batch is one transaction of INSERTs with ON DUPLICATE KEY
// UPDATE as a no-op on the primary key (topic_id, ts_us, seq), so a replayed
// batch changes nothing. A MariaDB server gets them as bulk executions of a
// prepared statement (mariadb_bulk.hpp); a server without the bulk protocol
// (MySQL) as multi-row INSERT text, a few thousand rows per statement.
// Connection, read and write timeouts keep a vanished server from holding the
// exporter's thread for long; the runner retries.
#include <mysql.h>

#include <map>

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

    void write(std::span<const export_row> rows) override {
        connect();
        query("START TRANSACTION");
        try {
            // Rows of one table go in one statement, in log order per table.
            std::map<std::string, std::vector<const export_row*>> by_table;
            for (const auto& r : rows) by_table[destination_of(r)].push_back(&r);
            for (const auto& [name, list] : by_table) {
                const auto& columns = columns_of(name, *list.front()->route);
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
            query("COMMIT");
        } catch (...) {
            if (db_) mysql_query(db_, "ROLLBACK");
            throw;
        }
    }

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
            throw export_error("MariaDB: " + std::string(mysql_error(db_)) + " (in: " + sql.substr(0, 80) + ")");
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

    const std::vector<sql_column>& columns_of(const std::string& name, const config::export_route_config& route) {
        const auto it = tables_.find(name);
        if (it != tables_.end()) return it->second;
        auto columns = table_columns(name, route);
        std::string create = "CREATE TABLE IF NOT EXISTS " + quote_identifier(name, '`') +
                             " (topic_id BIGINT UNSIGNED NOT NULL, ts_us BIGINT UNSIGNED NOT NULL, "
                             "seq INT UNSIGNED NOT NULL, ts DATETIME(6) NOT NULL, topic TEXT NOT NULL, "
                             "client_id TEXT, qos TINYINT, `retain` BOOLEAN";  // MQTT strings: 65,535 bytes at most
        for (const auto& c : columns) create += ", " + quote_identifier(c.name, '`') + " " + type_name(c.type);
        create += ", PRIMARY KEY (topic_id, ts_us, seq), KEY by_time (ts)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
        query(create);
        return tables_.emplace(name, std::move(columns)).first->second;
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
        const std::string tail = " ON DUPLICATE KEY UPDATE topic_id = topic_id";
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
    std::map<std::string, std::vector<sql_column>> tables_;  // created in this connection
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
