// Appends MQTT wire encodings to a growable byte buffer. Callers size packets
// up front (the remaining length comes first on the wire), so the writer only
// appends; capacity is reused across packets by the buffer's owner.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace strata::codec {

using byte_buffer = std::vector<std::uint8_t>;

constexpr std::uint32_t varint_size(std::uint32_t v) {
    return v < 128 ? 1 : v < 16'384 ? 2 : v < 2'097'152 ? 3 : 4;
}

class byte_writer {
public:
    explicit byte_writer(byte_buffer& out) : out_(out) {}

    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v) {
        out_.push_back(static_cast<std::uint8_t>(v >> 8));
        out_.push_back(static_cast<std::uint8_t>(v));
    }
    void u32(std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<std::uint8_t>(v >> shift));
    }
    void varint(std::uint32_t v) {
        do {
            std::uint8_t byte = v & 0x7F;
            v >>= 7;
            if (v != 0) byte |= 0x80;
            out_.push_back(byte);
        } while (v != 0);
    }
    void raw(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void raw(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }
    // Two-byte length prefix + bytes (UTF-8 strings and binary data alike).
    void string(std::string_view s) {
        u16(static_cast<std::uint16_t>(s.size()));
        raw(s);
    }

    byte_buffer& buffer() { return out_; }

private:
    byte_buffer& out_;
};

}  // namespace strata::codec
