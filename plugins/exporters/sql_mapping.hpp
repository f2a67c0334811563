// What the SQL exporters (SQLite, MariaDB, PostgreSQL) have in common: the
// columns of a route's table and the text of each value. One table per route
// target, created if missing:
//
//   topic_id, ts_us, seq          the message's key in the store: the primary key,
//                                 so writing a row twice keeps one
//   ts                            arrival time (each database's timestamp type)
//   topic, client_id, qos, retain metadata
//   <captured levels>             one text column per +name of the route's filter
//   <fields>                      fields=a,b: one column per field (numbers as
//                                 double precision, anything else as text/JSON);
//                                 fields=all: one JSON column `payload`;
//                                 payload=text|bytes: `payload` as text or bytes
//
// and one `<target>_errors` table for payloads that do not fit, with the
// reason and the raw payload (same key, so errors are idempotent too).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "export_row.hpp"

namespace strata::exporters {

enum class sql_type { text, number, json, bytes };

struct sql_column {
    std::string name;
    sql_type type = sql_type::text;
};

// The route-specific columns, after the fixed ones, in order.
std::vector<sql_column> route_columns(const config::export_route_config& route);

// The columns after the fixed ones of table `name` (a destination_of()):
// reason and payload for a TARGET_errors table, else the route's.
std::vector<sql_column> table_columns(std::string_view name, const config::export_route_config& route);

// The value of a route column for a row, without copying what the row holds:
// SQL NULL, a number (a JSON number or boolean), text in the row (a captured
// level, a text field, a raw payload) or a JSON value still to be serialised.
struct sql_cell {
    enum class kind { null, number, text, json } what = kind::null;
    double number = 0;                     // kind::number
    std::string_view text;                 // kind::text: valid as long as the row
    const nlohmann::json* json = nullptr;  // kind::number and kind::json: the value
};
sql_cell column_cell(const export_row& row, const sql_column& column);

// The same as text (nullopt: SQL NULL). JSON values are serialised; numbers
// are given as their JSON text for the database to convert.
std::optional<std::string> column_value(const export_row& row, const sql_column& column);

// `name` quoted for SQL: "name" (standard, SQLite, PostgreSQL) or `name` (MariaDB).
std::string quote_identifier(std::string_view name, char quote = '"');

// Arrival time as ISO 8601 UTC with microseconds, "2026-11-30T01:02:03.456789Z".
std::string iso_time(std::uint64_t ts_us);

}  // namespace strata::exporters
