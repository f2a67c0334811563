// MQTT 5.0 properties (section 2.2.2): every property encoded and decoded in
// each packet where it is allowed, rejected where it is not, and the
// duplicate / range / length rules.
#include <doctest/doctest.h>

#include "test_printers.hpp"

#include <functional>
#include <string>
#include <vector>

#include "codec/packets.hpp"
#include "codec/properties.hpp"
#include "codec_test_util.hpp"

using namespace strata::codec;
using namespace strata::codec::test;

namespace {

using C = property_context;
constexpr C all_contexts[] = {C::connect, C::connack, C::publish, C::will, C::puback, C::pubrec, C::pubrel,
                              C::pubcomp, C::subscribe, C::suback, C::unsubscribe, C::unsuback, C::disconnect, C::auth};

const char* name_of(C c) {
    static const char* names[] = {"connect", "connack", "publish", "will", "puback", "pubrec", "pubrel",
                                  "pubcomp", "subscribe", "suback", "unsubscribe", "unsuback", "disconnect", "auth"};
    return names[static_cast<int>(c)];
}

enum class kind { byte, two, four, varint, utf8, binary, pair };

// The property table of the specification (section 2.2.2.2), written out
// independently of the codec's own table.
struct spec_property {
    int id;
    kind type;
    std::vector<C> allowed;
    std::function<void(properties&)> set;  // a valid value
};

const std::vector<spec_property>& spec_table() {
    static const std::vector<spec_property> t = {
        {0x01, kind::byte, {C::publish, C::will}, [](properties& p) { p.payload_format_indicator = 1; }},
        {0x02, kind::four, {C::publish, C::will}, [](properties& p) { p.message_expiry_interval = 0x01020304; }},
        {0x03, kind::utf8, {C::publish, C::will}, [](properties& p) { p.content_type = "text/plain"; }},
        {0x08, kind::utf8, {C::publish, C::will}, [](properties& p) { p.response_topic = "resp/topic"; }},
        {0x09, kind::binary, {C::publish, C::will}, [](properties& p) { p.correlation_data = std::string_view("\0\1", 2); }},
        {0x0B, kind::varint, {C::publish, C::subscribe}, [](properties& p) { p.subscription_identifiers = {16'384}; }},
        {0x11, kind::four, {C::connect, C::connack, C::disconnect}, [](properties& p) { p.session_expiry_interval = 0xFFFFFFFF; }},
        {0x12, kind::utf8, {C::connack}, [](properties& p) { p.assigned_client_identifier = "auto-XYZ"; }},
        {0x13, kind::two, {C::connack}, [](properties& p) { p.server_keep_alive = 0; }},
        {0x15, kind::utf8, {C::connect, C::connack, C::auth}, [](properties& p) { p.authentication_method = "SCRAM"; }},
        {0x16, kind::binary, {C::connect, C::connack, C::auth}, [](properties& p) {
             p.authentication_method = "SCRAM";  // data alone is a protocol error in CONNECT
             p.authentication_data = std::string_view("\xFF\0", 2);
         }},
        {0x17, kind::byte, {C::connect}, [](properties& p) { p.request_problem_information = 0; }},
        {0x18, kind::four, {C::will}, [](properties& p) { p.will_delay_interval = 60; }},
        {0x19, kind::byte, {C::connect}, [](properties& p) { p.request_response_information = 1; }},
        {0x1A, kind::utf8, {C::connack}, [](properties& p) { p.response_information = "resp/"; }},
        {0x1C, kind::utf8, {C::connack, C::disconnect}, [](properties& p) { p.server_reference = "host:1884"; }},
        {0x1F, kind::utf8, {C::connack, C::puback, C::pubrec, C::pubrel, C::pubcomp, C::suback, C::unsuback, C::disconnect, C::auth},
         [](properties& p) { p.reason_string = "because"; }},
        {0x21, kind::two, {C::connect, C::connack}, [](properties& p) { p.receive_maximum = 65535; }},
        {0x22, kind::two, {C::connect, C::connack}, [](properties& p) { p.topic_alias_maximum = 0; }},
        {0x23, kind::two, {C::publish}, [](properties& p) { p.topic_alias = 1; }},
        {0x24, kind::byte, {C::connack}, [](properties& p) { p.maximum_qos = 0; }},
        {0x25, kind::byte, {C::connack}, [](properties& p) { p.retain_available = 1; }},
        {0x26, kind::pair, std::vector<C>(std::begin(all_contexts), std::end(all_contexts)),
         [](properties& p) { p.user_properties = {{"key", "value"}, {"key", "value"}, {"", ""}}; }},
        {0x27, kind::four, {C::connect, C::connack}, [](properties& p) { p.maximum_packet_size = 268'435'460; }},
        {0x28, kind::byte, {C::connack}, [](properties& p) { p.wildcard_subscription_available = 0; }},
        {0x29, kind::byte, {C::connack}, [](properties& p) { p.subscription_identifier_available = 1; }},
        {0x2A, kind::byte, {C::connack}, [](properties& p) { p.shared_subscription_available = 0; }},
    };
    return t;
}

bool allowed_in(const spec_property& sp, C c) {
    return std::find(sp.allowed.begin(), sp.allowed.end(), c) != sp.allowed.end();
}

// Raw bytes of one property with a valid value of its type.
bytes raw_property(int id, kind k) {
    bytes b;
    byte_writer(b).varint(static_cast<std::uint32_t>(id));
    switch (k) {
        case kind::byte: append(b, {0x01}); break;
        case kind::two: append(b, {0x00, 0x05}); break;
        case kind::four: append(b, {0x00, 0x00, 0x00, 0x05}); break;
        case kind::varint: append(b, {0x05}); break;
        case kind::utf8: append_string(b, "a"); break;
        case kind::binary: append(b, {0x00, 0x01, 0x00}); break;
        case kind::pair: append_string(append_string(b, "k"), "v"); break;
    }
    return b;
}

reason_code read_block(const bytes& props, C ctx, properties& out) {
    const bytes block = property_block(props);
    byte_reader r(block);
    if (!read_properties(r, ctx, out)) return r.error();
    CHECK(r.at_end());
    return reason_code::success;
}

reason_code read_block(const bytes& props, C ctx) {
    properties out;
    return read_block(props, ctx, out);
}

// Encodes a packet of the given context carrying `in`, decodes it and
// compares the decoded properties with `in`.
void roundtrip_in_packet(C ctx, const properties& in) {
    bytes wire;
    switch (ctx) {
        case C::connect:
        case C::will: {
            connect_packet p;
            p.version = protocol_version::v5;
            p.client_id = "c";
            if (ctx == C::connect) {
                p.props = in;
            } else {
                p.has_will = true;
                p.will.topic = "w";
                p.will.props = in;
            }
            encode_connect(wire, p);
            connect_packet out;
            REQUIRE(decode_connect(parse_frame(wire).body, out) == reason_code::success);
            CHECK((ctx == C::connect ? out.props : out.will.props) == in);
            return;
        }
        case C::connack: {
            connack_packet p;
            p.props = in;
            encode_connack(wire, protocol_version::v5, p);
            connack_packet out;
            REQUIRE(decode_connack(parse_frame(wire).body, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::publish: {
            publish_packet p;
            p.topic = "t";
            p.props = in;
            encode_publish(wire, protocol_version::v5, p);
            const auto f = parse_frame(wire);
            publish_packet out;
            REQUIRE(decode_publish(f.body, f.h.flags, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::puback:
        case C::pubrec:
        case C::pubrel:
        case C::pubcomp: {
            const packet_type type = ctx == C::puback   ? packet_type::puback
                                     : ctx == C::pubrec ? packet_type::pubrec
                                     : ctx == C::pubrel ? packet_type::pubrel
                                                        : packet_type::pubcomp;
            ack_packet p;
            p.type = type;
            p.packet_id = 1;
            p.props = in;
            encode_ack(wire, protocol_version::v5, p);
            ack_packet out;
            REQUIRE(decode_ack(parse_frame(wire).body, type, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::subscribe: {
            subscribe_packet p;
            p.packet_id = 1;
            p.props = in;
            p.subscriptions.push_back({"f", 1, false, false, 0});
            encode_subscribe(wire, protocol_version::v5, p);
            subscribe_packet out;
            REQUIRE(decode_subscribe(parse_frame(wire).body, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::suback:
        case C::unsuback: {
            const packet_type type = ctx == C::suback ? packet_type::suback : packet_type::unsuback;
            subscribe_ack_packet p;
            p.type = type;
            p.packet_id = 1;
            p.props = in;
            p.reasons = {0};
            encode_subscribe_ack(wire, protocol_version::v5, p);
            subscribe_ack_packet out;
            REQUIRE(decode_subscribe_ack(parse_frame(wire).body, type, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::unsubscribe: {
            unsubscribe_packet p;
            p.packet_id = 1;
            p.props = in;
            p.filters = {"f"};
            encode_unsubscribe(wire, protocol_version::v5, p);
            unsubscribe_packet out;
            REQUIRE(decode_unsubscribe(parse_frame(wire).body, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::disconnect: {
            disconnect_packet p;
            p.props = in;
            encode_disconnect(wire, protocol_version::v5, p);
            disconnect_packet out;
            REQUIRE(decode_disconnect(parse_frame(wire).body, protocol_version::v5, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
        case C::auth: {
            auth_packet p;
            p.reason = reason_code::continue_authentication;
            p.props = in;
            encode_auth(wire, p);
            auth_packet out;
            REQUIRE(decode_auth(parse_frame(wire).body, out) == reason_code::success);
            CHECK(out.props == in);
            return;
        }
    }
}

}  // namespace

TEST_SUITE("codec") {

TEST_CASE("every property round-trips in every packet where it is allowed") {
    for (const auto& sp : spec_table()) {
        CAPTURE(sp.id);
        properties p;
        sp.set(p);
        for (C ctx : sp.allowed) {
            CAPTURE(name_of(ctx));
            roundtrip_in_packet(ctx, p);
        }
    }
}

TEST_CASE("a property outside the packets that allow it is malformed (section 2.2.2.2)") {
    for (const auto& sp : spec_table()) {
        const bytes raw = raw_property(sp.id, sp.type);
        for (C ctx : all_contexts) {
            CAPTURE(sp.id);
            CAPTURE(name_of(ctx));
            const auto rc = read_block(raw, ctx);
            if (allowed_in(sp, ctx)) CHECK(rc == reason_code::success);
            else CHECK(rc == reason_code::malformed_packet);
        }
    }
}

TEST_CASE("unknown property identifiers are malformed") {
    for (int id = 0; id < 0x80; ++id) {
        bool known = false;
        for (const auto& sp : spec_table()) known = known || sp.id == id;
        if (known) continue;
        CAPTURE(id);
        // The identifier followed by bytes that would do for any value.
        const bytes raw = make_bytes({id, 0x00, 0x01, 'a'});
        for (C ctx : all_contexts) CHECK(read_block(raw, ctx) == reason_code::malformed_packet);
    }
    // A two-byte identifier (0x81 0x01 = 129) and a non-minimal one (0x81 0x00).
    CHECK(read_block(make_bytes({0x81, 0x01, 0x00}), C::publish) == reason_code::malformed_packet);
    CHECK(read_block(make_bytes({0x81, 0x00, 0x00}), C::publish) == reason_code::malformed_packet);
}

TEST_CASE("property encoding on the wire") {
    properties p;
    p.session_expiry_interval = 0x01020304;
    p.receive_maximum = 0x0A0B;
    p.subscription_identifiers = {200};
    p.user_properties = {{"k", "v"}};
    CHECK(properties_size(p) == 5 + 3 + 3 + 7);
    bytes out;
    byte_writer w(out);
    write_properties(w, p);
    CHECK(out == make_bytes({18,                                     // property length
                             0x0B, 0xC8, 0x01,                      // subscription identifier 200 (varint)
                             0x11, 0x01, 0x02, 0x03, 0x04,          // session expiry interval
                             0x21, 0x0A, 0x0B,                      // receive maximum
                             0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'}));  // user property
    properties empty;
    CHECK(properties_size(empty) == 0);
    out.clear();
    write_properties(w, empty);
    CHECK(out == make_bytes({0x00}));
}

TEST_CASE("user properties keep their order, duplicates included") {
    properties p;
    p.user_properties = {{"b", "1"}, {"a", "2"}, {"b", "1"}, {"a", ""}};
    roundtrip_in_packet(C::publish, p);
    roundtrip_in_packet(C::puback, p);
}

TEST_CASE("duplicate properties are a protocol error (section 2.2.2.2)") {
    for (const auto& sp : spec_table()) {
        if (sp.id == 0x26) continue;  // user properties may repeat
        const bytes one = raw_property(sp.id, sp.type);
        bytes twice = one;
        twice.insert(twice.end(), one.begin(), one.end());
        for (C ctx : sp.allowed) {
            CAPTURE(sp.id);
            CAPTURE(name_of(ctx));
            // Several subscription identifiers in a PUBLISH to a client are fine [MQTT-3.3.4-4].
            const bool may_repeat = sp.id == 0x0B && ctx == C::publish;
            CHECK(read_block(twice, ctx) == (may_repeat ? reason_code::success : reason_code::protocol_error));
        }
    }
    properties out;
    bytes two_ids = raw_property(0x0B, kind::varint);
    append(two_ids, {0x0B, 0x07});
    REQUIRE(read_block(two_ids, C::publish, out) == reason_code::success);
    CHECK(out.subscription_identifiers == std::vector<std::uint32_t>{5, 7});
}

TEST_CASE("property values out of range are a protocol error") {
    struct row {
        const char* what;
        bytes raw;
        C ctx;
    };
    const row rows[] = {
        {"payload format indicator 2", make_bytes({0x01, 0x02}), C::publish},
        {"payload format indicator 2 (will)", make_bytes({0x01, 0x02}), C::will},
        {"request problem information 2", make_bytes({0x17, 0x02}), C::connect},
        {"request response information 2", make_bytes({0x19, 0x02}), C::connect},
        {"receive maximum 0", make_bytes({0x21, 0x00, 0x00}), C::connect},
        {"receive maximum 0 (connack)", make_bytes({0x21, 0x00, 0x00}), C::connack},
        {"maximum packet size 0", make_bytes({0x27, 0x00, 0x00, 0x00, 0x00}), C::connect},
        {"maximum packet size 0 (connack)", make_bytes({0x27, 0x00, 0x00, 0x00, 0x00}), C::connack},
        {"subscription identifier 0 (subscribe)", make_bytes({0x0B, 0x00}), C::subscribe},
        {"subscription identifier 0 (publish)", make_bytes({0x0B, 0x00}), C::publish},
        {"maximum qos 2", make_bytes({0x24, 0x02}), C::connack},
        {"retain available 2", make_bytes({0x25, 0x02}), C::connack},
        {"wildcard subscription available 2", make_bytes({0x28, 0x02}), C::connack},
        {"subscription identifier available 2", make_bytes({0x29, 0x02}), C::connack},
        {"shared subscription available 2", make_bytes({0x2A, 0x02}), C::connack},
    };
    for (const auto& r : rows) {
        CAPTURE(r.what);
        CHECK(read_block(r.raw, r.ctx) == reason_code::protocol_error);
    }
    // The limits themselves are fine.
    CHECK(read_block(make_bytes({0x0B, 0xFF, 0xFF, 0xFF, 0x7F}), C::subscribe) == reason_code::success);
    CHECK(read_block(make_bytes({0x21, 0x00, 0x01}), C::connect) == reason_code::success);
    CHECK(read_block(make_bytes({0x27, 0x00, 0x00, 0x00, 0x01}), C::connect) == reason_code::success);
    CHECK(read_block(make_bytes({0x01, 0x00}), C::publish) == reason_code::success);
}

TEST_CASE("property length and value errors are malformed") {
    SUBCASE("property length beyond the packet") {
        const bytes data = make_bytes({0x05, 0x01, 0x01});  // says 5, has 2
        byte_reader r(data);
        properties out;
        CHECK_FALSE(read_properties(r, C::publish, out));
        CHECK(r.error() == reason_code::malformed_packet);
    }
    SUBCASE("property length cutting a value short") {
        // Length 3 covers the identifier and 2 of the 4 bytes of message expiry.
        const bytes data = make_bytes({0x03, 0x02, 0x00, 0x00, 0x00, 0x05});
        byte_reader r(data);
        properties out;
        CHECK_FALSE(read_properties(r, C::publish, out));
        CHECK(r.error() == reason_code::malformed_packet);
    }
    SUBCASE("truncated values of every type") {
        for (const auto& sp : spec_table()) {
            const bytes full = raw_property(sp.id, sp.type);
            const C ctx = sp.allowed.front();
            for (std::size_t n = 1; n < full.size(); ++n) {
                CAPTURE(sp.id);
                CAPTURE(n);
                CHECK(read_block(bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)), ctx) ==
                      reason_code::malformed_packet);
            }
        }
    }
    SUBCASE("malformed property length varint") {
        const bytes data = make_bytes({0x80, 0x00});
        byte_reader r(data);
        properties out;
        CHECK_FALSE(read_properties(r, C::publish, out));
        CHECK(r.error() == reason_code::malformed_packet);
    }
    SUBCASE("invalid UTF-8 in string properties") {
        CHECK(read_block(make_bytes({0x03, 0x00, 0x02, 0xC0, 0x80}), C::publish) == reason_code::malformed_packet);
        CHECK(read_block(make_bytes({0x1F, 0x00, 0x01, 0x00}), C::puback) == reason_code::malformed_packet);
        CHECK(read_block(make_bytes({0x26, 0x00, 0x01, 0xFF, 0x00, 0x01, 'v'}), C::publish) ==
              reason_code::malformed_packet);
        CHECK(read_block(make_bytes({0x26, 0x00, 0x01, 'k', 0x00, 0x03, 0xED, 0xA0, 0x80}), C::publish) ==
              reason_code::malformed_packet);
        // Binary data is not checked: correlation data may hold anything.
        CHECK(read_block(make_bytes({0x09, 0x00, 0x02, 0xC0, 0x80}), C::publish) == reason_code::success);
    }
}

TEST_CASE("read_properties resets the output") {
    properties out;
    out.reason_string = "stale";
    out.user_properties = {{"old", "x"}};
    out.subscription_identifiers = {1};
    REQUIRE(read_block(make_bytes({0x23, 0x00, 0x02}), C::publish, out) == reason_code::success);
    properties expected;
    expected.topic_alias = 2;
    CHECK(out == expected);
    out.clear();
    CHECK(out == properties{});
}

}  // TEST_SUITE
