// DISCONNECT and AUTH (sections 3.14 and 3.15).
#include "codec/packets.hpp"

namespace strata::codec {
namespace {

// Reads "reason code, then properties", both optional at the end of the packet.
reason_code decode_reason_and_properties(bytes_view body, property_context ctx, reason_code& reason, properties& props) {
    byte_reader r(body);
    reason = reason_code::success;
    props.clear();
    if (r.at_end()) return reason_code::success;
    std::uint8_t rc = 0;
    r.u8(rc);
    reason = static_cast<reason_code>(rc);
    if (r.at_end()) return reason_code::success;
    if (!read_properties(r, ctx, props)) return r.error();
    return r.at_end() ? reason_code::success : reason_code::malformed_packet;
}

void encode_reason_and_properties(byte_buffer& out, packet_type type, reason_code reason, const properties& props) {
    const std::uint32_t psize = properties_size(props);
    std::uint32_t size = 0;
    if (psize > 0) size = 1 + varint_size(psize) + psize;
    else if (reason != reason_code::success) size = 1;
    byte_writer w(out);
    write_fixed_header(w, type, 0, size);
    if (size == 0) return;
    w.u8(static_cast<std::uint8_t>(reason));
    if (psize > 0) write_properties(w, props);
}

}  // namespace

reason_code decode_disconnect(bytes_view body, protocol_version v, disconnect_packet& out) {
    if (v != protocol_version::v5) {
        out.reason = reason_code::success;
        out.props.clear();
        return body.empty() ? reason_code::success : reason_code::malformed_packet;
    }
    return decode_reason_and_properties(body, property_context::disconnect, out.reason, out.props);
}

void encode_disconnect(byte_buffer& out, protocol_version v, const disconnect_packet& p) {
    if (v != protocol_version::v5) {
        byte_writer w(out);
        write_fixed_header(w, packet_type::disconnect, 0, 0);
        return;
    }
    encode_reason_and_properties(out, packet_type::disconnect, p.reason, p.props);
}

reason_code decode_auth(bytes_view body, auth_packet& out) {
    const auto rc = decode_reason_and_properties(body, property_context::auth, out.reason, out.props);
    if (rc != reason_code::success) return rc;
    switch (out.reason) {
        case reason_code::success:
        case reason_code::continue_authentication:
        case reason_code::re_authenticate: return reason_code::success;
        default: return reason_code::protocol_error;
    }
}

void encode_auth(byte_buffer& out, const auth_packet& p) {
    encode_reason_and_properties(out, packet_type::auth, p.reason, p.props);
}

}  // namespace strata::codec
