// PUBLISH (section 3.3).
#include "codec/packets.hpp"

namespace strata::codec {
namespace {

bool has_wildcard(std::string_view topic) { return topic.find_first_of("+#") != std::string_view::npos; }

}  // namespace

reason_code decode_publish(bytes_view body, std::uint8_t flags, protocol_version v, publish_packet& out) {
    out.retain = flags & 0x01;
    out.qos = (flags >> 1) & 0x03;
    out.dup = flags & 0x08;
    if (out.qos == 3) return reason_code::malformed_packet;              // [MQTT-3.3.1-4]
    if (out.qos == 0 && out.dup) return reason_code::malformed_packet;  // [MQTT-3.3.1-2]
    byte_reader r(body);
    if (!r.utf8(out.topic)) return r.error();
    out.packet_id = 0;
    if (out.qos > 0) {
        if (!r.u16(out.packet_id)) return r.error();
        if (out.packet_id == 0) return reason_code::protocol_error;  // [MQTT-2.2.1-3]
    }
    out.props.clear();
    if (v == protocol_version::v5) {
        if (!read_properties(r, property_context::publish, out.props)) return r.error();
        if (out.props.response_topic && (out.props.response_topic->empty() || has_wildcard(*out.props.response_topic)))
            return reason_code::protocol_error;  // [MQTT-3.3.2-14]
    } else if (out.topic.empty()) {
        return reason_code::protocol_error;  // [MQTT-4.7.3-1]
    }
    if (has_wildcard(out.topic)) return reason_code::topic_name_invalid;  // [MQTT-3.3.2-2]
    out.payload = r.rest();
    return reason_code::success;
}

namespace {

std::uint32_t publish_body_size(protocol_version v, const publish_packet& p) {
    return 2 + static_cast<std::uint32_t>(p.topic.size()) + (p.qos > 0 ? 2 : 0) +
           static_cast<std::uint32_t>(p.payload.size()) + (v == protocol_version::v5 ? properties_block_size(p.props) : 0);
}

}  // namespace

std::uint32_t publish_packet_size(protocol_version v, const publish_packet& p) {
    const std::uint32_t body = publish_body_size(v, p);
    return 1 + varint_size(body) + body;
}

void encode_publish(byte_buffer& out, protocol_version v, const publish_packet& p) {
    const std::uint32_t body = publish_body_size(v, p);
    byte_writer w(out);
    const auto flags = static_cast<std::uint8_t>((p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0));
    write_fixed_header(w, packet_type::publish, flags, body);
    w.string(p.topic);
    if (p.qos > 0) w.u16(p.packet_id);
    if (v == protocol_version::v5) write_properties(w, p.props);
    w.raw(p.payload);
}

}  // namespace strata::codec
