// The HTTP listeners of the API (http_listener in the conf): Beast on an I/O
// thread of its own, HTTPS where the listener has a certificate, and a pool
// of query threads (query_pool.hpp) that authenticate, authorize and answer,
// so neither database reads nor password checks run on an MQTT worker thread
// or hold up other HTTP clients. Keep-alive connections, bounded requests,
// an idle timeout per connection and a time budget per query. SIGHUP opens,
// closes and reconfigures listeners while the others keep their sockets
// (docs/http-api.md, "Reloading").
#pragma once

#include <utility>  // before Boost.Asio 1.74: its awaitable.hpp forgets it

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "config/broker_config.hpp"
#include "http/listeners.hpp"

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

// What a reload of the listeners could not do; the rest of it is done.
struct listeners_report {
    std::vector<std::string> not_opened;        // file:line: why a new listener is not open
    std::vector<std::string> tls_not_reloaded;  // file:line: why a kept listener keeps its TLS files
    bool endpoints_changed = false;             // the ports file is out of date
};

class server {
public:
    // `plugins` may be null (no plugin host).
    server(storage::store& s, logger& log, auth::login_throttle& throttle, plugin::http_requests* plugins);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Start-up, before start(): binds one acceptor per address of each
    // listener (loopback only without an address) and builds their TLS
    // contexts; false with `error` (file:line: reason) if any fails.
    bool open(const config::http_config& cfg, std::string& error);
    // Who may do what (start-up, and SIGHUP's new password, ACL and token files).
    void configure(std::shared_ptr<const auth::security> security, const config::http_config& cfg);
    // SIGHUP (main thread; returns once applied): listeners no longer in the
    // conf stop accepting and their connections close after the request they
    // are answering; new ones are bound and accept; the ones kept (same
    // address and port, see match_listeners) keep their sockets and take
    // their new keys (TLS files, anonymous access, mount point) for new
    // connections. What fails is reported and leaves the rest running.
    listeners_report reload(const config::http_config& cfg);
    // Starts accepting on the server's thread.
    void start();
    // Stops accepting, closes every connection and joins the threads (a
    // request being answered finishes first). Call before the store stops:
    // a purge waits for the store's writer.
    void stop();

    // Every socket accepting now, in conf order (any thread).
    std::vector<bound_endpoint> endpoints() const;
    // Before start(): where GET /api/v1/exporters gets its answer.
    void set_exporters_source(std::function<std::string()> source);

private:
    // On the I/O thread once started (before that, on the caller's).
    listeners_report apply(std::vector<listener_plan> plans);
    void close_listener(listener_state& l);
    void accept_next(std::shared_ptr<listener_state> listener,
                     std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);

    logger& log_;
    boost::asio::io_context io_{1};
    // The thread runs until stop(), also while no listener is open (all
    // removed by a reload): a reload posts to it.
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_{io_.get_executor()};
    std::unique_ptr<query_pool> pool_;
    std::unique_ptr<access_control> access_;
    std::shared_ptr<connection_registry> connections_;
    std::shared_ptr<const config::http_config> http_cfg_;
    // The open listeners, in conf order: the I/O thread's once it runs.
    std::vector<std::shared_ptr<listener_state>> listeners_;
    // Their sockets, for endpoints() on other threads.
    mutable std::mutex endpoints_mutex_;
    std::vector<bound_endpoint> endpoints_;
    std::thread thread_;
};

}  // namespace strata::http
