// The checks of an HTTP request that need only its headers and the
// listener's settings: credentials from the Authorization header, the Host
// header against DNS rebinding, and the Origin of browser requests (CSRF and
// CORS). Pure functions, so the fuzzer and unit tests drive them directly.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace strata::http {

struct credentials {
    enum class kind { none, basic, bearer, malformed };
    kind type = kind::none;
    std::string username;  // basic
    std::string password;  // basic
    std::string token;     // bearer
};

// "Basic base64(user:password)" or "Bearer TOKEN" (scheme case-insensitive);
// anything else is malformed. An empty header is none.
credentials parse_authorization(std::string_view header);

// The host name of a Host header ("name:port", "[v6]:port"), lowercase,
// without a trailing dot; empty when malformed.
std::string host_name(std::string_view host_header);

// A Host the API answers: an IP address (a page cannot rebind a DNS name to
// one), `localhost`, or one of `allowed` (case-insensitive).
bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed);

enum class origin_kind {
    none,     // no Origin header: not a browser's cross-origin request (curl, scripts, same-origin GET)
    same,     // the page came from this listener (scheme, host and port)
    allowed,  // another origin listed in http_cors_origin
    foreign,  // any other origin, "null" included
};
origin_kind classify_origin(std::string_view origin, std::string_view host_header, bool tls,
                            const std::vector<std::string>& cors_origins);

// Whether a request that changes data is refused as cross-site (CSRF): a
// foreign Origin, or a browser's Sec-Fetch-Site saying the page came from
// elsewhere without an allowed Origin.
bool cross_site_write(origin_kind origin, std::string_view sec_fetch_site);

}  // namespace strata::http
