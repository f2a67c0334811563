#include "codec/packets.hpp"

namespace strata::codec {

std::string_view to_string(packet_type t) {
    switch (t) {
        case packet_type::connect: return "CONNECT";
        case packet_type::connack: return "CONNACK";
        case packet_type::publish: return "PUBLISH";
        case packet_type::puback: return "PUBACK";
        case packet_type::pubrec: return "PUBREC";
        case packet_type::pubrel: return "PUBREL";
        case packet_type::pubcomp: return "PUBCOMP";
        case packet_type::subscribe: return "SUBSCRIBE";
        case packet_type::suback: return "SUBACK";
        case packet_type::unsubscribe: return "UNSUBSCRIBE";
        case packet_type::unsuback: return "UNSUBACK";
        case packet_type::pingreq: return "PINGREQ";
        case packet_type::pingresp: return "PINGRESP";
        case packet_type::disconnect: return "DISCONNECT";
        case packet_type::auth: return "AUTH";
    }
    return "UNKNOWN";
}

frame_status parse_fixed_header(bytes_view bytes, fixed_header& out) {
    if (bytes.empty()) return frame_status::incomplete;
    const std::uint8_t first = bytes[0];
    const std::uint8_t type = first >> 4;
    const std::uint8_t flags = first & 0x0F;
    if (type == 0) return frame_status::malformed;
    const auto t = static_cast<packet_type>(type);
    switch (t) {
        case packet_type::publish: break;
        case packet_type::pubrel:
        case packet_type::subscribe:
        case packet_type::unsubscribe:
            if (flags != 0x02) return frame_status::malformed;
            break;
        default:
            if (flags != 0) return frame_status::malformed;
            break;
    }
    std::uint32_t remaining = 0;
    std::size_t length = 0;
    switch (decode_varint(bytes.subspan(1), remaining, length)) {
        case varint_status::incomplete: return frame_status::incomplete;
        case varint_status::malformed: return frame_status::malformed;
        case varint_status::ok: break;
    }
    out.type = t;
    out.flags = flags;
    out.remaining_length = remaining;
    out.header_length = static_cast<std::uint8_t>(1 + length);
    return frame_status::complete;
}

void write_fixed_header(byte_writer& w, packet_type type, std::uint8_t flags, std::uint32_t body_size) {
    w.u8(static_cast<std::uint8_t>((static_cast<std::uint8_t>(type) << 4) | flags));
    w.varint(body_size);
}

void encode_pingreq(byte_buffer& out) {
    byte_writer w(out);
    write_fixed_header(w, packet_type::pingreq, 0, 0);
}

void encode_pingresp(byte_buffer& out) {
    byte_writer w(out);
    write_fixed_header(w, packet_type::pingresp, 0, 0);
}

}  // namespace strata::codec
