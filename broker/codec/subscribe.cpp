// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (sections 3.8 to 3.11).
#include "codec/packets.hpp"

namespace strata::codec {
namespace {

bool is_v5(protocol_version v) { return v == protocol_version::v5; }

}  // namespace

reason_code decode_subscribe(bytes_view body, protocol_version v, subscribe_packet& out) {
    byte_reader r(body);
    out.subscriptions.clear();
    out.props.clear();
    if (!r.u16(out.packet_id)) return r.error();
    if (out.packet_id == 0) return reason_code::protocol_error;
    if (is_v5(v) && !read_properties(r, property_context::subscribe, out.props)) return r.error();
    while (!r.at_end()) {
        subscription_request s;
        std::uint8_t options = 0;
        if (!r.utf8(s.filter) || !r.u8(options)) return r.error();
        s.qos = options & 0x03;
        if (s.qos == 3) return reason_code::malformed_packet;  // [MQTT-3.8.3-4]
        if (is_v5(v)) {
            if (options & 0xC0) return reason_code::malformed_packet;  // [MQTT-3.8.3-5]
            s.no_local = options & 0x04;
            s.retain_as_published = options & 0x08;
            s.retain_handling = (options >> 4) & 0x03;
            if (s.retain_handling == 3) return reason_code::protocol_error;
        } else if (options & 0xFC) {
            return reason_code::malformed_packet;  // [MQTT-3-8.3-4] in 3.1.1
        }
        out.subscriptions.push_back(s);
    }
    if (out.subscriptions.empty()) return reason_code::protocol_error;  // [MQTT-3.8.3-2]
    return reason_code::success;
}

void encode_subscribe(byte_buffer& out, protocol_version v, const subscribe_packet& p) {
    std::uint32_t size = 2 + (is_v5(v) ? properties_block_size(p.props) : 0);
    for (const auto& s : p.subscriptions) size += 2 + static_cast<std::uint32_t>(s.filter.size()) + 1;
    byte_writer w(out);
    write_fixed_header(w, packet_type::subscribe, 0x02, size);
    w.u16(p.packet_id);
    if (is_v5(v)) write_properties(w, p.props);
    for (const auto& s : p.subscriptions) {
        w.string(s.filter);
        std::uint8_t options = s.qos;
        if (is_v5(v)) {
            if (s.no_local) options |= 0x04;
            if (s.retain_as_published) options |= 0x08;
            options |= static_cast<std::uint8_t>(s.retain_handling << 4);
        }
        w.u8(options);
    }
}

reason_code decode_subscribe_ack(bytes_view body, packet_type type, protocol_version v, subscribe_ack_packet& out) {
    byte_reader r(body);
    out.type = type;
    out.reasons.clear();
    out.props.clear();
    if (!r.u16(out.packet_id)) return r.error();
    const auto ctx = type == packet_type::suback ? property_context::suback : property_context::unsuback;
    if (is_v5(v) && !read_properties(r, ctx, out.props)) return r.error();
    while (!r.at_end()) {
        std::uint8_t rc = 0;
        r.u8(rc);
        out.reasons.push_back(rc);
    }
    if (type == packet_type::suback && out.reasons.empty()) return reason_code::protocol_error;
    if (type == packet_type::unsuback && !is_v5(v) && !out.reasons.empty()) return reason_code::malformed_packet;
    return reason_code::success;
}

void encode_subscribe_ack(byte_buffer& out, protocol_version v, const subscribe_ack_packet& p) {
    const bool v3_unsuback = p.type == packet_type::unsuback && !is_v5(v);
    std::uint32_t size = 2 + (is_v5(v) ? properties_block_size(p.props) : 0);
    if (!v3_unsuback) size += static_cast<std::uint32_t>(p.reasons.size());
    byte_writer w(out);
    write_fixed_header(w, p.type, 0, size);
    w.u16(p.packet_id);
    if (is_v5(v)) write_properties(w, p.props);
    if (!v3_unsuback) w.raw(p.reasons);
}

reason_code decode_unsubscribe(bytes_view body, protocol_version v, unsubscribe_packet& out) {
    byte_reader r(body);
    out.filters.clear();
    out.props.clear();
    if (!r.u16(out.packet_id)) return r.error();
    if (out.packet_id == 0) return reason_code::protocol_error;
    if (is_v5(v) && !read_properties(r, property_context::unsubscribe, out.props)) return r.error();
    while (!r.at_end()) {
        std::string_view f;
        if (!r.utf8(f)) return r.error();
        out.filters.push_back(f);
    }
    if (out.filters.empty()) return reason_code::protocol_error;  // [MQTT-3.10.3-2]
    return reason_code::success;
}

void encode_unsubscribe(byte_buffer& out, protocol_version v, const unsubscribe_packet& p) {
    std::uint32_t size = 2 + (is_v5(v) ? properties_block_size(p.props) : 0);
    for (auto f : p.filters) size += 2 + static_cast<std::uint32_t>(f.size());
    byte_writer w(out);
    write_fixed_header(w, packet_type::unsubscribe, 0x02, size);
    w.u16(p.packet_id);
    if (is_v5(v)) write_properties(w, p.props);
    for (auto f : p.filters) w.string(f);
}

}  // namespace strata::codec
