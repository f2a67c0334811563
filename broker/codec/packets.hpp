// MQTT control packets as plain structs, for both protocol versions.
// Decoded strings and payloads are views into the received bytes; the caller
// keeps those bytes alive while it uses the packet, and copies what it keeps.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "codec/byte_reader.hpp"
#include "codec/byte_writer.hpp"
#include "codec/properties.hpp"
#include "codec/reason_code.hpp"

namespace strata::codec {

enum class packet_type : std::uint8_t {
    connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp,
    subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth,
};

std::string_view to_string(packet_type t);

// Protocol level byte of CONNECT.
enum class protocol_version : std::uint8_t { v31 = 3, v311 = 4, v5 = 5 };

// ---- Fixed header ----------------------------------------------------------

struct fixed_header {
    packet_type type{};
    std::uint8_t flags = 0;
    std::uint32_t remaining_length = 0;
    std::uint8_t header_length = 0;  // 1 + bytes of the remaining length
    std::uint32_t total_length() const { return header_length + remaining_length; }
};

enum class frame_status { complete, incomplete, malformed };

// Parses the fixed header at the front of `bytes`. `complete` means the
// header is readable (the body may still be arriving); `malformed` covers a
// bad remaining length, an unknown packet type and reserved flag bits that are
// wrong for the type [MQTT-2.1.3-1].
frame_status parse_fixed_header(bytes_view bytes, fixed_header& out);

// ---- Packets -----------------------------------------------------------------

struct will_fields {
    std::uint8_t qos = 0;
    bool retain = false;
    std::string_view topic;
    bytes_view payload;
    properties props;  // will properties (v5)
};

struct connect_packet {
    std::string_view protocol_name;
    protocol_version version = protocol_version::v311;
    bool bridge = false;  // top bit of the protocol level: a Mosquitto-style bridge (try_private)
    bool clean_start = false;
    std::uint16_t keep_alive = 0;
    std::string_view client_id;
    bool has_will = false;
    will_fields will;
    bool has_username = false;
    std::string_view username;
    bool has_password = false;
    bytes_view password;
    properties props;
};

struct connack_packet {
    bool session_present = false;
    std::uint8_t reason = 0;  // v5 reason code or v3 return code
    properties props;
};

struct publish_packet {
    std::uint8_t qos = 0;
    bool dup = false;
    bool retain = false;
    std::string_view topic;
    std::uint16_t packet_id = 0;
    properties props;
    bytes_view payload;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout.
struct ack_packet {
    packet_type type = packet_type::puback;
    std::uint16_t packet_id = 0;
    reason_code reason = reason_code::success;
    properties props;
};

struct subscription_request {
    std::string_view filter;
    std::uint8_t qos = 0;
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
};

struct subscribe_packet {
    std::uint16_t packet_id = 0;
    properties props;
    std::vector<subscription_request> subscriptions;
};

// SUBACK and UNSUBACK: one reason code per requested filter (UNSUBACK has
// none in 3.1.1).
struct subscribe_ack_packet {
    packet_type type = packet_type::suback;
    std::uint16_t packet_id = 0;
    properties props;
    std::vector<std::uint8_t> reasons;
};

struct unsubscribe_packet {
    std::uint16_t packet_id = 0;
    properties props;
    std::vector<std::string_view> filters;
};

struct disconnect_packet {
    reason_code reason = reason_code::success;
    properties props;
};

struct auth_packet {
    reason_code reason = reason_code::success;
    properties props;
};

// ---- Decoding ----------------------------------------------------------------
// Each decoder takes the packet body (after the fixed header) and returns
// success or the reason code that the spec assigns to the failure
// (malformed_packet / protocol_error / topic_name_invalid ...). The CONNECT
// decoder reports the version it understood before failing so that the caller
// can answer in the client's protocol.

reason_code decode_connect(bytes_view body, connect_packet& out);
reason_code decode_connack(bytes_view body, protocol_version v, connack_packet& out);
reason_code decode_publish(bytes_view body, std::uint8_t flags, protocol_version v, publish_packet& out);
reason_code decode_ack(bytes_view body, packet_type type, protocol_version v, ack_packet& out);
reason_code decode_subscribe(bytes_view body, protocol_version v, subscribe_packet& out);
reason_code decode_subscribe_ack(bytes_view body, packet_type type, protocol_version v, subscribe_ack_packet& out);
reason_code decode_unsubscribe(bytes_view body, protocol_version v, unsubscribe_packet& out);
reason_code decode_disconnect(bytes_view body, protocol_version v, disconnect_packet& out);
reason_code decode_auth(bytes_view body, auth_packet& out);

// ---- Encoding ----------------------------------------------------------------
// Each encoder appends one complete packet to `out`.

void encode_connect(byte_buffer& out, const connect_packet& p);
void encode_connack(byte_buffer& out, protocol_version v, const connack_packet& p);
void encode_publish(byte_buffer& out, protocol_version v, const publish_packet& p);
void encode_ack(byte_buffer& out, protocol_version v, const ack_packet& p);
void encode_subscribe(byte_buffer& out, protocol_version v, const subscribe_packet& p);
void encode_subscribe_ack(byte_buffer& out, protocol_version v, const subscribe_ack_packet& p);
void encode_unsubscribe(byte_buffer& out, protocol_version v, const unsubscribe_packet& p);
void encode_pingreq(byte_buffer& out);
void encode_pingresp(byte_buffer& out);
void encode_disconnect(byte_buffer& out, protocol_version v, const disconnect_packet& p);
void encode_auth(byte_buffer& out, const auth_packet& p);

// Size of a PUBLISH packet on the wire, for maximum-packet-size checks.
std::uint32_t publish_packet_size(protocol_version v, const publish_packet& p);

// Writes the fixed header for a packet whose body is `body_size` bytes.
void write_fixed_header(byte_writer& w, packet_type type, std::uint8_t flags, std::uint32_t body_size);

}  // namespace strata::codec
