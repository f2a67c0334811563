#include "codec/utf8.hpp"

#include <cstdint>

namespace strata::codec {
namespace {

bool validate(std::string_view s, bool allow_nul) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            if (c == 0 && !allow_nul) return false;
            ++p;
            continue;
        }
        std::uint32_t cp;
        int extra;
        if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            extra = 1;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            extra = 2;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07;
            extra = 3;
        } else {
            return false;
        }
        if (end - p <= extra) return false;
        for (int i = 1; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static constexpr std::uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[extra]) return false;        // overlong
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;      // surrogate
        if (cp > 0x10FFFF) return false;
        p += extra + 1;
    }
    return true;
}

}  // namespace

bool is_valid_mqtt_utf8(std::string_view s) { return validate(s, false); }
bool is_valid_utf8(std::string_view s) { return validate(s, true); }

}  // namespace strata::codec
