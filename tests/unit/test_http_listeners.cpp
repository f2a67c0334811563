// Which open HTTP listener each line of a reloaded conf keeps
// (http::match_listeners): the rule that decides whether a socket stays open
// on SIGHUP or is closed and bound again.
#include <doctest/doctest.h>

#include "http/listeners.hpp"

using namespace strata;
using namespace strata::http;

namespace {

config::http_listener_config line(std::uint16_t port, std::string address = "127.0.0.1") {
    config::http_listener_config lc;
    lc.port = port;
    lc.bind_address = std::move(address);
    return lc;
}

// A listener opened from `conf_port` that got `bound_port`.
std::shared_ptr<listener_state> opened(std::uint16_t conf_port, std::uint16_t bound_port,
                                     std::string address = "127.0.0.1") {
    auto l = std::make_shared<listener_state>();
    l->config = line(conf_port, std::move(address));
    l->port = bound_port;
    return l;
}

}  // namespace

TEST_CASE("a line as it was keeps its listener, in any order") {
    const std::vector open_now{opened(8080, 8080), opened(8081, 8081)};
    CHECK(match_listeners(open_now, {line(8081), line(8080)}) == std::vector<std::size_t>{1, 0});
    CHECK(match_listeners(open_now, {line(8081)}) == std::vector<std::size_t>{1});
    CHECK(match_listeners(open_now, {}).empty());
}

TEST_CASE("another port or address is another listener") {
    const std::vector open_now{opened(8080, 8080)};
    CHECK(match_listeners(open_now, {line(8082)}) == std::vector<std::size_t>{no_match});
    CHECK(match_listeners(open_now, {line(8080, "0.0.0.0")}) == std::vector<std::size_t>{no_match});
    CHECK(match_listeners(open_now, {line(8080, "")}) == std::vector<std::size_t>{no_match});
}

TEST_CASE("port 0 again keeps the port it got; naming that port keeps it too") {
    const std::vector open_now{opened(0, 40001), opened(0, 40002)};
    // Two port-0 lines keep the two sockets, the first line the first.
    CHECK(match_listeners(open_now, {line(0), line(0)}) == std::vector<std::size_t>{0, 1});
    // One line fewer: the last listener goes.
    CHECK(match_listeners(open_now, {line(0)}) == std::vector<std::size_t>{0});
    // The port the second got, written down: the first goes, the second stays.
    CHECK(match_listeners(open_now, {line(40002)}) == std::vector<std::size_t>{1});
    // A line that was 0 is kept by a 0 line before a line naming its port can take it.
    CHECK(match_listeners(open_now, {line(40001), line(0), line(0)}) ==
          std::vector<std::size_t>{no_match, 0, 1});
}

TEST_CASE("each open listener is kept by one line at most") {
    const std::vector open_now{opened(8080, 8080)};
    CHECK(match_listeners(open_now, {line(8080), line(8080)}) == std::vector<std::size_t>{0, no_match});
    CHECK(match_listeners(open_now, {line(0), line(8080)}) == std::vector<std::size_t>{no_match, 0});
}
