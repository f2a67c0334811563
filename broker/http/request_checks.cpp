#include "http/request_checks.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

#include "query_params.hpp"

namespace strata::http {

namespace {

std::string lowercase(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
    return out;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lowercase(a) == lowercase(b); }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_ip_address(const std::string& name) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(name, ec);
    return !ec;
}

// "host:port" or "[v6]:port" or "host" with the port that `tls` implies.
std::string authority_of(std::string_view host_header, bool tls) {
    std::string host = host_name(host_header);
    if (host.empty()) return {};
    std::string_view rest = trim(host_header);
    std::string port = tls ? "443" : "80";
    const auto close = rest.rfind(']');
    const auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
        port = std::string(rest.substr(colon + 1));
    }
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return host + ":" + port;
}

}  // namespace

credentials parse_authorization(std::string_view header) {
    credentials c;
    header = trim(header);
    if (header.empty()) return c;
    const auto space = header.find(' ');
    const auto scheme = header.substr(0, space);
    const auto value = space == std::string_view::npos ? std::string_view() : trim(header.substr(space + 1));
    c.type = credentials::kind::malformed;
    if (value.empty()) return c;
    if (iequals(scheme, "Bearer")) {
        c.type = credentials::kind::bearer;
        c.token = std::string(value);
        return c;
    }
    if (!iequals(scheme, "Basic")) return c;
    // Standard base64 with padding; turned into the URL-safe alphabet the
    // decoder reads, without the padding.
    std::string text(value);
    while (!text.empty() && text.back() == '=') text.pop_back();
    for (auto& ch : text) {
        if (ch == '+') ch = '-';
        else if (ch == '/') ch = '_';
        else if (ch == '-' || ch == '_') return c;  // not in the standard alphabet
    }
    const auto decoded = storage::base64url_decode(text);
    if (!decoded) return c;
    const auto colon = decoded->find(':');
    if (colon == std::string::npos) return c;
    c.type = credentials::kind::basic;
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
    return c;
}

std::string host_name(std::string_view host_header) {
    auto h = trim(host_header);
    if (h.empty()) return {};
    std::string_view name;
    if (h.front() == '[') {
        const auto close = h.find(']');
        if (close == std::string_view::npos) return {};
        name = h.substr(1, close - 1);
        const auto rest = h.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return {};
    } else {
        const auto colon = h.find(':');
        name = h.substr(0, colon);
        if (colon != std::string_view::npos && h.find(':', colon + 1) != std::string_view::npos) return {};
    }
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) return {};
    return lowercase(name);
}

bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed) {
    const auto name = host_name(host_header);
    if (name.empty()) return false;
    if (name == "localhost" || is_ip_address(name)) return true;
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return host_name(a) == name; });
}

origin_kind classify_origin(std::string_view origin, std::string_view host_header, bool tls,
                            const std::vector<std::string>& cors_origins) {
    origin = trim(origin);
    if (origin.empty()) return origin_kind::none;
    if (std::any_of(cors_origins.begin(), cors_origins.end(), [&](const std::string& o) { return iequals(o, origin); })) {
        return origin_kind::allowed;
    }
    const std::string_view scheme = tls ? "https://" : "http://";
    if (origin.size() > scheme.size() && iequals(origin.substr(0, scheme.size()), scheme)) {
        const auto own = authority_of(host_header, tls);
        if (!own.empty() && authority_of(origin.substr(scheme.size()), tls) == own) return origin_kind::same;
    }
    return origin_kind::foreign;
}

bool cross_site_write(origin_kind origin, std::string_view sec_fetch_site) {
    if (origin == origin_kind::foreign) return true;
    if (origin == origin_kind::allowed || origin == origin_kind::same) return false;
    sec_fetch_site = trim(sec_fetch_site);
    return iequals(sec_fetch_site, "cross-site") || iequals(sec_fetch_site, "same-site");
}

}  // namespace strata::http
