// Bounds-checked cursor over received bytes. Every read reports failure
// instead of throwing, so the decoder can turn it into a reason code; strings
// and binary data are returned as views into the underlying buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "codec/reason_code.hpp"
#include "codec/utf8.hpp"

namespace strata::codec {

using bytes_view = std::span<const std::uint8_t>;

// Largest value of a Variable Byte Integer (four bytes).
inline constexpr std::uint32_t max_variable_byte_integer = 268'435'455;

enum class varint_status { ok, incomplete, malformed };

// Decodes a Variable Byte Integer from the front of `in`. Rejects a fifth
// continuation byte and non-minimal encodings [MQTT-1.5.5-1].
varint_status decode_varint(bytes_view in, std::uint32_t& value, std::size_t& length);

class byte_reader {
public:
    explicit byte_reader(bytes_view data) : data_(data) {}

    std::size_t remaining() const { return data_.size() - pos_; }
    bool at_end() const { return pos_ == data_.size(); }
    bytes_view rest() const { return data_.subspan(pos_); }

    // Each reader fails (returns false) when the bytes run out or are invalid;
    // the first failure's reason is kept in error().
    bool u8(std::uint8_t& v);
    bool u16(std::uint16_t& v);
    bool u32(std::uint32_t& v);
    bool varint(std::uint32_t& v);
    bool binary(bytes_view& v);           // two-byte length + bytes
    bool binary(std::string_view& v);     // same, viewed as characters
    bool utf8(std::string_view& v);       // two-byte length + validated UTF-8
    bool take(std::size_t n, bytes_view& v);

    reason_code error() const { return error_; }
    bool fail(reason_code rc) {
        if (error_ == reason_code::success) error_ = rc;
        return false;
    }

private:
    bytes_view data_;
    std::size_t pos_ = 0;
    reason_code error_ = reason_code::success;
};

inline std::string_view as_chars(bytes_view b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline bytes_view as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace strata::codec
