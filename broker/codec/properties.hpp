// MQTT 5.0 properties (section 2.2.2): one struct for every packet kind.
// Decoded string and binary values are views into the packet's bytes; when
// encoding, they point at storage owned by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "codec/byte_reader.hpp"
#include "codec/byte_writer.hpp"

namespace strata::codec {

// Where a property block appears; decides which identifiers are allowed.
enum class property_context : std::uint8_t {
    connect, connack, publish, will, puback, pubrec, pubrel, pubcomp,
    subscribe, suback, unsubscribe, unsuback, disconnect, auth,
};

enum class property_id : std::uint8_t {
    payload_format_indicator = 0x01,
    message_expiry_interval = 0x02,
    content_type = 0x03,
    response_topic = 0x08,
    correlation_data = 0x09,
    subscription_identifier = 0x0B,
    session_expiry_interval = 0x11,
    assigned_client_identifier = 0x12,
    server_keep_alive = 0x13,
    authentication_method = 0x15,
    authentication_data = 0x16,
    request_problem_information = 0x17,
    will_delay_interval = 0x18,
    request_response_information = 0x19,
    response_information = 0x1A,
    server_reference = 0x1C,
    reason_string = 0x1F,
    receive_maximum = 0x21,
    topic_alias_maximum = 0x22,
    topic_alias = 0x23,
    maximum_qos = 0x24,
    retain_available = 0x25,
    user_property = 0x26,
    maximum_packet_size = 0x27,
    wildcard_subscription_available = 0x28,
    subscription_identifier_available = 0x29,
    shared_subscription_available = 0x2A,
};

struct user_property {
    std::string_view key;
    std::string_view value;
    bool operator==(const user_property&) const = default;
};

struct properties {
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::uint32_t> message_expiry_interval;
    std::optional<std::string_view> content_type;
    std::optional<std::string_view> response_topic;
    std::optional<std::string_view> correlation_data;
    std::vector<std::uint32_t> subscription_identifiers;
    std::optional<std::uint32_t> session_expiry_interval;
    std::optional<std::string_view> assigned_client_identifier;
    std::optional<std::uint16_t> server_keep_alive;
    std::optional<std::string_view> authentication_method;
    std::optional<std::string_view> authentication_data;
    std::optional<std::uint8_t> request_problem_information;
    std::optional<std::uint32_t> will_delay_interval;
    std::optional<std::uint8_t> request_response_information;
    std::optional<std::string_view> response_information;
    std::optional<std::string_view> server_reference;
    std::optional<std::string_view> reason_string;
    std::optional<std::uint16_t> receive_maximum;
    std::optional<std::uint16_t> topic_alias_maximum;
    std::optional<std::uint16_t> topic_alias;
    std::optional<std::uint8_t> maximum_qos;
    std::optional<std::uint8_t> retain_available;
    std::vector<user_property> user_properties;
    std::optional<std::uint32_t> maximum_packet_size;
    std::optional<std::uint8_t> wildcard_subscription_available;
    std::optional<std::uint8_t> subscription_identifier_available;
    std::optional<std::uint8_t> shared_subscription_available;

    // Resets every field but keeps the vectors' capacity.
    void clear();
    bool operator==(const properties&) const = default;
};

// Reads a property block (length + properties) in the given context. Returns
// false with r.error() set to malformed_packet (unknown or misplaced
// identifier, bad length, bad UTF-8) or protocol_error (duplicate, value out
// of range) as section 2.2.2.2 and the per-property rules require.
bool read_properties(byte_reader& r, property_context ctx, properties& out);

// Size of the encoded properties without the length prefix.
std::uint32_t properties_size(const properties& p);

// Size of the whole property block: length prefix plus properties.
std::uint32_t properties_block_size(const properties& p);

// Writes the length prefix and the properties.
void write_properties(byte_writer& w, const properties& p);

}  // namespace strata::codec
