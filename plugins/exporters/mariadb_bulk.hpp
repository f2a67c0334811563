// One table's INSERT as a prepared statement executed with arrays of values:
// MariaDB's bulk protocol (COM_STMT_BULK_EXECUTE, MariaDB 10.2 and later).
// The server runs the prepared statement for every row without parsing SQL
// text, and numbers and times travel in binary, so a batch costs the server
// far less than the same rows as multi-row INSERT text (bench/RESULTS.md).
// MySQL servers lack the protocol: mariadb_sink falls back to INSERT text.
#pragma once

#include <mysql.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sql_mapping.hpp"

namespace strata::exporters {

// Throws the error of a failed MariaDB call: a data_error when the server
// refused the rows themselves (SQLSTATE class 22: a value out of range, too
// long or invalid for its type; 23: a CHECK, NOT NULL, UNIQUE or foreign key;
// 45: a trigger's SIGNAL; a row over max_allowed_packet), else an
// export_error (the connection, the server, a lock: retried).
[[noreturn]] void throw_mariadb_error(unsigned code, const char* sqlstate, const std::string& message);

// The end of every INSERT: a row whose message key (topic_id, ts_us, seq) is
// there already is left as it is (a replayed batch). ON DUPLICATE KEY UPDATE
// fires for any unique key, and a no-op there would drop, without a word, a
// row that a unique index of the user's refuses: for such a row the update
// sets the NOT NULL topic_id to NULL, which strict mode (set by the sink on
// every connection) refuses (1048), and throw_mariadb_error says what happened.
constexpr const char* mariadb_on_duplicate =
    " ON DUPLICATE KEY UPDATE topic_id = IF(topic_id = VALUES(topic_id) AND ts_us = VALUES(ts_us) AND "
    "seq = VALUES(seq), topic_id, NULL)";

class mariadb_bulk_insert {
public:
    // Prepares `INSERT INTO table (fixed columns, columns...) VALUES (?, ...)
    // ON DUPLICATE KEY UPDATE ...` (mariadb_on_duplicate). Throws export_error.
    mariadb_bulk_insert(MYSQL* db, const std::string& quoted_table, std::vector<sql_column> columns, bool errors_table);
    ~mariadb_bulk_insert();
    mariadb_bulk_insert(const mariadb_bulk_insert&) = delete;
    mariadb_bulk_insert& operator=(const mariadb_bulk_insert&) = delete;

    // Inserts the rows (a duplicate key changes nothing). Throws export_error.
    void execute(std::span<const export_row* const> rows);

private:
    // The values of one text-like column, row by row. Text already held by a
    // row is pointed to; serialised JSON goes to `serialised` first.
    struct text_column {
        std::vector<const char*> data;
        std::vector<unsigned long> length;
        std::vector<char> indicator;
        std::vector<std::size_t> serialised_at;  // offsets, for rows whose data is in `serialised`
        std::string serialised;
    };
    struct number_column {
        std::vector<double> value;
        std::vector<char> indicator;
    };

    static constexpr std::size_t max_bytes = 4 << 20;

    void fill(std::span<const export_row* const> rows);
    std::size_t row_bytes(std::size_t i) const;  // about what row i adds to a request
    void bind(std::size_t first, std::size_t count);

    MYSQL_STMT* stmt_ = nullptr;
    std::vector<sql_column> columns_;
    bool errors_table_;
    // Reused between executions, so that a steady stream allocates nothing new.
    std::vector<std::uint64_t> topic_id_, ts_us_;
    std::vector<std::uint32_t> seq_;
    std::vector<MYSQL_TIME> ts_;
    std::vector<MYSQL_TIME*> ts_at_;  // the protocol takes times, like text, as an array of pointers
    std::vector<signed char> qos_, retain_;
    text_column topic_, client_id_;
    std::vector<text_column> texts_;      // per route column (unused for numbers)
    std::vector<number_column> numbers_;  // per route column (unused for text)
    std::vector<MYSQL_BIND> binds_;
};

}  // namespace strata::exporters
