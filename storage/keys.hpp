// Key layout of the store (RocksDB column families), big-endian throughout so
// that byte order is numeric order:
//
//   messages   topic_id u64 | ts_us u64 | seq u32          -> message value (record.hpp)
//   topics     'n' name                                   -> topic_id u64
//              'i' topic_id u64                           -> name
//              's' topic_id u64                           -> topic_stats
//   sessions   's' client_id                              -> session record
//              'd' client_id 0x00 delivery_seq u64        -> delivery record (queued / in flight)
//              'q' client_id 0x00 packet_id u16           -> inbound QoS 2 packet id awaiting PUBREL
//   retained   topic                                      -> retain order u64 | message value
//   cursors    exporter name                              -> log_seq u64 (the last one exported)
//   log        log_seq u64                                -> message key (the export log: commit order)
//
// Client identifiers are MQTT strings, which cannot contain U+0000, so 0x00
// ends them unambiguously.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata::storage {

inline constexpr std::size_t message_key_size = 20;

struct message_key {
    std::uint64_t topic_id = 0;
    std::uint64_t ts_us = 0;  // arrival time, microseconds since the Unix epoch
    std::uint32_t seq = 0;    // tells apart messages of one topic in one microsecond
    bool operator==(const message_key&) const = default;
    auto operator<=>(const message_key&) const = default;
};

void put_u16(std::string& out, std::uint16_t v);
void put_u32(std::string& out, std::uint32_t v);
void put_u64(std::string& out, std::uint64_t v);
std::uint16_t get_u16(const char* p);
std::uint32_t get_u32(const char* p);
std::uint64_t get_u64(const char* p);

std::string encode_message_key(const message_key& k);
// Same, into a caller's 20-byte buffer (no allocation on the publish path).
void encode_message_key(const message_key& k, char* out);
bool decode_message_key(std::string_view bytes, message_key& out);
// The 8-byte prefix shared by every message of a topic.
std::string topic_prefix(std::uint64_t topic_id);
// First key at or after `ts_us` for the topic.
std::string message_key_at(std::uint64_t topic_id, std::uint64_t ts_us);

// topics column family
std::string topic_name_key(std::string_view name);
std::string topic_id_key(std::uint64_t topic_id);
std::string topic_stats_key(std::uint64_t topic_id);

// sessions column family
std::string session_key(std::string_view client_id);
std::string delivery_key(std::string_view client_id, std::uint64_t delivery_seq);
std::string delivery_prefix(std::string_view client_id);     // every delivery of the client
std::string inbound_key(std::string_view client_id, std::uint16_t packet_id);
std::string inbound_prefix(std::string_view client_id);
// The end of a prefix range: the prefix with its last byte incremented.
std::string prefix_end(std::string prefix);

}  // namespace strata::storage
