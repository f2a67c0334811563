// Codec building blocks: Variable Byte Integers, the fixed header, UTF-8
// validation and the bounds-checked byte reader.
#include <doctest/doctest.h>

#include <string>

#include "codec/byte_reader.hpp"
#include "codec/byte_writer.hpp"
#include "codec/packets.hpp"
#include "codec/utf8.hpp"
#include "codec_test_util.hpp"

using namespace strata::codec;
using namespace strata::codec::test;

TEST_SUITE("codec") {

TEST_CASE("varint_size at every length boundary") {
    CHECK(varint_size(0) == 1);
    CHECK(varint_size(127) == 1);
    CHECK(varint_size(128) == 2);
    CHECK(varint_size(16'383) == 2);
    CHECK(varint_size(16'384) == 3);
    CHECK(varint_size(2'097'151) == 3);
    CHECK(varint_size(2'097'152) == 4);
    CHECK(varint_size(268'435'455) == 4);
    static_assert(varint_size(max_variable_byte_integer) == 4);
}

TEST_CASE("decode_varint boundaries, encoded by byte_writer (section 1.5.5)") {
    struct row {
        std::uint32_t value;
        bytes wire;
    };
    const row rows[] = {
        {0, make_bytes({0x00})},
        {127, make_bytes({0x7F})},
        {128, make_bytes({0x80, 0x01})},
        {16'383, make_bytes({0xFF, 0x7F})},
        {16'384, make_bytes({0x80, 0x80, 0x01})},
        {2'097'151, make_bytes({0xFF, 0xFF, 0x7F})},
        {2'097'152, make_bytes({0x80, 0x80, 0x80, 0x01})},
        {268'435'455, make_bytes({0xFF, 0xFF, 0xFF, 0x7F})},
    };
    for (const auto& r : rows) {
        CAPTURE(r.value);
        bytes encoded;
        byte_writer(encoded).varint(r.value);
        CHECK(encoded == r.wire);
        CHECK(encoded.size() == varint_size(r.value));

        std::uint32_t value = 12345;
        std::size_t length = 0;
        CHECK(decode_varint(r.wire, value, length) == varint_status::ok);
        CHECK(value == r.value);
        CHECK(length == r.wire.size());

        // Trailing bytes are not part of the integer.
        bytes longer = r.wire;
        longer.push_back(0x55);
        CHECK(decode_varint(longer, value, length) == varint_status::ok);
        CHECK(value == r.value);
        CHECK(length == r.wire.size());

        // Every strict prefix is incomplete.
        for (std::size_t n = 0; n < r.wire.size(); ++n) {
            CHECK(decode_varint(bytes_view(r.wire).first(n), value, length) == varint_status::incomplete);
        }
    }
}

TEST_CASE("decode_varint rejects a fifth byte and non-minimal encodings [MQTT-1.5.5-1]") {
    std::uint32_t value = 0;
    std::size_t length = 0;
    CHECK(decode_varint(make_bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x01}), value, length) == varint_status::malformed);
    CHECK(decode_varint(make_bytes({0x80, 0x80, 0x80, 0x80, 0x00}), value, length) == varint_status::malformed);
    CHECK(decode_varint(make_bytes({0xFF, 0xFF, 0xFF, 0xFF}), value, length) == varint_status::malformed);
    // 0 in two bytes, 1 in three bytes, 127 in two bytes, 128 in three bytes.
    CHECK(decode_varint(make_bytes({0x80, 0x00}), value, length) == varint_status::malformed);
    CHECK(decode_varint(make_bytes({0x81, 0x80, 0x00}), value, length) == varint_status::malformed);
    CHECK(decode_varint(make_bytes({0xFF, 0x00}), value, length) == varint_status::malformed);
    CHECK(decode_varint(make_bytes({0x80, 0x81, 0x80, 0x00}), value, length) == varint_status::malformed);
}

TEST_CASE("parse_fixed_header: remaining length") {
    fixed_header h;
    SUBCASE("one to four bytes") {
        CHECK(parse_fixed_header(make_bytes({0xC0, 0x00}), h) == frame_status::complete);
        CHECK(h.type == packet_type::pingreq);
        CHECK(h.remaining_length == 0);
        CHECK(h.header_length == 2);
        CHECK(h.total_length() == 2);
        CHECK(parse_fixed_header(make_bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), h) == frame_status::complete);
        CHECK(h.type == packet_type::publish);
        CHECK(h.remaining_length == 268'435'455);
        CHECK(h.header_length == 5);
    }
    SUBCASE("incomplete header") {
        CHECK(parse_fixed_header(bytes{}, h) == frame_status::incomplete);
        CHECK(parse_fixed_header(make_bytes({0x30}), h) == frame_status::incomplete);
        CHECK(parse_fixed_header(make_bytes({0x30, 0x80}), h) == frame_status::incomplete);
        CHECK(parse_fixed_header(make_bytes({0x30, 0x80, 0x80, 0x80}), h) == frame_status::incomplete);
    }
    SUBCASE("five bytes of remaining length are malformed") {
        CHECK(parse_fixed_header(make_bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), h) == frame_status::malformed);
        CHECK(parse_fixed_header(make_bytes({0x30, 0x80, 0x80, 0x80, 0x80}), h) == frame_status::malformed);
    }
    SUBCASE("non-minimal remaining length is malformed [MQTT-1.5.5-1]") {
        CHECK(parse_fixed_header(make_bytes({0xC0, 0x80, 0x00}), h) == frame_status::malformed);
        CHECK(parse_fixed_header(make_bytes({0x30, 0x85, 0x80, 0x00}), h) == frame_status::malformed);
    }
    SUBCASE("the body does not need to be present") {
        CHECK(parse_fixed_header(make_bytes({0x30, 0x10}), h) == frame_status::complete);
        CHECK(h.remaining_length == 16);
        CHECK(h.total_length() == 18);
    }
}

TEST_CASE("parse_fixed_header: packet types and reserved flags [MQTT-2.1.3-1]") {
    fixed_header h;
    // Packet type 0 is reserved (and 15 is AUTH in v5).
    CHECK(parse_fixed_header(make_bytes({0x00, 0x00}), h) == frame_status::malformed);
    for (int type = 1; type <= 15; ++type) {
        for (int flags = 0; flags <= 15; ++flags) {
            CAPTURE(type);
            CAPTURE(flags);
            const auto status = parse_fixed_header(make_bytes({(type << 4) | flags, 0x00}), h);
            bool valid;
            if (type == 3) valid = true;  // PUBLISH: flags are DUP, QoS, RETAIN (checked by decode_publish)
            else if (type == 6 || type == 8 || type == 10) valid = flags == 0x02;  // PUBREL, SUBSCRIBE, UNSUBSCRIBE
            else valid = flags == 0;
            CHECK(status == (valid ? frame_status::complete : frame_status::malformed));
            if (valid) {
                CHECK(static_cast<int>(h.type) == type);
                CHECK(h.flags == flags);
            }
        }
    }
}

TEST_CASE("write_fixed_header and ping packets") {
    bytes out;
    encode_pingreq(out);
    CHECK(out == make_bytes({0xC0, 0x00}));
    out.clear();
    encode_pingresp(out);
    CHECK(out == make_bytes({0xD0, 0x00}));
    out.clear();
    byte_writer w(out);
    write_fixed_header(w, packet_type::subscribe, 0x02, 200);
    CHECK(out == make_bytes({0x82, 0xC8, 0x01}));
    fixed_header h;
    out.resize(out.size() + 200);
    CHECK(parse_fixed_header(out, h) == frame_status::complete);
    CHECK(h.type == packet_type::subscribe);
    CHECK(h.remaining_length == 200);
    CHECK(h.header_length == 3);
    CHECK(to_string(packet_type::subscribe) == "SUBSCRIBE");
    CHECK(to_string(packet_type::auth) == "AUTH");
}

TEST_CASE("UTF-8 validation (section 1.5.4)") {
    auto s = [](std::initializer_list<int> list) {
        std::string out;
        for (int v : list) out.push_back(static_cast<char>(v));
        return out;
    };
    // Well-formed: ASCII, 2, 3 and 4 byte forms at their limits.
    for (const std::string& ok : {std::string(""), std::string("a/b"), s({0xC2, 0x80}), s({0xDF, 0xBF}),
                                  s({0xE0, 0xA0, 0x80}), s({0xED, 0x9F, 0xBF}), s({0xEE, 0x80, 0x80}),
                                  s({0xEF, 0xBF, 0xBD}), s({0xF0, 0x90, 0x80, 0x80}), s({0xF4, 0x8F, 0xBF, 0xBF}),
                                  std::string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")}) {
        CAPTURE(ok);
        CHECK(is_valid_mqtt_utf8(ok));
        CHECK(is_valid_utf8(ok));
    }
    // Ill-formed for both.
    for (const std::string& bad : {
             s({0xC0, 0x80}), s({0xC1, 0xBF}),                  // overlong 2-byte (U+0000, U+007F)
             s({0xE0, 0x80, 0x80}), s({0xE0, 0x9F, 0xBF}),      // overlong 3-byte
             s({0xF0, 0x80, 0x80, 0x80}), s({0xF0, 0x8F, 0xBF, 0xBF}),  // overlong 4-byte
             s({0xED, 0xA0, 0x80}), s({0xED, 0xBF, 0xBF}),      // surrogates U+D800, U+DFFF [MQTT-1.5.4-1]
             s({0xF4, 0x90, 0x80, 0x80}), s({0xF5, 0x80, 0x80, 0x80}),  // above U+10FFFF
             s({0xF8, 0x88, 0x80, 0x80, 0x80}), s({0xFF}), s({0xFE}),  // invalid lead bytes
             s({0x80}), s({'a', 0xBF}),                          // continuation without lead
             s({0xC3}), s({0xE2, 0x82}), s({0xF0, 0x9F, 0x98}),  // truncated sequences
             s({0xC3, 'a'}), s({0xE2, 0x82, 'a'}),               // lead followed by a non-continuation
         }) {
        CAPTURE(bad);
        CHECK_FALSE(is_valid_mqtt_utf8(bad));
        CHECK_FALSE(is_valid_utf8(bad));
    }
    // U+0000: not in MQTT strings [MQTT-1.5.4-2], but fine in a UTF-8 payload.
    const std::string nul("a\0b", 3);
    CHECK_FALSE(is_valid_mqtt_utf8(nul));
    CHECK(is_valid_utf8(nul));
    CHECK_FALSE(is_valid_mqtt_utf8(std::string(1, '\0')));
    CHECK(is_valid_utf8(std::string(1, '\0')));
}

TEST_CASE("byte_reader reads big-endian values and reports the first failure") {
    const bytes data = make_bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x80, 0x01});
    byte_reader r(data);
    std::uint8_t a = 0;
    std::uint16_t b = 0;
    std::uint32_t c = 0, d = 0;
    CHECK(r.u8(a));
    CHECK(a == 0x01);
    CHECK(r.u16(b));
    CHECK(b == 0x0203);
    CHECK(r.u32(c));
    CHECK(c == 0x04050607);
    CHECK(r.varint(d));
    CHECK(d == 128);
    CHECK(r.at_end());
    CHECK(r.error() == reason_code::success);
    CHECK_FALSE(r.u8(a));
    CHECK(r.error() == reason_code::malformed_packet);
    CHECK_FALSE(r.fail(reason_code::protocol_error));
    CHECK(r.error() == reason_code::malformed_packet);  // the first reason is kept

    SUBCASE("strings") {
        bytes s;
        append_string(s, "ab");
        append_string(s, "xyz");
        byte_reader rs(s);
        std::string_view v;
        bytes_view raw;
        CHECK(rs.utf8(v));
        CHECK(v == "ab");
        CHECK(rs.binary(raw));
        CHECK(as_chars(raw) == "xyz");
        CHECK(rs.at_end());
    }
    SUBCASE("string length beyond the data") {
        const bytes s = make_bytes({0x00, 0x05, 'a', 'b'});
        byte_reader rs(s);
        std::string_view v;
        CHECK_FALSE(rs.utf8(v));
        CHECK(rs.error() == reason_code::malformed_packet);
    }
    SUBCASE("invalid UTF-8 string") {
        const bytes s = make_bytes({0x00, 0x02, 0xC0, 0x80});
        byte_reader rs(s);
        std::string_view v;
        CHECK_FALSE(rs.utf8(v));
        CHECK(rs.error() == reason_code::malformed_packet);
        // The same bytes are fine as binary data.
        byte_reader rb(s);
        bytes_view raw;
        CHECK(rb.binary(raw));
        CHECK(raw.size() == 2);
    }
    SUBCASE("truncated u16 and u32") {
        const bytes one = make_bytes({0x01});
        byte_reader r1(one);
        CHECK_FALSE(r1.u16(b));
        byte_reader r2(one);
        CHECK_FALSE(r2.u32(c));
        const bytes bad_varint = make_bytes({0x80, 0x00});
        byte_reader r3(bad_varint);
        CHECK_FALSE(r3.varint(c));
        CHECK(r3.error() == reason_code::malformed_packet);
    }
}

TEST_CASE("reason codes: names and the 3.1.1 CONNACK mapping") {
    CHECK(is_error(reason_code::unspecified_error));
    CHECK_FALSE(is_error(reason_code::no_matching_subscribers));
    CHECK(to_string(reason_code::packet_too_large) == "packet too large");
    CHECK(to_v3_connack(reason_code::success) == connack_return_code_v3::accepted);
    CHECK(to_v3_connack(reason_code::unsupported_protocol_version) ==
          connack_return_code_v3::unacceptable_protocol_version);
    CHECK(to_v3_connack(reason_code::client_identifier_not_valid) == connack_return_code_v3::identifier_rejected);
    CHECK(to_v3_connack(reason_code::server_unavailable) == connack_return_code_v3::server_unavailable);
    CHECK(to_v3_connack(reason_code::bad_username_or_password) == connack_return_code_v3::bad_username_or_password);
    CHECK(to_v3_connack(reason_code::not_authorized) == connack_return_code_v3::not_authorized);
}

}  // TEST_SUITE
