// A configured listener: one acceptor per resolved bind address, accepting on
// worker 0's thread and handing each new socket to the workers in turn.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/broker_config.hpp"
#include "net/connection_rate.hpp"
#include "net/tcp_connection.hpp"
#include "net/tls_context.hpp"

namespace strata::core {
class broker;
}

namespace strata::net {

struct bound_endpoint {
    std::string address;
    std::uint16_t port = 0;
};

class listener {
public:
    // `index`: the listener's position in the configuration.
    listener(core::broker& b, const config::listener_config& cfg, std::uint16_t index);
    ~listener();

    // Loads the TLS context, binds and listens; on failure returns false with a message.
    bool open(std::string& error);
    // Re-reads the TLS files (SIGHUP): new connections use them, open ones
    // keep theirs. On failure the listener keeps its current context.
    bool reload_tls(const config::listener_config& cfg, std::string& error);
    // Starts accepting (call once the workers run).
    void start();
    // Stops accepting; safe to call from any thread.
    void close();

    const std::vector<bound_endpoint>& endpoints() const { return endpoints_; }
    const config::listener_config& settings() const { return cfg_; }

private:
    void accept_next(std::size_t acceptor_index);
    // TLS and WebSocket state for a new connection; null for plain MQTT over TCP.
    std::unique_ptr<stream_layers> make_layers() const;

    core::broker& broker_;
    config::listener_config cfg_;
    std::shared_ptr<listener_context> context_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
    std::vector<bound_endpoint> endpoints_;
    std::size_t next_worker_ = 0;
    connection_rate rate_;  // max_connection_rate, shared by the listener's sockets; worker 0 only
    std::vector<std::unique_ptr<boost::asio::steady_timer>> retry_timers_;  // per acceptor: pause after a failed accept
    std::shared_ptr<const tls_context> tls_;  // null: plain TCP; read and swapped on worker 0 only
};

}  // namespace strata::net
