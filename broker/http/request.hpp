// A request of the HTTP API as typed values: the method and target parsed
// and checked (path, parameters, each one's syntax and range) without a
// store or a socket, so `strata query`, the server and the fuzzer share one
// parser and one set of error messages. docs/http-api.md describes every
// endpoint; api.hpp runs a parsed request against the store.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "query_params.hpp"
#include "series.hpp"

namespace strata::http {

// Decoded query parameters, in request order.
using query_params = std::vector<std::pair<std::string, std::string>>;

struct api_response {
    unsigned status = 200;
    nlohmann::ordered_json body;
    std::string allow;  // methods of the path, for 405 answers
};

api_response error_response(unsigned status, std::string message, std::string allow = {});

// Splits a request target into its path and percent-decoded parameters.
// '+' stays a '+' (it is the MQTT single-level wildcard, not a space); '#'
// must be sent as %23. False with `error` for malformed percent-encoding.
bool parse_target(std::string_view target, std::string& path, query_params& params, std::string& error);

// Compact JSON, with invalid UTF-8 (which the broker never stores in topics
// or client ids) replaced rather than thrown on.
std::string to_text(const nlohmann::ordered_json& doc, int indent = -1);

enum class endpoint { health, topics, latest, messages, purge, series, exporters };

// Whether an endpoint needs a user named in http_admin.
bool admin_only(endpoint e);

struct parsed_request {
    endpoint what = endpoint::health;
    // topics, latest, messages, purge: a topic filter; series: a topic name.
    // As the client wrote it: the listener's mount point is not applied yet.
    std::string filter;
    std::string field;  // series
    std::uint64_t from_us = 0;
    std::uint64_t to_us = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t before_us = 0;  // purge
    std::size_t limit = 0;        // topics, latest, messages
    std::optional<storage::position> after;  // messages: the cursor
    std::optional<std::string> after_topic;  // topics, latest: the cursor (a topic name as the client sees it)
    std::string step_text;                    // series
    std::uint64_t step_us = 0;
    storage::aggregation agg = storage::aggregation::avg;
};

// The request, or the answer that refuses it (400, 404, 405).
using parse_result = std::variant<parsed_request, api_response>;
parse_result parse_request(std::string_view method, std::string_view target);
parse_result parse_request(std::string_view method, std::string_view path, const query_params& params);

// The cursor of a page of topics: opaque to clients (base64url of the last topic's name).
std::string encode_topic_cursor(std::string_view topic);
std::optional<std::string> decode_topic_cursor(std::string_view text);

}  // namespace strata::http
