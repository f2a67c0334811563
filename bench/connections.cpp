// -action conn: open many idle connections and hold them, for the broker's
// memory per connection and its connection rate. Raises this process's
// descriptor limit to its hard limit; beyond ~28k connections per source
// address, -sources spreads them over 127.0.0.1..127.0.0.N.
#include <sys/resource.h>

#include <iostream>

#include "report.hpp"
#include "runner.hpp"

namespace strata::bench {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

void raise_descriptor_limit(std::uint64_t wanted) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    const rlim_t target = std::min<rlim_t>(lim.rlim_max, static_cast<rlim_t>(wanted));
    if (lim.rlim_cur < target) {
        lim.rlim_cur = target;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace

int run_connections(const options& o) {
    raise_descriptor_limit(static_cast<std::uint64_t>(o.clients) + 64);
    asio::io_context io(1);
    run_totals totals;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    const auto resolved = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || resolved.empty()) {
        std::cerr << "cannot resolve " << o.host << ": " << ec.message() << "\n";
        return 2;
    }
    const tcp::endpoint ep = *resolved.begin();
    std::vector<std::shared_ptr<client>> all;
    const auto tag = std::to_string(::getpid());
    for (std::int64_t i = 0; i < o.clients; ++i) {
        all.push_back(std::make_shared<client>(io, o, totals, "bench-" + tag + "-c" + std::to_string(i)));
    }
    const auto started = steady::now();
    steady::time_point connected_at{};
    asio::steady_timer hold(io);
    asio::steady_timer ticker(io);
    const auto sources = std::max<std::int64_t>(1, o.sources);
    auto source_of = [sources, v4 = ep.address().is_v4()](std::size_t i) -> std::optional<asio::ip::address> {
        if (sources <= 1 || !v4) return std::nullopt;
        return asio::ip::make_address_v4(0x7F000001u + static_cast<std::uint32_t>(i % static_cast<std::size_t>(sources)));
    };
    // Connect with bounded parallelism, then hold.
    struct state {
        std::size_t next = 0;
        std::size_t finished = 0;
    } st;
    std::function<void()> launch = [&] {
        if (st.next >= all.size()) return;
        const std::size_t i = st.next++;
        all[i]->connect(ep, source_of(i), [&](bool) {
            if (++st.finished == all.size()) {
                connected_at = steady::now();
                std::printf("connected: %llu of %lld in %.0fms; holding %llds\n",
                            static_cast<unsigned long long>(totals.connected), static_cast<long long>(o.clients),
                            milliseconds_between(started, connected_at), static_cast<long long>(o.hold_s));
                std::fflush(stdout);
                hold.expires_after(std::chrono::seconds(o.hold_s));
                hold.async_wait([&](const boost::system::error_code& e) {
                    if (e) return;
                    ticker.cancel();
                    for (auto& c : all) c->disconnect();
                });
                return;
            }
            launch();
        });
    };
    for (std::size_t i = 0; i < std::min<std::size_t>(512, all.size()); ++i) launch();
    std::function<void()> tick = [&] {
        ticker.expires_after(std::chrono::seconds(1));
        ticker.async_wait([&](const boost::system::error_code& e) {
            if (e) return;
            const auto now = steady::now();
            for (auto& c : all) c->keep_alive(now);
            if (now - started > std::chrono::seconds(o.timeout_s + o.hold_s)) {
                hold.cancel();
                for (auto& c : all) c->disconnect();
                return;
            }
            tick();
        });
    };
    tick();
    io.run();

    run_summary s;
    s.action = "conn";
    s.connections = totals.connected;
    s.connect_ms = milliseconds_between(started, connected_at);
    s.timed_out = connected_at == steady::time_point{};
    print_report(o, totals, s);
    return totals.connect_failures > 0 || s.timed_out ? 1 : 0;
}

}  // namespace strata::bench
