// A small blocking HTTP/1.1 client for exporters that speak HTTP (Neo4j's
// transactional API), on Boost.Beast. Every step has a deadline, so a server
// that stops answering fails the request instead of holding the exporter's
// thread. Keeps one connection alive between requests. Exporter threads only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace strata::exporters {

struct http_reply {
    unsigned status = 0;
    std::string body;
};

class http_client {
public:
    http_client(std::string host, std::uint16_t port, std::chrono::seconds timeout);
    ~http_client();

    // POSTs `body` (JSON) to `target`; throws export_error on a connection
    // failure or timeout (an HTTP error status is returned, not thrown).
    http_reply post_json(const std::string& target, const std::string& body, const std::string& authorization);
    void close();

private:
    struct state;
    std::string host_;
    std::uint16_t port_;
    std::chrono::seconds timeout_;
    std::unique_ptr<state> state_;
};

// "Basic base64(user:password)".
std::string basic_authorization(const std::string& user, const std::string& password);

}  // namespace strata::exporters
