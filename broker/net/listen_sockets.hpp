// Opens the listening sockets of one listener (an MQTT `listener` or an
// `http_listener`): one per address, all on the same port.
//
// With port 0 the first socket gets an ephemeral port from the kernel and the
// others ask for that same port. On a busy host another socket may already
// hold that port on one of the other addresses (a client's outgoing
// connection on 127.0.0.1, say, while ::1 was free), so the bind fails with
// "address in use" for a reason that has nothing to do with the conf. The
// whole set is then closed and tried again on a fresh port, a bounded number
// of times; a fixed port is tried once, as the user asked for that one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace strata::net {

struct listen_target {
    boost::asio::ip::tcp::endpoint endpoint;
    // Skipped when it cannot be opened (IPv6 on a host without it), as long
    // as another target opens.
    bool optional = false;
};

struct listen_sockets {
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;
    std::vector<boost::asio::ip::tcp::endpoint> local;  // what each acceptor is bound to
    std::uint16_t port = 0;

    // When opening failed: why, and the endpoint that failed.
    boost::system::error_code error;
    boost::asio::ip::tcp::endpoint failed;
    bool ok() const { return !error && !acceptors.empty(); }
};

// Tries of a port-0 set before giving up; each failure needs another socket
// to have taken the kernel's choice on another address, so a few suffice.
inline constexpr int ephemeral_port_tries = 32;

// Binds and listens on every target (their ports are ignored; `port` is used).
listen_sockets open_listen_sockets(boost::asio::io_context& io, const std::vector<listen_target>& targets,
                                   std::uint16_t port);

}  // namespace strata::net
