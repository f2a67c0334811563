#include "codec/properties.hpp"

#include <array>

namespace strata::codec {
namespace {

enum class value_type : std::uint8_t { none, byte, two_byte, four_byte, varint, utf8, binary, utf8_pair };

constexpr std::uint16_t bit(property_context c) { return static_cast<std::uint16_t>(1u << static_cast<int>(c)); }

struct property_rule {
    value_type type = value_type::none;
    std::uint16_t allowed = 0;  // bit per property_context
};

constexpr std::array<property_rule, 0x2B> make_rules() {
    using C = property_context;
    std::array<property_rule, 0x2B> t{};
    const std::uint16_t pub_will = bit(C::publish) | bit(C::will);
    const std::uint16_t acks = bit(C::puback) | bit(C::pubrec) | bit(C::pubrel) | bit(C::pubcomp);
    t[0x01] = {value_type::byte, pub_will};
    t[0x02] = {value_type::four_byte, pub_will};
    t[0x03] = {value_type::utf8, pub_will};
    t[0x08] = {value_type::utf8, pub_will};
    t[0x09] = {value_type::binary, pub_will};
    t[0x0B] = {value_type::varint, static_cast<std::uint16_t>(bit(C::publish) | bit(C::subscribe))};
    t[0x11] = {value_type::four_byte, static_cast<std::uint16_t>(bit(C::connect) | bit(C::connack) | bit(C::disconnect))};
    t[0x12] = {value_type::utf8, bit(C::connack)};
    t[0x13] = {value_type::two_byte, bit(C::connack)};
    t[0x15] = {value_type::utf8, static_cast<std::uint16_t>(bit(C::connect) | bit(C::connack) | bit(C::auth))};
    t[0x16] = {value_type::binary, static_cast<std::uint16_t>(bit(C::connect) | bit(C::connack) | bit(C::auth))};
    t[0x17] = {value_type::byte, bit(C::connect)};
    t[0x18] = {value_type::four_byte, bit(C::will)};
    t[0x19] = {value_type::byte, bit(C::connect)};
    t[0x1A] = {value_type::utf8, bit(C::connack)};
    t[0x1C] = {value_type::utf8, static_cast<std::uint16_t>(bit(C::connack) | bit(C::disconnect))};
    t[0x1F] = {value_type::utf8, static_cast<std::uint16_t>(bit(C::connack) | acks | bit(C::suback) | bit(C::unsuback) |
                                                            bit(C::disconnect) | bit(C::auth))};
    t[0x21] = {value_type::two_byte, static_cast<std::uint16_t>(bit(C::connect) | bit(C::connack))};
    t[0x22] = {value_type::two_byte, static_cast<std::uint16_t>(bit(C::connect) | bit(C::connack))};
    t[0x23] = {value_type::two_byte, bit(C::publish)};
    t[0x24] = {value_type::byte, bit(C::connack)};
    t[0x25] = {value_type::byte, bit(C::connack)};
    t[0x26] = {value_type::utf8_pair, 0x3FFF};
    t[0x27] = {value_type::four_byte, static_cast<std::uint16_t>(bit(C::connect) | bit(C::connack))};
    t[0x28] = {value_type::byte, bit(C::connack)};
    t[0x29] = {value_type::byte, bit(C::connack)};
    t[0x2A] = {value_type::byte, bit(C::connack)};
    return t;
}

constexpr auto rules = make_rules();

bool is_flag(std::uint8_t v) { return v <= 1; }

// Stores one decoded value; false means a duplicate or an out-of-range value
// (both protocol errors).
template <typename T, typename V>
bool store_once(std::optional<T>& slot, V value) {
    if (slot) return false;
    slot = static_cast<T>(value);
    return true;
}

bool assign(properties& p, property_id id, property_context ctx, std::uint32_t n, std::string_view s) {
    using P = property_id;
    switch (id) {
        case P::payload_format_indicator: return is_flag(n) && store_once(p.payload_format_indicator, n);
        case P::message_expiry_interval: return store_once(p.message_expiry_interval, n);
        case P::content_type: return store_once(p.content_type, s);
        case P::response_topic: return store_once(p.response_topic, s);
        case P::correlation_data: return store_once(p.correlation_data, s);
        case P::subscription_identifier:
            if (n == 0) return false;
            if (ctx == property_context::subscribe && !p.subscription_identifiers.empty()) return false;
            p.subscription_identifiers.push_back(n);
            return true;
        case P::session_expiry_interval: return store_once(p.session_expiry_interval, n);
        case P::assigned_client_identifier: return store_once(p.assigned_client_identifier, s);
        case P::server_keep_alive: return store_once(p.server_keep_alive, n);
        case P::authentication_method: return store_once(p.authentication_method, s);
        case P::authentication_data: return store_once(p.authentication_data, s);
        case P::request_problem_information: return is_flag(n) && store_once(p.request_problem_information, n);
        case P::will_delay_interval: return store_once(p.will_delay_interval, n);
        case P::request_response_information: return is_flag(n) && store_once(p.request_response_information, n);
        case P::response_information: return store_once(p.response_information, s);
        case P::server_reference: return store_once(p.server_reference, s);
        case P::reason_string: return store_once(p.reason_string, s);
        case P::receive_maximum: return n != 0 && store_once(p.receive_maximum, n);
        case P::topic_alias_maximum: return store_once(p.topic_alias_maximum, n);
        case P::topic_alias: return store_once(p.topic_alias, n);
        case P::maximum_qos: return is_flag(n) && store_once(p.maximum_qos, n);
        case P::retain_available: return is_flag(n) && store_once(p.retain_available, n);
        case P::user_property: return true;  // handled by the caller (two strings)
        case P::maximum_packet_size: return n != 0 && store_once(p.maximum_packet_size, n);
        case P::wildcard_subscription_available: return is_flag(n) && store_once(p.wildcard_subscription_available, n);
        case P::subscription_identifier_available:
            return is_flag(n) && store_once(p.subscription_identifier_available, n);
        case P::shared_subscription_available: return is_flag(n) && store_once(p.shared_subscription_available, n);
    }
    return false;
}

}  // namespace

void properties::clear() {
    auto ids = std::move(subscription_identifiers);
    auto users = std::move(user_properties);
    ids.clear();
    users.clear();
    *this = properties{};
    subscription_identifiers = std::move(ids);
    user_properties = std::move(users);
}

bool read_properties(byte_reader& r, property_context ctx, properties& out) {
    out.clear();
    std::uint32_t length = 0;
    bytes_view block;
    if (!r.varint(length) || !r.take(length, block)) return false;
    byte_reader in(block);
    while (!in.at_end()) {
        std::uint32_t raw_id = 0;
        if (!in.varint(raw_id)) return r.fail(reason_code::malformed_packet);
        if (raw_id >= rules.size() || rules[raw_id].type == value_type::none ||
            (rules[raw_id].allowed & bit(ctx)) == 0) {
            return r.fail(reason_code::malformed_packet);
        }
        const auto id = static_cast<property_id>(raw_id);
        std::uint32_t number = 0;
        std::string_view text;
        bool ok = true;
        switch (rules[raw_id].type) {
            case value_type::byte: {
                std::uint8_t v = 0;
                ok = in.u8(v);
                number = v;
                break;
            }
            case value_type::two_byte: {
                std::uint16_t v = 0;
                ok = in.u16(v);
                number = v;
                break;
            }
            case value_type::four_byte: ok = in.u32(number); break;
            case value_type::varint: ok = in.varint(number); break;
            case value_type::utf8: ok = in.utf8(text); break;
            case value_type::binary: ok = in.binary(text); break;
            case value_type::utf8_pair: {
                user_property up;
                ok = in.utf8(up.key) && in.utf8(up.value);
                if (ok) out.user_properties.push_back(up);
                break;
            }
            case value_type::none: ok = false; break;
        }
        if (!ok) return r.fail(reason_code::malformed_packet);
        if (!assign(out, id, ctx, number, text)) return r.fail(reason_code::protocol_error);
    }
    return true;
}

namespace {

// Visits every present property in identifier order with (id, type, number, text).
template <typename F>
void for_each_property(const properties& p, F&& f) {
    using P = property_id;
    auto num = [&](P id, const auto& opt, value_type t) {
        if (opt) f(id, t, static_cast<std::uint32_t>(*opt), std::string_view{});
    };
    auto str = [&](P id, const std::optional<std::string_view>& opt, value_type t) {
        if (opt) f(id, t, 0u, *opt);
    };
    num(P::payload_format_indicator, p.payload_format_indicator, value_type::byte);
    num(P::message_expiry_interval, p.message_expiry_interval, value_type::four_byte);
    str(P::content_type, p.content_type, value_type::utf8);
    str(P::response_topic, p.response_topic, value_type::utf8);
    str(P::correlation_data, p.correlation_data, value_type::binary);
    for (auto id : p.subscription_identifiers) f(P::subscription_identifier, value_type::varint, id, std::string_view{});
    num(P::session_expiry_interval, p.session_expiry_interval, value_type::four_byte);
    // The order does not matter to the spec; this is Mosquitto's CONNACK
    // order, which tests written against Mosquitto compare byte for byte.
    num(P::topic_alias_maximum, p.topic_alias_maximum, value_type::two_byte);
    num(P::server_keep_alive, p.server_keep_alive, value_type::two_byte);
    str(P::assigned_client_identifier, p.assigned_client_identifier, value_type::utf8);
    str(P::authentication_method, p.authentication_method, value_type::utf8);
    str(P::authentication_data, p.authentication_data, value_type::binary);
    num(P::retain_available, p.retain_available, value_type::byte);
    num(P::maximum_packet_size, p.maximum_packet_size, value_type::four_byte);
    num(P::receive_maximum, p.receive_maximum, value_type::two_byte);
    num(P::maximum_qos, p.maximum_qos, value_type::byte);
    num(P::request_problem_information, p.request_problem_information, value_type::byte);
    num(P::will_delay_interval, p.will_delay_interval, value_type::four_byte);
    num(P::request_response_information, p.request_response_information, value_type::byte);
    str(P::response_information, p.response_information, value_type::utf8);
    str(P::server_reference, p.server_reference, value_type::utf8);
    str(P::reason_string, p.reason_string, value_type::utf8);
    num(P::topic_alias, p.topic_alias, value_type::two_byte);
    for (const auto& up : p.user_properties) {
        f(P::user_property, value_type::utf8_pair, 0u, up.key);
        // The value travels as a second string right after the key.
        f(P::user_property, value_type::none, 0u, up.value);
    }
    num(P::wildcard_subscription_available, p.wildcard_subscription_available, value_type::byte);
    num(P::subscription_identifier_available, p.subscription_identifier_available, value_type::byte);
    num(P::shared_subscription_available, p.shared_subscription_available, value_type::byte);
}

std::uint32_t value_size(value_type t, std::uint32_t n, std::string_view s) {
    switch (t) {
        case value_type::byte: return 1;
        case value_type::two_byte: return 2;
        case value_type::four_byte: return 4;
        case value_type::varint: return varint_size(n);
        case value_type::utf8:
        case value_type::binary:
        case value_type::utf8_pair:
        case value_type::none: return 2 + static_cast<std::uint32_t>(s.size());
    }
    return 0;
}

}  // namespace

std::uint32_t properties_size(const properties& p) {
    std::uint32_t total = 0;
    for_each_property(p, [&](property_id, value_type t, std::uint32_t n, std::string_view s) {
        total += (t == value_type::none ? 0 : 1) + value_size(t, n, s);
    });
    return total;
}

std::uint32_t properties_block_size(const properties& p) {
    const std::uint32_t size = properties_size(p);
    return varint_size(size) + size;
}

void write_properties(byte_writer& w, const properties& p) {
    w.varint(properties_size(p));
    for_each_property(p, [&](property_id id, value_type t, std::uint32_t n, std::string_view s) {
        if (t != value_type::none) w.u8(static_cast<std::uint8_t>(id));
        switch (t) {
            case value_type::byte: w.u8(static_cast<std::uint8_t>(n)); break;
            case value_type::two_byte: w.u16(static_cast<std::uint16_t>(n)); break;
            case value_type::four_byte: w.u32(n); break;
            case value_type::varint: w.varint(n); break;
            default: w.string(s); break;
        }
    });
}

}  // namespace strata::codec
