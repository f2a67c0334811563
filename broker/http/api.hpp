// The HTTP API as a function from (parsed request, who asks) to (status,
// JSON document), without any networking: the HTTP server (server.hpp) and
// `strata query` both call it, so they give the same documents.
// docs/http-api.md describes every endpoint.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "http/request.hpp"

namespace strata::storage {
class reader;
class store;
class topic_gate;
}  // namespace strata::storage

namespace strata::http {

// What the asker may see and do: the part of the tree (mount point), the
// topics they may read, whether they may delete. The default sees all.
struct request_scope {
    std::string mount_point;               // prefix of every topic the asker sees
    storage::topic_gate* gate = nullptr;   // the topics they may read (null: all), in store names
    bool admin = true;                     // may delete and see exporters
};

class api {
public:
    // `writer` is the broker's store, for /health and DELETE; nullptr when
    // reading a store another process writes (strata query).
    api(storage::reader& reader, storage::store* writer) : reader_(reader), writer_(writer) {}

    // Parses and answers; scope defaults to everything.
    api_response handle(std::string_view method, std::string_view target, const request_scope& scope = {});
    api_response handle(std::string_view method, std::string_view path, const query_params& params,
                        const request_scope& scope = {});
    api_response run(const parsed_request& request, const request_scope& scope);
    // GET /api/v1/exporters answers with what this returns (JSON text);
    // without it, the list is empty. Called on an HTTP thread.
    void set_exporters_source(std::function<std::string()> source) { exporters_ = std::move(source); }

private:
    storage::reader& reader_;
    storage::store* writer_;
    std::function<std::string()> exporters_;
};

}  // namespace strata::http
