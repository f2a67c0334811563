#include "query_params.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>

namespace strata::storage {

namespace {

constexpr std::uint64_t us_per_second = 1'000'000;
constexpr std::uint64_t us_per_day = 86'400 * us_per_second;
// 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years.
constexpr std::uint64_t max_epoch_ms = 253'402'300'799'999;

constexpr const char* time_syntax =
    "expected an RFC 3339 time such as 2026-11-24T10:00:00Z (fraction and offset allowed) or epoch milliseconds";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `n` decimal digits at `pos`.
bool read_digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (!is_digit(s[i])) return false;
        out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
}

std::optional<std::uint64_t> fail(std::string& error, std::string message) {
    error = std::move(message);
    return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> parse_time(std::string_view text, std::string& error) {
    if (text.empty()) return fail(error, time_syntax);
    if (text.find_first_not_of("0123456789") == std::string_view::npos) {
        std::uint64_t ms = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
        if (ec != std::errc() || end != text.data() + text.size() || ms > max_epoch_ms) {
            return fail(error, "epoch milliseconds beyond the year 9999");
        }
        return ms * 1000;
    }

    unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' || !read_digits(text, 5, 2, month) ||
        text[7] != '-' || !read_digits(text, 8, 2, day)) {
        return fail(error, time_syntax);
    }
    std::int64_t offset_seconds = 0;
    std::uint64_t fraction_us = 0;
    if (text.size() > 10) {
        // date-time: T (or t, or a space, as RFC 3339 section 5.6 allows), then HH:MM:SS
        const char sep = text[10];
        if ((sep != 'T' && sep != 't' && sep != ' ') || !read_digits(text, 11, 2, hour) || text.size() < 19 ||
            text[13] != ':' || !read_digits(text, 14, 2, minute) || text[16] != ':' ||
            !read_digits(text, 17, 2, second)) {
            return fail(error, time_syntax);
        }
        std::size_t pos = 19;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            const std::size_t start = pos;
            std::uint64_t scale = 100'000;
            while (pos < text.size() && is_digit(text[pos])) {
                fraction_us += static_cast<std::uint64_t>(text[pos] - '0') * scale;  // digits past µs add 0
                scale /= 10;
                ++pos;
            }
            if (pos == start) return fail(error, time_syntax);
        }
        if (pos >= text.size()) return fail(error, "missing time zone: end with Z or an offset such as +01:00");
        const char zone = text[pos];
        if (zone == 'Z' || zone == 'z') {
            ++pos;
        } else if (zone == '+' || zone == '-') {
            unsigned oh = 0, om = 0;
            if (!read_digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
                !read_digits(text, pos + 4, 2, om)) {
                return fail(error, time_syntax);
            }
            if (oh > 23 || om > 59) return fail(error, "time zone offset out of range");
            offset_seconds = (zone == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
            pos += 6;
        } else {
            return fail(error, time_syntax);
        }
        if (pos != text.size()) return fail(error, time_syntax);
    }
    using namespace std::chrono;
    const year_month_day date{std::chrono::year{static_cast<int>(year)}, std::chrono::month{month},
                              std::chrono::day{day}};
    if (!date.ok()) return fail(error, "no such date");
    // RFC 3339 allows a leap second (60); the store's clock never produces one.
    if (hour > 23 || minute > 59 || second > 59) return fail(error, "hour, minute or second out of range");
    const std::int64_t days = sys_days(date).time_since_epoch().count();
    const std::int64_t seconds = days * 86'400 + hour * 3600 + minute * 60 + second - offset_seconds;
    if (seconds < 0) return fail(error, "before 1970-01-01T00:00:00Z");
    return static_cast<std::uint64_t>(seconds) * us_per_second + fraction_us;
}

std::string format_time(std::uint64_t us) {
    using namespace std::chrono;
    const auto days = static_cast<std::int64_t>(us / us_per_day);
    const std::uint64_t in_day = us % us_per_day;
    const year_month_day date{sys_days{std::chrono::days{days}}};
    const auto secs = in_day / us_per_second;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%06uZ", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<unsigned>(secs / 3600), static_cast<unsigned>(secs / 60 % 60),
                  static_cast<unsigned>(secs % 60), static_cast<unsigned>(in_day % us_per_second));
    return buf;
}

