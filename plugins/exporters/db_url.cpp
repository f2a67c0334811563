#include "db_url.hpp"

#include <charconv>

namespace strata::exporters {

std::optional<db_url> parse_db_url(const std::string& text, std::uint16_t default_port) {
    db_url u;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string::npos || scheme_end == 0) return std::nullopt;
    u.scheme = text.substr(0, scheme_end);
    std::string rest = text.substr(scheme_end + 3);
    if (const auto slash = rest.find('/'); slash != std::string::npos) {
        u.database = rest.substr(slash + 1);
        rest.resize(slash);
    }
    if (const auto at = rest.rfind('@'); at != std::string::npos) {
        u.user = rest.substr(0, at);
        if (u.user.find(':') != std::string::npos) return std::nullopt;  // a password in the URL: refused
        rest = rest.substr(at + 1);
    }
    u.port = default_port;
    // [v6 address]:port, host:port or host.
    std::string port_text;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string::npos) return std::nullopt;
        u.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return std::nullopt;
            port_text = rest.substr(close + 2);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        u.host = rest.substr(0, colon);
        port_text = rest.substr(colon + 1);
    } else {
        u.host = rest;
    }
    if (!port_text.empty()) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
            return std::nullopt;
        }
        u.port = static_cast<std::uint16_t>(value);
    }
    if (u.host.empty()) return std::nullopt;
    return u;
}

}  // namespace strata::exporters
