// A listener's sockets share one port, also when it is ephemeral and another
// socket on the host already holds the kernel's first choice on one of the
// listener's addresses (net::open_listen_sockets). This made a CI run fail: a
// listener on ::1 and 127.0.0.1 with port 0 exited with "address in use".
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <fstream>
#include <set>

#include "net/listen_sockets.hpp"

using namespace strata;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::size_t ephemeral_range_size() {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    std::size_t low = 32768, high = 60999;
    in >> low >> high;
    return high >= low ? high - low + 1 : 0;
}

bool ipv6_loopback_available(asio::io_context& io) {
    tcp::acceptor probe(io);
    boost::system::error_code ec;
    probe.open(tcp::v6(), ec);
    if (!ec) probe.bind({asio::ip::address_v6::loopback(), 0}, ec);
    return !ec;
}

}  // namespace

TEST_CASE("an ephemeral port is shared by the listener's sockets even when the first choice is taken elsewhere") {
    asio::io_context io;
    if (!ipv6_loopback_available(io)) {
        MESSAGE("no IPv6 loopback here: the case needs ::1 and 127.0.0.1");
        return;
    }
    // Hold about half of the ports the kernel hands out for bind(0) (it
    // prefers even ones) on 127.0.0.1 only: the port a listener first gets on
    // ::1 is then taken on 127.0.0.1 about every other time.
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    const std::size_t room = files.rlim_cur > 512 ? files.rlim_cur - 256 : 0;
    const std::size_t wanted = std::min(ephemeral_range_size() / 4, room);
    REQUIRE(wanted >= 1000);
    std::vector<std::unique_ptr<tcp::socket>> holders;
    std::set<std::uint16_t> held;
    for (std::size_t i = 0; i < wanted; ++i) {
        auto s = std::make_unique<tcp::socket>(io);
        boost::system::error_code ec;
        s->open(tcp::v4(), ec);
        if (!ec) s->bind({asio::ip::address_v4::loopback(), 0}, ec);
        if (ec) break;
        held.insert(s->local_endpoint().port());
        holders.push_back(std::move(s));
    }
    REQUIRE(held.size() >= 1000);

    const std::vector<net::listen_target> targets{{{asio::ip::address_v6::loopback(), 0}, false},
                                                  {{asio::ip::address_v4::loopback(), 0}, false}};
    int collisions_met = 0;
    for (int i = 0; i < 24; ++i) {
        auto sockets = net::open_listen_sockets(io, targets, 0);
        REQUIRE_MESSAGE(sockets.ok(), sockets.error.message());
        REQUIRE(sockets.acceptors.size() == 2);
        CHECK(sockets.local[0].address() == asio::ip::address_v6::loopback());
        CHECK(sockets.local[1].address() == asio::ip::address_v4::loopback());
        CHECK(sockets.local[0].port() == sockets.port);
        CHECK(sockets.local[1].port() == sockets.port);
        CHECK(held.count(sockets.port) == 0);
        // Binding ::1 again on a port held on 127.0.0.1 shows the kernel
        // would have offered such ports: the case met what it tests.
        tcp::acceptor probe(io);
        probe.open(tcp::v6());
        boost::system::error_code ec;
        probe.bind({asio::ip::address_v6::loopback(), 0}, ec);
        if (!ec && held.count(probe.local_endpoint().port())) ++collisions_met;
    }
    MESSAGE(collisions_met, " of 24 fresh ::1 ports were held on 127.0.0.1");
}

TEST_CASE("a port refused for another reason is not tried again and again") {
    asio::io_context io;
    // The same address twice can never share a port: a bounded failure, with the endpoint that failed.
    const std::vector<net::listen_target> targets{{{asio::ip::address_v4::loopback(), 0}, false},
                                                  {{asio::ip::address_v4::loopback(), 0}, false}};
    auto sockets = net::open_listen_sockets(io, targets, 0);
    CHECK_FALSE(sockets.ok());
    CHECK(sockets.error == asio::error::address_in_use);
    CHECK(sockets.failed.address() == asio::ip::address_v4::loopback());
    CHECK(sockets.failed.port() != 0);
    CHECK(sockets.acceptors.empty());
}

TEST_CASE("a fixed port that is taken is reported, not replaced") {
    asio::io_context io;
    tcp::acceptor taken(io, {asio::ip::address_v4::loopback(), 0});
    const auto port = taken.local_endpoint().port();
    auto sockets = net::open_listen_sockets(io, {{{asio::ip::address_v4::loopback(), 0}, false}}, port);
    CHECK_FALSE(sockets.ok());
    CHECK(sockets.error == asio::error::address_in_use);
    CHECK(sockets.failed.port() == port);
}

TEST_CASE("an optional address that cannot be opened is skipped when another opens") {
    asio::io_context io;
    // 192.0.2.1 (TEST-NET-1) is not an address of this host: binding it fails.
    const std::vector<net::listen_target> targets{{{asio::ip::make_address("192.0.2.1"), 0}, true},
                                                  {{asio::ip::address_v4::loopback(), 0}, false}};
    auto sockets = net::open_listen_sockets(io, targets, 0);
    REQUIRE(sockets.ok());
    REQUIRE(sockets.local.size() == 1);
    CHECK(sockets.local[0].address() == asio::ip::address_v4::loopback());
}
