#include "net/listen_sockets.hpp"

#include <boost/asio/ip/v6_only.hpp>

namespace strata::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

listen_sockets open_once(asio::io_context& io, const std::vector<listen_target>& targets, std::uint16_t port) {
    listen_sockets out;
    out.port = port;
    for (const auto& target : targets) {
        auto ep = target.endpoint;
        ep.port(out.port);  // 0 until the first socket has its ephemeral port
        auto acceptor = std::make_unique<tcp::acceptor>(io);
        boost::system::error_code ec;
        acceptor->open(ep.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec && ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
        if (!ec) acceptor->bind(ep, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (!ec) {
            const auto local = acceptor->local_endpoint(ec);
            if (!ec) {
                out.port = local.port();
                out.local.push_back(local);
                out.acceptors.push_back(std::move(acceptor));
                continue;
            }
        }
        if (target.optional && targets.size() > 1) continue;
        out.error = ec;
        out.failed = ep;
        break;
    }
    if (out.error) {
        boost::system::error_code ignored;
        for (auto& a : out.acceptors) a->close(ignored);
        out.acceptors.clear();
        out.local.clear();
    }
    return out;
}

}  // namespace

listen_sockets open_listen_sockets(asio::io_context& io, const std::vector<listen_target>& targets,
                                   std::uint16_t port) {
    listen_sockets out = open_once(io, targets, port);
    for (int tried = 1; port == 0 && tried < ephemeral_port_tries; ++tried) {
        // Only a later socket refused the port the first one was given is worth another try.
        const bool lost_shared_port = out.error == asio::error::address_in_use && out.failed.port() != 0;
        if (!lost_shared_port) break;
        out = open_once(io, targets, port);
    }
    return out;
}

}  // namespace strata::net
