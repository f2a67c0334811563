#include "keys.hpp"

namespace strata::storage {

void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_u64(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

std::uint16_t get_u16(const char* p) {
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

std::uint32_t get_u32(const char* p) {
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

std::uint64_t get_u64(const char* p) { return (std::uint64_t{get_u32(p)} << 32) | get_u32(p + 4); }

std::string encode_message_key(const message_key& k) {
    std::string out;
    out.reserve(message_key_size);
    put_u64(out, k.topic_id);
    put_u64(out, k.ts_us);
    put_u32(out, k.seq);
    return out;
}

void encode_message_key(const message_key& k, char* out) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(k.topic_id >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<char>(k.ts_us >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) out[16 + i] = static_cast<char>(k.seq >> (24 - 8 * i));
}

bool decode_message_key(std::string_view bytes, message_key& out) {
    if (bytes.size() != message_key_size) return false;
    out.topic_id = get_u64(bytes.data());
    out.ts_us = get_u64(bytes.data() + 8);
    out.seq = get_u32(bytes.data() + 16);
    return true;
}

std::string topic_prefix(std::uint64_t topic_id) {
    std::string out;
    put_u64(out, topic_id);
    return out;
}

std::string message_key_at(std::uint64_t topic_id, std::uint64_t ts_us) {
    std::string out = topic_prefix(topic_id);
    put_u64(out, ts_us);
    return out;
}

std::string topic_name_key(std::string_view name) {
    std::string out = "n";
    out += name;
    return out;
}

std::string topic_id_key(std::uint64_t topic_id) {
    std::string out = "i";
    put_u64(out, topic_id);
    return out;
}

std::string topic_stats_key(std::uint64_t topic_id) {
    std::string out = "s";
    put_u64(out, topic_id);
    return out;
}

std::string session_key(std::string_view client_id) {
    std::string out = "s";
    out += client_id;
    return out;
}

std::string delivery_prefix(std::string_view client_id) {
    std::string out = "d";
    out += client_id;
    out.push_back('\0');
    return out;
}

std::string delivery_key(std::string_view client_id, std::uint64_t delivery_seq) {
    std::string out = delivery_prefix(client_id);
    put_u64(out, delivery_seq);
    return out;
}

std::string inbound_prefix(std::string_view client_id) {
    std::string out = "q";
    out += client_id;
    out.push_back('\0');
    return out;
}

std::string inbound_key(std::string_view client_id, std::uint16_t packet_id) {
    std::string out = inbound_prefix(client_id);
    put_u16(out, packet_id);
    return out;
}

std::string prefix_end(std::string prefix) {
    // 0xFF bytes roll over; a prefix of only 0xFF has no end (never the case here).
    while (!prefix.empty()) {
        auto& last = prefix.back();
        if (static_cast<unsigned char>(last) != 0xFF) {
            last = static_cast<char>(static_cast<unsigned char>(last) + 1);
            return prefix;
        }
        prefix.pop_back();
    }
    return prefix;
}

}  // namespace strata::storage
