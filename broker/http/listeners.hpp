// The HTTP listeners as bound: one listener_state per http_listener line (one
// acceptor per address), what binding a line needs (made on the main thread:
// TLS files and address lookup, so the I/O thread only binds), and how the
// lines of a conf read on SIGHUP are matched with the listeners already open
// (docs/http-api.md, "Reloading"). http::server owns them on its I/O thread.
#pragma once

#include <utility>  // before Boost.Asio 1.74: its awaitable.hpp forgets it

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
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

namespace strata::http {

// One socket of the API, as the ports file reports it.
struct bound_endpoint {
    std::string address;
    std::uint16_t port = 0;
    bool tls = false;
    bool operator==(const bound_endpoint&) const = default;
};

// What a connection needs of its listener.
struct listener_settings {
    config::http_listener_config config;
    std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
};

// One http_listener line, bound. Touched on the server's I/O thread only
// once the server runs (before that, by the thread that opens it).
struct listener_state {
    config::http_listener_config config;  // the line it was last matched with (port 0 stays 0)
    std::uint16_t port = 0;               // the port bound: the ephemeral one for port 0
    // Shared with the pending accept of each, so that closing one (or dropping
    // the listener) never leaves a handler pointing at something gone.
    std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors;
    std::vector<std::string> addresses;  // bound, one per acceptor
    // Replaced by SIGHUP; each new connection takes the current one.
    std::shared_ptr<const listener_settings> settings;
    // Out of the conf since a SIGHUP: acceptors closed, and its connections
    // close once the request they are answering is answered.
    bool removed = false;

    std::vector<bound_endpoint> endpoints() const;
};

// What opening one conf line needs, prepared away from the I/O thread.
struct listener_plan {
    config::http_listener_config config;
    std::shared_ptr<const listener_settings> settings;  // null when the TLS files do not load
    std::string settings_error;                         // file:line: why `settings` is null
    std::vector<boost::asio::ip::tcp::endpoint> targets;  // the addresses to bind
    std::string address_error;                           // file:line: why there are no targets
};

// Loads the line's TLS files and looks its address up (loopback 127.0.0.1
// and ::1 without an address: docs/http-api.md says why).
listener_plan plan_listener(const config::http_listener_config& lc);

// Binds every target of `plan` on `io` and logs "Opening HTTP API on ...";
// null with `error` (file:line: reason) and nothing left open when one
// cannot be bound. Accepting is the caller's.
std::shared_ptr<listener_state> bind_listener(boost::asio::io_context& io, const listener_plan& plan, logger& log,
                                              std::string& error);

inline constexpr std::size_t no_match = std::numeric_limits<std::size_t>::max();

// For each line of `next`, the index in `open` of the listener it keeps, or
// no_match. A line keeps an open listener with the same address whose line
// had the same port (port 0 again keeps the port it got), or, failing that,
// whose bound port it names (writing down the port a port-0 line got keeps
// the socket). Each open listener is kept by one line at most, the first.
std::vector<std::size_t> match_listeners(const std::vector<std::shared_ptr<listener_state>>& open,
                                         const std::vector<config::http_listener_config>& next);

}  // namespace strata::http
