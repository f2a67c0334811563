// JSON documents of the query API: one stored message, one topic, times.
// Keys keep the order they are set in (ordered_json), so documents read well.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "reader.hpp"

namespace strata::http {

// {"topic", "ts", "ts_ms", "qos", "retain", "client_id", "payload",
//  "encoding": "utf-8" | "base64", "properties": {...}}
nlohmann::ordered_json message_json(const storage::stored_message& m);

// {"topic", "count", "first_ts", "first_ts_ms", "last_ts", "last_ts_ms"}
nlohmann::ordered_json topic_json(const storage::topic_entry& t);

// Sets `<name>` (RFC 3339, µs) and `<name>_ms` (epoch milliseconds).
void put_time(nlohmann::ordered_json& doc, std::string_view name, std::uint64_t us);

}  // namespace strata::http
