// The HTTP API's pure parts: request parsing, the header checks (credentials,
// Host, Origin) and bearer tokens.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "auth/token_file.hpp"
#include "http/request.hpp"
#include "http/request_checks.hpp"

using namespace strata::http;

namespace {

unsigned status_of(const parse_result& r) {
    if (const auto* refusal = std::get_if<api_response>(&r)) return refusal->status;
    return 200;
}

std::string error_of(const parse_result& r) {
    const auto* refusal = std::get_if<api_response>(&r);
    REQUIRE(refusal);
    return refusal->body["error"].get<std::string>();
}

std::filesystem::path temp_file(const std::string& text) {
    auto path = std::filesystem::temp_directory_path() / ("strata-unit-http-" + std::to_string(std::random_device{}()));
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST_CASE("http: requests are parsed into endpoints, with their errors") {
    const auto topics = parse_request("GET", "/api/v1/topics?filter=a/%23&limit=5");
    REQUIRE(std::holds_alternative<parsed_request>(topics));
    CHECK(std::get<parsed_request>(topics).what == endpoint::topics);
    CHECK(std::get<parsed_request>(topics).filter == "a/#");
    CHECK(std::get<parsed_request>(topics).limit == 5);
    CHECK(std::get<parsed_request>(topics).limit == 5);
    CHECK(std::get<parsed_request>(parse_request("GET", "/api/v1/latest")).limit == 1000);
    CHECK(std::get<parsed_request>(parse_request("DELETE", "/api/v1/messages?topic=a&before=2026-01-01")).what ==
          endpoint::purge);

    CHECK(status_of(parse_request("GET", "/nope")) == 404);
    CHECK(status_of(parse_request("POST", "/api/v1/topics")) == 405);
    CHECK(error_of(parse_request("GET", "/api/v1/topics?limit=0")) ==
          "limit: expected an integer from 1 to 10000, got '0'");
    CHECK(error_of(parse_request("GET", "/api/v1/latest?cursor=xyz")) ==
          "cursor: not a cursor returned by this API, got 'xyz'");
    CHECK(error_of(parse_request("GET", "/api/v1/topics?filter=a/%23/b")).starts_with("filter: invalid topic filter"));
    CHECK(error_of(parse_request("GET", "/api/v1/messages?topic=a&from=2026-02-01&to=2026-01-01")) ==
          "from: must be before to (the range is [from, to))");
    CHECK(error_of(parse_request("GET", "/api/v1/series?topic=a/%2B&field=x")).starts_with("topic: a series"));
    CHECK(error_of(parse_request("GET", "/api/v1/topics?%zz")) == "malformed percent-encoding in the query string");

    CHECK(admin_only(endpoint::purge));
    CHECK(admin_only(endpoint::exporters));
    CHECK_FALSE(admin_only(endpoint::messages));
}

TEST_CASE("http: topic cursors round trip and refuse junk") {
    const auto c = encode_topic_cursor("room/1/temp");
    CHECK(decode_topic_cursor(c) == "room/1/temp");
    CHECK_FALSE(decode_topic_cursor("!!"));
    CHECK_FALSE(decode_topic_cursor(""));
    const auto parsed = parse_request("GET", "/api/v1/topics?cursor=" + c);
    CHECK(std::get<parsed_request>(parsed).after_topic == "room/1/temp");
}

TEST_CASE("http: credentials from the Authorization header") {
    auto c = parse_authorization("Basic YWxpY2U6czNjcjN0");  // alice:s3cr3t
    CHECK(c.type == credentials::kind::basic);
    CHECK(c.username == "alice");
    CHECK(c.password == "s3cr3t");
    c = parse_authorization("basic YWxpY2U6YTpi");  // alice:a:b: the password may hold colons
    CHECK(c.password == "a:b");
    CHECK(parse_authorization("Bearer strata_abc").token == "strata_abc");
    CHECK(parse_authorization("").type == credentials::kind::none);
    CHECK(parse_authorization("Basic").type == credentials::kind::malformed);
    CHECK(parse_authorization("Basic !!!").type == credentials::kind::malformed);
    CHECK(parse_authorization("Basic YWxpY2U").type == credentials::kind::malformed);  // "alice": no colon
    CHECK(parse_authorization("Digest x").type == credentials::kind::malformed);
}

TEST_CASE("http: the Host header names this server (DNS rebinding)") {
    const std::vector<std::string> allowed{"broker.example.com"};
    CHECK(host_allowed("127.0.0.1:8080", allowed));
    CHECK(host_allowed("[::1]:8080", allowed));
    CHECK(host_allowed("localhost:8080", allowed));
    CHECK(host_allowed("LocalHost.", allowed));
    CHECK(host_allowed("192.0.2.7", allowed));
    CHECK(host_allowed("Broker.Example.com:443", allowed));
    CHECK_FALSE(host_allowed("evil.example:8080", allowed));
    CHECK_FALSE(host_allowed("localhost.evil.example", allowed));
    CHECK_FALSE(host_allowed("", allowed));
    CHECK_FALSE(host_allowed("[::1", allowed));
    CHECK_FALSE(host_allowed("a:b:c", allowed));
}

TEST_CASE("http: origins of browser requests, and cross-site writes") {
    const std::vector<std::string> cors{"https://dash.example.com"};
    CHECK(classify_origin("", "127.0.0.1:8080", false, cors) == origin_kind::none);
    CHECK(classify_origin("http://127.0.0.1:8080", "127.0.0.1:8080", false, cors) == origin_kind::same);
    CHECK(classify_origin("http://localhost", "localhost:80", false, cors) == origin_kind::same);
    CHECK(classify_origin("https://localhost:8443", "localhost:8443", true, cors) == origin_kind::same);
    CHECK(classify_origin("http://localhost:8443", "localhost:8443", true, cors) == origin_kind::foreign);
    CHECK(classify_origin("http://127.0.0.1:9999", "127.0.0.1:8080", false, cors) == origin_kind::foreign);
    CHECK(classify_origin("null", "127.0.0.1:8080", false, cors) == origin_kind::foreign);
    CHECK(classify_origin("https://dash.example.com", "127.0.0.1:8080", false, cors) == origin_kind::allowed);

    CHECK(cross_site_write(origin_kind::foreign, ""));
    CHECK_FALSE(cross_site_write(origin_kind::none, ""));
    CHECK_FALSE(cross_site_write(origin_kind::same, "same-origin"));
    CHECK_FALSE(cross_site_write(origin_kind::allowed, "cross-site"));
    CHECK(cross_site_write(origin_kind::none, "cross-site"));
    CHECK(cross_site_write(origin_kind::none, "same-site"));
}

TEST_CASE("http: bearer tokens are stored as hashes and found by token") {
    const auto token = strata::auth::token_file::generate();
    CHECK(token.starts_with("strata_"));
    CHECK(token.size() == 7 + 43);
    CHECK(token != strata::auth::token_file::generate());
    const auto line = strata::auth::token_file::line_for("grafana", token);
    CHECK(line.find(token) == std::string::npos);
    CHECK(line == "grafana:sha256:" + strata::auth::sha256_hex(token));
    CHECK(strata::auth::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    const auto path = temp_file("# tokens\n\n" + line + "\nuser:with:colons:sha256:" + std::string(64, 'a') + "\n");
    std::string error;
    const auto file = strata::auth::token_file::load(path.string(), error);
    REQUIRE_MESSAGE(file, error);
    CHECK(file->size() == 2);
    CHECK(file->user_of(token) == "grafana");
    CHECK_FALSE(file->user_of(token + "x"));
    CHECK_FALSE(file->user_of(""));
    std::filesystem::remove(path);

    const auto bad = temp_file("grafana:" + token + "\n");
    CHECK_FALSE(strata::auth::token_file::load(bad.string(), error));
    CHECK(error == bad.string() + ":1: expected USER:sha256:HEX (make lines with strata token add)");
    std::filesystem::remove(bad);
    const auto short_hash = temp_file("a:sha256:abc\n");
    CHECK_FALSE(strata::auth::token_file::load(short_hash.string(), error));
    CHECK(error == short_hash.string() + ":1: user 'a': the hash must be 64 lowercase hex digits");
    std::filesystem::remove(short_hash);
}
