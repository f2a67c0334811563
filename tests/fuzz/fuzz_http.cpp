// libFuzzer target over the HTTP API's request handling that runs before any
// store is read: Beast's request parser with the server's limits, fed in the
// pieces byte 0 chooses, then what the server does with a parsed request
// (target and parameters, Host, Origin, Authorization), and each of those
// functions on the raw input as well.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "http/request.hpp"
#include "http/request_checks.hpp"

namespace {

namespace bhttp = boost::beast::http;
using namespace strata::http;

// As in server.cpp.
constexpr std::uint32_t header_limit = 16 * 1024;
constexpr std::uint64_t body_limit = 4 * 1024;

std::string_view sv(boost::beast::string_view v) { return {v.data(), v.size()}; }

void check_request(std::string_view method, std::string_view target, std::string_view host, std::string_view origin,
                   std::string_view authorization, std::string_view fetch_site) {
    const std::vector<std::string> allowed{"broker.example.com"};
    const std::vector<std::string> cors{"https://dash.example.com"};
    const auto parsed = parse_request(method, target);
    if (const auto* r = std::get_if<parsed_request>(&parsed)) {
        // Whatever parses must be within the documented bounds.
        if ((r->what == endpoint::messages || r->what == endpoint::topics || r->what == endpoint::latest) &&
            (r->limit < 1 || r->limit > 10'000)) {
            __builtin_trap();
        }
        if ((r->what == endpoint::messages || r->what == endpoint::series) && r->from_us >= r->to_us) __builtin_trap();
        if (r->after_topic) (void)encode_topic_cursor(*r->after_topic);
    } else {
        (void)to_text(std::get<api_response>(parsed).body);
    }
    (void)host_allowed(host, allowed);
    const auto kind = classify_origin(origin, host, !host.empty() && host[0] == 's', cors);
    (void)cross_site_write(kind, fetch_site);
    const auto c = parse_authorization(authorization);
    if (c.type == credentials::kind::basic && c.username.find(':') != std::string::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
    // The raw bytes as each field on its own.
    check_request("GET", raw, raw, raw, raw, raw);
    (void)decode_topic_cursor(raw);
    (void)host_name(raw);

    // The bytes as a request stream, split where byte 0 says.
    const std::size_t piece = 1 + data[0] % 64;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    parser.eager(true);
    boost::beast::error_code ec;
    std::string pending;
    for (std::size_t at = 0; at < raw.size() && !parser.is_done(); at += piece) {
        pending.append(raw.substr(at, piece));
        const auto used = parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
        if (ec == bhttp::error::need_more) {
            ec = {};
            continue;
        }
        if (ec) return 0;
        pending.erase(0, used);
    }
    if (!parser.is_header_done()) return 0;
    const auto& req = parser.get();
    check_request(sv(req.method_string()), sv(req.target()), sv(req[bhttp::field::host]), sv(req[bhttp::field::origin]),
                  sv(req[bhttp::field::authorization]), sv(req["Sec-Fetch-Site"]));
    return 0;
}
