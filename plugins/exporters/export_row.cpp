#include "export_row.hpp"

namespace strata::exporters {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (0: none,
// or U+0000), by the rules of codec::is_valid_utf8.
std::size_t utf8_sequence(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c == 0xED) n = 3, hi = 0x9F;  // no surrogates
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) n = 4, hi = 0x8F;
    else return 0;
    if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i) {
        if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    }
    return n;
}

}  // namespace

std::string reason_text(std::string_view message, std::size_t limit) {
    std::string out;
    out.reserve(std::min(message.size(), limit));
    while (!message.empty()) {
        const std::size_t n = utf8_sequence(message);
        std::string_view piece = n == 0 ? std::string_view("?") : message.substr(0, n);
        if (piece == "\n" || piece == "\r" || piece == "\t") piece = " ";  // one line, for logs and tables
        if (out.size() + piece.size() > limit) {
            out += "...";
            break;
        }
        out += piece;
        message.remove_prefix(n == 0 ? 1 : n);
    }
    return out;
}

void make_misfit(export_row& row, std::string reason, const std::string* raw) {
    row.error = std::move(reason);
    if (raw) row.payload = *raw;
    else if (row.payload.empty() && !row.fields.is_null())
        row.payload = row.fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    row.fields = nullptr;
}

}  // namespace strata::exporters
