// CONNECT and CONNACK (sections 3.1 and 3.2).
#include "codec/packets.hpp"

namespace strata::codec {
namespace {

constexpr std::string_view name_v31 = "MQIsdp";
constexpr std::string_view name_mqtt = "MQTT";

bool is_v5(protocol_version v) { return v == protocol_version::v5; }

}  // namespace

reason_code decode_connect(bytes_view body, connect_packet& out) {
    byte_reader r(body);
    out.props.clear();
    out.will.props.clear();
    std::uint8_t level = 0;
    std::uint8_t flags = 0;
    if (!r.utf8(out.protocol_name) || !r.u8(level)) return r.error();
    // Mosquitto bridges set the top bit of the level; the level is the rest.
    const std::uint8_t plain_level = level & 0x7F;
    out.bridge = level & 0x80;
    if (out.protocol_name == name_v31) {
        if (plain_level != 3) return reason_code::unsupported_protocol_version;
        out.version = protocol_version::v31;
    } else if (out.protocol_name == name_mqtt) {
        if (plain_level != 4 && plain_level != 5) return reason_code::unsupported_protocol_version;
        out.version = static_cast<protocol_version>(plain_level);
    } else {
        return reason_code::protocol_error;  // not MQTT at all: close without CONNACK
    }
    if (!r.u8(flags) || !r.u16(out.keep_alive)) return r.error();
    if (flags & 0x01) return reason_code::malformed_packet;  // [MQTT-3.1.2-3]
    out.clean_start = flags & 0x02;
    out.has_will = flags & 0x04;
    out.will.qos = (flags >> 3) & 0x03;
    out.will.retain = flags & 0x20;
    out.has_password = flags & 0x40;
    out.has_username = flags & 0x80;
    if (out.will.qos == 3) return reason_code::malformed_packet;                           // [MQTT-3.1.2-12]
    if (!out.has_will && (out.will.qos != 0 || out.will.retain)) return reason_code::malformed_packet;  // [MQTT-3.1.2-11]
    if (!is_v5(out.version) && out.has_password && !out.has_username) return reason_code::malformed_packet;  // [MQTT-3.1.2-22]

    if (is_v5(out.version)) {
        if (!read_properties(r, property_context::connect, out.props)) return r.error();
        if (out.props.authentication_data && !out.props.authentication_method) return reason_code::protocol_error;
    }
    if (!r.utf8(out.client_id)) return r.error();
    if (out.has_will) {
        if (is_v5(out.version) && !read_properties(r, property_context::will, out.will.props)) return r.error();
        if (!r.utf8(out.will.topic) || !r.binary(out.will.payload)) return r.error();
    } else {
        out.will.topic = {};
        out.will.payload = {};
    }
    out.username = {};
    out.password = {};
    if (out.has_username && !r.utf8(out.username)) return r.error();
    if (out.has_password && !r.binary(out.password)) return r.error();
    if (!r.at_end()) return reason_code::malformed_packet;
    return reason_code::success;
}

void encode_connect(byte_buffer& out, const connect_packet& p) {
    const bool v5 = is_v5(p.version);
    const std::string_view name = p.version == protocol_version::v31 ? name_v31 : name_mqtt;
    std::uint32_t size = 2 + static_cast<std::uint32_t>(name.size()) + 1 + 1 + 2;
    if (v5) size += properties_block_size(p.props);
    size += 2 + static_cast<std::uint32_t>(p.client_id.size());
    if (p.has_will) {
        if (v5) size += properties_block_size(p.will.props);
        size += 2 + static_cast<std::uint32_t>(p.will.topic.size()) + 2 + static_cast<std::uint32_t>(p.will.payload.size());
    }
    if (p.has_username) size += 2 + static_cast<std::uint32_t>(p.username.size());
    if (p.has_password) size += 2 + static_cast<std::uint32_t>(p.password.size());

    byte_writer w(out);
    write_fixed_header(w, packet_type::connect, 0, size);
    w.string(name);
    w.u8(static_cast<std::uint8_t>(static_cast<std::uint8_t>(p.version) | (p.bridge ? 0x80 : 0)));
    std::uint8_t flags = 0;
    if (p.clean_start) flags |= 0x02;
    if (p.has_will) flags |= static_cast<std::uint8_t>(0x04 | (p.will.qos << 3) | (p.will.retain ? 0x20 : 0));
    if (p.has_password) flags |= 0x40;
    if (p.has_username) flags |= 0x80;
    w.u8(flags);
    w.u16(p.keep_alive);
    if (v5) write_properties(w, p.props);
    w.string(p.client_id);
    if (p.has_will) {
        if (v5) write_properties(w, p.will.props);
        w.string(p.will.topic);
        w.u16(static_cast<std::uint16_t>(p.will.payload.size()));
        w.raw(p.will.payload);
    }
    if (p.has_username) w.string(p.username);
    if (p.has_password) {
        w.u16(static_cast<std::uint16_t>(p.password.size()));
        w.raw(p.password);
    }
}

reason_code decode_connack(bytes_view body, protocol_version v, connack_packet& out) {
    byte_reader r(body);
    std::uint8_t flags = 0;
    if (!r.u8(flags) || !r.u8(out.reason)) return r.error();
    if (flags & 0xFE) return reason_code::malformed_packet;  // [MQTT-3.2.2-1]
    out.session_present = flags & 0x01;
    out.props.clear();
    if (is_v5(v) && !read_properties(r, property_context::connack, out.props)) return r.error();
    if (!r.at_end()) return reason_code::malformed_packet;
    return reason_code::success;
}

void encode_connack(byte_buffer& out, protocol_version v, const connack_packet& p) {
    const std::uint32_t size = 2 + (is_v5(v) ? properties_block_size(p.props) : 0);
    byte_writer w(out);
    write_fixed_header(w, packet_type::connack, 0, size);
    // MQTT 3.1 has no session present flag: the byte is reserved, 0.
    w.u8(p.session_present && v != protocol_version::v31 ? 1 : 0);
    w.u8(p.reason);
    if (is_v5(v)) write_properties(w, p.props);
}

}  // namespace strata::codec
