// The pure parts of the query API, shared by the HTTP API, `strata query`
// and the unit tests: times (RFC 3339 or epoch milliseconds), steps of a
// series, base64, and the pagination cursor of message queries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "keys.hpp"

namespace strata::storage {

// "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.123456+01:00", "2026-11-24"
// (midnight UTC) or epoch milliseconds ("1795514400000"). Returns
// microseconds since the Unix epoch; nullopt with `error` saying why.
// Fractions beyond microseconds are truncated.
std::optional<std::uint64_t> parse_time(std::string_view text, std::string& error);

// RFC 3339 in UTC with microseconds: "2026-11-24T10:00:00.123456Z".
std::string format_time(std::uint64_t us);

// A bucket width of a series: a positive integer and a unit, one of ms, s,
// m (minutes), min, h, d, w ("30s", "1m", "5m", "1h", "1d"), up to 3650
// days. Returns microseconds; nullopt with `error` saying why.
std::optional<std::uint64_t> parse_step(std::string_view text, std::string& error);

// RFC 4648 base64: standard alphabet with padding, or the URL-safe alphabet
// without padding.
std::string base64_encode(std::string_view bytes, bool url_safe = false);
// Decodes the URL-safe alphabet without padding (what cursors use); nullopt
// on any other character or an impossible length.
std::optional<std::string> base64url_decode(std::string_view text);

// Where a page of merged messages ended. Messages of several topics are
// merged in (ts_us, topic_id, seq) order, which is total (seq tells apart the
// messages of one topic in one microsecond), so "after this position" names
// exactly the messages not yet returned, whatever timestamps are equal.
struct position {
    std::uint64_t ts_us = 0;
    std::uint64_t topic_id = 0;
    std::uint32_t seq = 0;
    auto operator<=>(const position&) const = default;
};

inline position position_of(const message_key& k) { return {k.ts_us, k.topic_id, k.seq}; }

// Opaque to clients: base64url of a version byte and the position.
std::string encode_cursor(const position& p);
std::optional<position> decode_cursor(std::string_view text);

// The first key of topic `topic_id` that comes after `after` in merge order;
// nullopt when no key of the topic can.
std::optional<message_key> resume_key(std::uint64_t topic_id, const position& after);

}  // namespace strata::storage
