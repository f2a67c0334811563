// Values of the store's column families (see keys.hpp for the keys). Each
// starts with a format byte so that later releases can read old stores.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keys.hpp"

namespace strata::storage {

// messages: one PUBLISH as accepted by the broker (the topic is in the key).
struct message_record {
    std::uint8_t qos = 0;
    bool retain = false;
    bool has_expiry = false;
    std::uint32_t expiry_interval = 0;  // seconds, from arrival
    std::string_view client_id;         // publisher
    std::string_view properties;        // forwarded MQTT 5 properties, encoded (no length prefix)
    std::string_view payload;
    // Retained messages also keep who published them, as the ACLs know a
    // client (check_retain_source). Written only when has_source is set (a
    // second format); records without it decode with has_source false.
    bool has_source = false;
    bool has_username = false;
    std::string_view username;
    std::uint16_t listener = 0;
};

void encode_message(std::string& out, const message_record& m);
// Views point into `bytes`.
bool decode_message(std::string_view bytes, message_record& out);

// topics 's': counters of one topic.
struct topic_stats {
    std::uint64_t count = 0;
    std::uint64_t first_us = 0;
    std::uint64_t last_us = 0;
};
std::string encode_stats(const topic_stats& s);
bool decode_stats(std::string_view bytes, topic_stats& out);

// sessions 's': a persistent session.
struct stored_subscription {
    std::string filter;
    std::uint8_t options = 0;  // qos | no_local << 2 | retain_as_published << 3 | retain_handling << 4
    std::uint32_t identifier = 0;
};

struct session_record {
    std::uint8_t protocol_version = 4;
    std::uint32_t expiry_interval = 0;   // seconds; 0xFFFFFFFF = never
    std::uint64_t disconnected_us = 0;   // wall clock of the last disconnect; 0 = connected when written
    std::vector<stored_subscription> subscriptions;
    // Added later, at the end of the record (older records stop before them):
    // who the client was, so that ACLs apply to deliveries after a restart.
    bool has_username = false;
    std::string username;
    std::uint16_t listener = 0;  // index of the listener it last connected through
    // Added later still: the session's incarnation (session::incarnation).
    // Its delivery records carry it in their sequence's top bits; records of
    // another incarnation are an ended session's. 0 in older records.
    std::uint32_t incarnation = 0;
};
std::string encode_session(const session_record& s);
bool decode_session(std::string_view bytes, session_record& out);

// sessions 'd': a message queued for, or in flight to, a session.
enum class delivery_state : std::uint8_t { queued = 0, in_flight = 1, released = 2 };

struct delivery_record {
    delivery_state state = delivery_state::queued;
    std::uint16_t packet_id = 0;
    std::uint8_t qos = 0;
    bool retain = false;
    std::vector<std::uint32_t> subscription_ids;
    message_key message;  // in the messages column family (unused when released)
};
std::string encode_delivery(const delivery_record& d);
bool decode_delivery(std::string_view bytes, delivery_record& out);

// retained: the newest retained message of a topic.
struct retained_record {
    std::uint64_t order = 0;   // broker-wide order of retained updates
    std::uint64_t ts_us = 0;
    message_record message;
};
void encode_retained(std::string& out, const retained_record& r);
bool decode_retained(std::string_view bytes, retained_record& out);

}  // namespace strata::storage
