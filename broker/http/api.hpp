// The query API as a function from (method, path, parameters) to (status,
// JSON document), without any networking: the HTTP server (server.hpp)
// and `strata query` both call it, so they accept the same parameters,
// give the same error messages and print the same documents.
// docs/http-api.md describes every endpoint.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::storage {
class reader;
class store;
}  // namespace strata::storage

namespace strata::http {

// Decoded query parameters, in request order.
using query_params = std::vector<std::pair<std::string, std::string>>;

struct api_response {
    unsigned status = 200;
    nlohmann::ordered_json body;
    std::string allow;  // methods of the path, for 405 answers
};

// Splits a request target into its path and percent-decoded parameters.
// '+' stays a '+' (it is the MQTT single-level wildcard, not a space); '#'
// must be sent as %23. False with `error` for malformed percent-encoding.
bool parse_target(std::string_view target, std::string& path, query_params& params, std::string& error);

// Compact JSON, with invalid UTF-8 (which the broker never stores in topics
// or client ids) replaced rather than thrown on.
std::string to_text(const nlohmann::ordered_json& doc, int indent = -1);

class api {
public:
    // `writer` is the broker's store, for /health and DELETE; nullptr when
    // reading a store another process writes (strata query).
    api(storage::reader& reader, storage::store* writer) : reader_(reader), writer_(writer) {}

    api_response handle(std::string_view method, std::string_view target);
    api_response handle(std::string_view method, std::string_view path, const query_params& params);
    // GET /api/v1/exporters answers with what this returns (JSON text);
    // without it, the list is empty. Called on the HTTP thread.
    void set_exporters_source(std::function<std::string()> source) { exporters_ = std::move(source); }

private:
    storage::reader& reader_;
    storage::store* writer_;
    std::function<std::string()> exporters_;
};

}  // namespace strata::http
