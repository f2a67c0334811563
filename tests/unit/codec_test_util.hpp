// Small helpers shared by the codec unit tests (test_codec_*.cpp).
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "codec/packets.hpp"

namespace strata::codec::test {

using bytes = std::vector<std::uint8_t>;

inline bytes make_bytes(std::initializer_list<int> list) {
    bytes out;
    for (int v : list) out.push_back(static_cast<std::uint8_t>(v));
    return out;
}

inline bytes& append(bytes& b, std::initializer_list<int> list) {
    for (int v : list) b.push_back(static_cast<std::uint8_t>(v));
    return b;
}

inline bytes& append(bytes& b, std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return b;
}

// Two-byte length prefix + bytes.
inline bytes& append_string(bytes& b, std::string_view s) {
    b.push_back(static_cast<std::uint8_t>(s.size() >> 8));
    b.push_back(static_cast<std::uint8_t>(s.size()));
    return append(b, s);
}

// One complete packet taken apart by parse_fixed_header.
struct frame {
    fixed_header h;
    bytes_view body;
};

// Parses the fixed header of `wire`, checks that it is complete and that the
// remaining length covers exactly the rest of the buffer.
inline frame parse_frame(const bytes& wire) {
    frame f;
    REQUIRE(parse_fixed_header(wire, f.h) == frame_status::complete);
    REQUIRE(f.h.total_length() == wire.size());
    f.body = bytes_view(wire).subspan(f.h.header_length);
    return f;
}

// A property block as raw bytes: varint length + the given property bytes.
inline bytes property_block(const bytes& props) {
    bytes out;
    byte_writer w(out);
    w.varint(static_cast<std::uint32_t>(props.size()));
    out.insert(out.end(), props.begin(), props.end());
    return out;
}

}  // namespace strata::codec::test
