// The HTTP listeners of the query API (http_listener in the conf): Beast on
// a thread of its own, so database reads never run on an MQTT worker thread.
// Keep-alive connections, bounded requests, an idle timeout per connection
// and a time budget per query.
#pragma once

#include <utility>  // before Boost.Asio 1.74: its awaitable.hpp forgets it

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/broker_config.hpp"

namespace strata {
class logger;
}
namespace strata::storage {
class reader;
class store;
}  // namespace strata::storage

namespace strata::http {

class api;
struct connection_registry;

struct bound_endpoint {
    std::string address;
    std::uint16_t port = 0;
};

class server {
public:
    server(storage::store& s, logger& log);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds one acceptor per address of each listener; false with `error`.
    bool open(const std::vector<config::http_listener_config>& listeners, std::string& error);
    // Starts accepting on the server's thread.
    void start();
    // Stops accepting, closes every connection and joins the thread (a
    // request being answered finishes first). Call before the store stops:
    // a purge waits for the store's writer.
    void stop();

    const std::vector<bound_endpoint>& endpoints() const { return endpoints_; }
    // Before start(): where GET /api/v1/exporters gets its answer.
    void set_exporters_source(std::function<std::string()> source);

private:
    void accept_next(std::size_t index);

    logger& log_;
    boost::asio::io_context io_{1};
    std::unique_ptr<storage::reader> reader_;
    std::unique_ptr<api> api_;
    std::shared_ptr<connection_registry> connections_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
    std::vector<bound_endpoint> endpoints_;
    std::thread thread_;
};

}  // namespace strata::http