std::optional<std::uint64_t> parse_step(std::string_view text, std::string& error) {
    constexpr const char* syntax = "expected a duration such as 30s, 1m, 5m, 1h or 1d (units ms, s, m, h, d, w)";
    const auto unit_at = text.find_first_not_of("0123456789");
    if (unit_at == 0 || unit_at == std::string_view::npos || unit_at > 12) return fail(error, syntax);
    std::uint64_t n = 0;
    std::from_chars(text.data(), text.data() + unit_at, n);
    const auto unit = text.substr(unit_at);
    std::uint64_t scale = 0;
    if (unit == "ms") scale = 1000;
    else if (unit == "s") scale = us_per_second;
    else if (unit == "m" || unit == "min") scale = 60 * us_per_second;
    else if (unit == "h") scale = 3600 * us_per_second;
    else if (unit == "d") scale = us_per_day;
    else if (unit == "w") scale = 7 * us_per_day;
    else return fail(error, syntax);
    if (n == 0) return fail(error, "a step must be longer than zero");
    // Compared by division so that no product overflows; the bound keeps buckets meaningful.
    if (n > 3650 * us_per_day / scale) return fail(error, "a step can be at most 3650d");
    return n * scale;
}

std::string base64_encode(std::string_view bytes, bool url_safe) {
    const char* alphabet = url_safe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                    : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(v >> shift) & 0x3F]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        const std::uint32_t v = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
        out.push_back(alphabet[(v >> 18) & 0x3F]);
        out.push_back(alphabet[(v >> 12) & 0x3F]);
        if (rest == 2) out.push_back(alphabet[(v >> 6) & 0x3F]);
        if (!url_safe) out.append(rest == 1 ? "==" : "=");
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    const auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '-') return 62;
        if (c == '_') return 63;
        return -1;
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // Leftover bits must be zero, so that one cursor has one spelling.
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

namespace {
constexpr char cursor_version = 1;
constexpr std::size_t cursor_size = 1 + 8 + 8 + 4;
}  // namespace

std::string encode_cursor(const position& p) {
    std::string raw(1, cursor_version);
    put_u64(raw, p.ts_us);
    put_u64(raw, p.topic_id);
    put_u32(raw, p.seq);
    return base64_encode(raw, true);
}

std::optional<position> decode_cursor(std::string_view text) {
    const auto raw = base64url_decode(text);
    if (!raw || raw->size() != cursor_size || (*raw)[0] != cursor_version) return std::nullopt;
    return position{get_u64(raw->data() + 1), get_u64(raw->data() + 9), get_u32(raw->data() + 17)};
}

std::optional<message_key> resume_key(std::uint64_t topic_id, const position& after) {
    constexpr auto max_ts = std::numeric_limits<std::uint64_t>::max();
    constexpr auto max_seq = std::numeric_limits<std::uint32_t>::max();
    if (topic_id < after.topic_id) {
        // Sorts before the cursor's topic at equal timestamps: only later timestamps remain.
        if (after.ts_us == max_ts) return std::nullopt;
        return message_key{topic_id, after.ts_us + 1, 0};
    }
    if (topic_id == after.topic_id) {
        if (after.seq != max_seq) return message_key{topic_id, after.ts_us, after.seq + 1};
        if (after.ts_us == max_ts) return std::nullopt;
        return message_key{topic_id, after.ts_us + 1, 0};
    }
    // Sorts after the cursor's topic: its messages at the cursor's timestamp are still to come.
    return message_key{topic_id, after.ts_us, 0};
}

}  // namespace strata::storage
