// The TCP transport of one MQTT connection. It waits for readability rather
// than keeping a read buffer per connection: data is read into the worker's
// shared scratch buffer and handed to the protocol state machine, which keeps
// only an incomplete packet. Writes gather the connection's output queue into
// one writev, one write in flight at a time, flushed once per event-loop turn.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/connection.hpp"

namespace strata::core {
class worker;
}

namespace strata::net {

struct listener_context {
    protocol::listener_settings settings;
    int max_connections = -1;
    std::shared_ptr<std::atomic<int>> open_connections;  // on this listener
};

class tcp_connection final : public protocol::transport, public std::enable_shared_from_this<tcp_connection> {
public:
    // Takes an accepted (or migrated) socket that belongs to `w`'s io_context.
    tcp_connection(core::worker& w, boost::asio::ip::tcp::socket socket, std::shared_ptr<const listener_context> listener);
    ~tcp_connection() override;

    // Starts reading; `replay` holds bytes already read on another worker.
    void start(std::vector<std::uint8_t> replay = {});

    void output_ready() override;

private:
    void wait_readable();
    void on_readable(const boost::system::error_code& ec);
    void after_input();
    void flush();
    void on_written(const boost::system::error_code& ec);
    void finish_close();
    void drain_until_eof();
    void discard_input();
    void migrate();

    core::worker& worker_;
    boost::asio::ip::tcp::socket socket_;
    std::shared_ptr<const listener_context> listener_;
    std::optional<protocol::connection> conn_;
    protocol::output_queue writing_;
    std::vector<boost::asio::const_buffer> iov_;
    std::optional<boost::asio::steady_timer> linger_timer_;
    bool write_in_flight_ = false;
    bool flush_posted_ = false;
    bool shut_down_ = false;
    bool counted_ = true;  // holds a place in the connection counts
};

// A short "address:port" of the peer for log lines.
std::string describe_peer(const boost::asio::ip::tcp::socket& s);

}  // namespace strata::net
