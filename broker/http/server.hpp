// The HTTP listeners of the API (http_listener in the conf): Beast on an I/O
// thread of its own, HTTPS where the listener has a certificate, and a pool
// of query threads (query_pool.hpp) that authenticate, authorize and answer,
// so neither database reads nor password checks run on an MQTT worker thread
// or hold up other HTTP clients. Keep-alive connections, bounded requests,
// an idle timeout per connection and a time budget per query.
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

namespace boost::asio::ssl {
class context;
}
namespace strata {
class logger;
}
namespace strata::auth {
class login_throttle;
class security;
}  // namespace strata::auth
namespace strata::plugin {
class http_requests;
}
namespace strata::storage {
class store;
}

namespace strata::http {

class access_control;
class query_pool;
struct connection_registry;

struct bound_endpoint {
    std::string address;
    std::uint16_t port = 0;
    bool tls = false;
};

// What a connection needs of its listener.
struct listener_settings {
    config::http_listener_config config;
    std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
};

class server {
public:
    // `plugins` may be null (no plugin host).
    server(storage::store& s, logger& log, auth::login_throttle& throttle, plugin::http_requests* plugins);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds one acceptor per address of each listener (loopback only without
    // an address) and builds their TLS contexts; false with `error`.
    bool open(const config::http_config& cfg, std::string& error);
    // Who may do what (start-up, and SIGHUP's new password, ACL and token files).
    void configure(std::shared_ptr<const auth::security> security, const config::http_config& cfg);
    // SIGHUP: the listeners' keys (TLS files, anonymous access, mount point)
    // for new connections, when the listeners are the same ports and
    // addresses; false with `error` saying what waits for a restart.
    bool reload(const config::http_config& cfg, std::string& error);
    // Starts accepting on the server's thread.
    void start();
    // Stops accepting, closes every connection and joins the threads (a
    // request being answered finishes first). Call before the store stops:
    // a purge waits for the store's writer.
    void stop();

    const std::vector<bound_endpoint>& endpoints() const { return endpoints_; }
    // Before start(): where GET /api/v1/exporters gets its answer.
    void set_exporters_source(std::function<std::string()> source);

private:
    struct acceptor_entry;
    void accept_next(std::size_t index);

    logger& log_;
    boost::asio::io_context io_{1};
    std::unique_ptr<query_pool> pool_;
    std::unique_ptr<access_control> access_;
    std::shared_ptr<connection_registry> connections_;
    std::shared_ptr<const config::http_config> http_cfg_;
    std::vector<std::unique_ptr<acceptor_entry>> acceptors_;
    std::vector<bound_endpoint> endpoints_;
    std::vector<config::http_listener_config> opened_;  // as open() bound them
    std::thread thread_;
};

}  // namespace strata::http
