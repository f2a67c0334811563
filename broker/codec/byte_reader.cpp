#include "codec/byte_reader.hpp"

namespace strata::codec {

varint_status decode_varint(bytes_view in, std::uint32_t& value, std::size_t& length) {
    std::uint32_t result = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (i >= in.size()) return varint_status::incomplete;
        const std::uint8_t byte = in[i];
        result |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * i);
        if ((byte & 0x80) == 0) {
            // A last byte of zero after the first means a longer encoding than needed.
            if (i > 0 && byte == 0) return varint_status::malformed;
            value = result;
            length = i + 1;
            return varint_status::ok;
        }
    }
    return varint_status::malformed;
}

bool byte_reader::u8(std::uint8_t& v) {
    if (remaining() < 1) return fail(reason_code::malformed_packet);
    v = data_[pos_++];
    return true;
}

bool byte_reader::u16(std::uint16_t& v) {
    if (remaining() < 2) return fail(reason_code::malformed_packet);
    v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
}

bool byte_reader::u32(std::uint32_t& v) {
    if (remaining() < 4) return fail(reason_code::malformed_packet);
    v = (static_cast<std::uint32_t>(data_[pos_]) << 24) | (static_cast<std::uint32_t>(data_[pos_ + 1]) << 16) |
        (static_cast<std::uint32_t>(data_[pos_ + 2]) << 8) | data_[pos_ + 3];
    pos_ += 4;
    return true;
}

bool byte_reader::varint(std::uint32_t& v) {
    std::size_t len = 0;
    if (decode_varint(rest(), v, len) != varint_status::ok) return fail(reason_code::malformed_packet);
    pos_ += len;
    return true;
}

bool byte_reader::take(std::size_t n, bytes_view& v) {
    if (remaining() < n) return fail(reason_code::malformed_packet);
    v = data_.subspan(pos_, n);
    pos_ += n;
    return true;
}

bool byte_reader::binary(bytes_view& v) {
    std::uint16_t len = 0;
    return u16(len) && take(len, v);
}

bool byte_reader::binary(std::string_view& v) {
    bytes_view b;
    if (!binary(b)) return false;
    v = as_chars(b);
    return true;
}

bool byte_reader::utf8(std::string_view& v) {
    if (!binary(v)) return false;
    if (!is_valid_mqtt_utf8(v)) return fail(reason_code::malformed_packet);
    return true;
}

}  // namespace strata::codec
