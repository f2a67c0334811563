// PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4 to 3.7).
#include "codec/packets.hpp"

namespace strata::codec {
namespace {

property_context context_of(packet_type t) {
    switch (t) {
        case packet_type::pubrec: return property_context::pubrec;
        case packet_type::pubrel: return property_context::pubrel;
        case packet_type::pubcomp: return property_context::pubcomp;
        default: return property_context::puback;
    }
}

// Reason codes the spec lists for each acknowledgement.
bool allowed_reason(packet_type t, std::uint8_t rc) {
    if (t == packet_type::pubrel || t == packet_type::pubcomp) return rc == 0x00 || rc == 0x92;
    switch (rc) {
        case 0x00: case 0x10: case 0x80: case 0x83: case 0x87:
        case 0x90: case 0x91: case 0x97: case 0x99: return true;
        default: return false;
    }
}

std::uint8_t fixed_flags(packet_type t) { return t == packet_type::pubrel ? 0x02 : 0x00; }

}  // namespace

reason_code decode_ack(bytes_view body, packet_type type, protocol_version v, ack_packet& out) {
    byte_reader r(body);
    out.type = type;
    out.reason = reason_code::success;
    out.props.clear();
    if (!r.u16(out.packet_id)) return r.error();
    if (out.packet_id == 0) return reason_code::protocol_error;
    if (v != protocol_version::v5) return r.at_end() ? reason_code::success : reason_code::malformed_packet;
    if (r.at_end()) return reason_code::success;
    std::uint8_t rc = 0;
    if (!r.u8(rc)) return r.error();
    if (!allowed_reason(type, rc)) return reason_code::protocol_error;
    out.reason = static_cast<reason_code>(rc);
    if (r.at_end()) return reason_code::success;
    if (!read_properties(r, context_of(type), out.props)) return r.error();
    return r.at_end() ? reason_code::success : reason_code::malformed_packet;
}

void encode_ack(byte_buffer& out, protocol_version v, const ack_packet& p) {
    byte_writer w(out);
    const bool v5 = v == protocol_version::v5;
    const std::uint32_t props = v5 ? properties_size(p.props) : 0;
    // v5 lets the reason code and the properties be omitted when they say nothing [MQTT-3.4.2.1].
    const bool with_props = v5 && props > 0;
    const bool with_reason = v5 && (with_props || p.reason != reason_code::success);
    std::uint32_t size = 2;
    if (with_reason) size += 1;
    if (with_props) size += varint_size(props) + props;
    write_fixed_header(w, p.type, fixed_flags(p.type), size);
    w.u16(p.packet_id);
    if (with_reason) w.u8(static_cast<std::uint8_t>(p.reason));
    if (with_props) write_properties(w, p.props);
}

}  // namespace strata::codec
