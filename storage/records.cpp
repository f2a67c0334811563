#include "records.hpp"

namespace strata::storage {

namespace {

constexpr std::uint8_t format_v1 = 1;
// A message record with its publisher's username and listener (message_record::has_source).
constexpr std::uint8_t message_format_with_source = 2;

// A bounds-checked cursor over a stored value.
class cursor {
public:
    explicit cursor(std::string_view b) : b_(b) {}
    bool u8(std::uint8_t& v) {
        if (b_.size() < 1) return false;
        v = static_cast<std::uint8_t>(b_[0]);
        b_.remove_prefix(1);
        return true;
    }
    bool u16(std::uint16_t& v) {
        if (b_.size() < 2) return false;
        v = get_u16(b_.data());
        b_.remove_prefix(2);
        return true;
    }
    bool u32(std::uint32_t& v) {
        if (b_.size() < 4) return false;
        v = get_u32(b_.data());
        b_.remove_prefix(4);
        return true;
    }
    bool u64(std::uint64_t& v) {
        if (b_.size() < 8) return false;
        v = get_u64(b_.data());
        b_.remove_prefix(8);
        return true;
    }
    bool bytes(std::size_t n, std::string_view& v) {
        if (b_.size() < n) return false;
        v = b_.substr(0, n);
        b_.remove_prefix(n);
        return true;
    }
    bool text16(std::string_view& v) {
        std::uint16_t n = 0;
        return u16(n) && bytes(n, v);
    }
    std::string_view rest() const { return b_; }
    bool at_end() const { return b_.empty(); }

private:
    std::string_view b_;
};

}  // namespace

void encode_message(std::string& out, const message_record& m) {
    out.push_back(static_cast<char>(m.has_source ? message_format_with_source : format_v1));
    out.push_back(static_cast<char>((m.qos & 0x03) | (m.retain ? 0x04 : 0) | (m.has_expiry ? 0x08 : 0)));
    if (m.has_expiry) put_u32(out, m.expiry_interval);
    put_u16(out, static_cast<std::uint16_t>(m.client_id.size()));
    out += m.client_id;
    if (m.has_source) {
        out.push_back(static_cast<char>(m.has_username ? 1 : 0));
        put_u16(out, static_cast<std::uint16_t>(m.username.size()));
        out += m.username;
        put_u16(out, m.listener);
    }
    put_u32(out, static_cast<std::uint32_t>(m.properties.size()));
    out += m.properties;
    out += m.payload;
}

bool decode_message(std::string_view bytes, message_record& out) {
    cursor c(bytes);
    std::uint8_t format = 0, flags = 0;
    if (!c.u8(format) || (format != format_v1 && format != message_format_with_source) || !c.u8(flags)) return false;
    out.qos = flags & 0x03;
    out.retain = flags & 0x04;
    out.has_expiry = flags & 0x08;
    out.expiry_interval = 0;
    if (out.has_expiry && !c.u32(out.expiry_interval)) return false;
    if (!c.text16(out.client_id)) return false;
    out.has_source = format == message_format_with_source;
    out.has_username = false;
    out.username = {};
    out.listener = 0;
    if (out.has_source) {
        std::uint8_t has_username = 0;
        if (!c.u8(has_username) || !c.text16(out.username) || !c.u16(out.listener)) return false;
        out.has_username = has_username != 0;
    }
    std::uint32_t props = 0;
    if (!c.u32(props) || !c.bytes(props, out.properties)) return false;
    out.payload = c.rest();
    return true;
}

std::string encode_stats(const topic_stats& s) {
    std::string out;
    put_u64(out, s.count);
    put_u64(out, s.first_us);
    put_u64(out, s.last_us);
    return out;
}

bool decode_stats(std::string_view bytes, topic_stats& out) {
    cursor c(bytes);
    return c.u64(out.count) && c.u64(out.first_us) && c.u64(out.last_us) && c.at_end();
}

std::string encode_session(const session_record& s) {
    std::string out;
    out.push_back(static_cast<char>(format_v1));
    out.push_back(static_cast<char>(s.protocol_version));
    put_u32(out, s.expiry_interval);
    put_u64(out, s.disconnected_us);
    put_u32(out, static_cast<std::uint32_t>(s.subscriptions.size()));
    for (const auto& sub : s.subscriptions) {
        put_u16(out, static_cast<std::uint16_t>(sub.filter.size()));
        out += sub.filter;
        out.push_back(static_cast<char>(sub.options));
        put_u32(out, sub.identifier);
    }
    out.push_back(static_cast<char>(s.has_username ? 1 : 0));
    put_u16(out, static_cast<std::uint16_t>(s.username.size()));
    out += s.username;
    put_u16(out, s.listener);
    put_u32(out, s.incarnation);
    return out;
}

bool decode_session(std::string_view bytes, session_record& out) {
    cursor c(bytes);
    std::uint8_t format = 0;
    std::uint32_t n = 0;
    if (!c.u8(format) || format != format_v1 || !c.u8(out.protocol_version) || !c.u32(out.expiry_interval) ||
        !c.u64(out.disconnected_us) || !c.u32(n)) {
        return false;
    }
    out.subscriptions.clear();
    for (std::uint32_t i = 0; i < n; ++i) {
        std::string_view filter;
        stored_subscription sub;
        if (!c.text16(filter) || !c.u8(sub.options) || !c.u32(sub.identifier)) return false;
        sub.filter = std::string(filter);
        out.subscriptions.push_back(std::move(sub));
    }
    if (c.at_end()) return true;  // written before usernames were kept
    std::uint8_t has_username = 0;
    std::string_view username;
    if (!c.u8(has_username) || !c.text16(username) || !c.u16(out.listener)) return false;
    out.has_username = has_username != 0;
    out.username = std::string(username);
    out.incarnation = 0;
    if (c.at_end()) return true;  // written before incarnations were kept
    return c.u32(out.incarnation) && c.at_end();
}

std::string encode_delivery(const delivery_record& d) {
    std::string out;
    out.push_back(static_cast<char>(format_v1));
    out.push_back(static_cast<char>(d.state));
    put_u16(out, d.packet_id);
    out.push_back(static_cast<char>(d.qos));
    out.push_back(static_cast<char>(d.retain ? 1 : 0));
    out.push_back(static_cast<char>(d.subscription_ids.size()));
    for (auto id : d.subscription_ids) put_u32(out, id);
    out += encode_message_key(d.message);
    return out;
}

bool decode_delivery(std::string_view bytes, delivery_record& out) {
    cursor c(bytes);
    std::uint8_t format = 0, state = 0, retain = 0, ids = 0;
    if (!c.u8(format) || format != format_v1 || !c.u8(state) || state > 2 || !c.u16(out.packet_id) || !c.u8(out.qos) ||
        !c.u8(retain) || !c.u8(ids)) {
        return false;
    }
    out.state = static_cast<delivery_state>(state);
    out.retain = retain != 0;
    out.subscription_ids.clear();
    for (std::uint8_t i = 0; i < ids; ++i) {
        std::uint32_t id = 0;
        if (!c.u32(id)) return false;
        out.subscription_ids.push_back(id);
    }
    std::string_view key;
    return c.bytes(message_key_size, key) && decode_message_key(key, out.message) && c.at_end();
}

void encode_retained(std::string& out, const retained_record& r) {
    put_u64(out, r.order);
    put_u64(out, r.ts_us);
    encode_message(out, r.message);
}

bool decode_retained(std::string_view bytes, retained_record& out) {
    cursor c(bytes);
    return c.u64(out.order) && c.u64(out.ts_us) && decode_message(c.rest(), out.message);
}

}  // namespace strata::storage
