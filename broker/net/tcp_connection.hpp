// The socket side of one MQTT connection: TCP, optionally with TLS and/or
// WebSocket layered on it (both sans-I/O, net/tls_layer and net/ws_layer).
// It waits for readability rather than keeping a read buffer per connection:
// data is read into the worker's shared scratch buffer, passed through the
// layers and handed to the protocol state machine, which keeps only an
// incomplete packet. Writes gather the connection's output queue into one
// writev, one write in flight at a time, flushed once per event-loop turn;
// plain TCP sends large payloads by reference, without a copy.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/input_blocks.hpp"
#include "protocol/connection.hpp"

namespace strata::core {
class worker;
}

namespace strata::net {

// A client socket bound to its worker's io_context. Asio's default socket
// carries a type-erased executor: 32 bytes more in every socket and in every
// pending wait or read, for each of thousands of mostly idle connections.
using client_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

class tls_layer;
class ws_layer;

struct listener_context {
    protocol::listener_settings settings;
    int max_connections = -1;
    std::shared_ptr<std::atomic<int>> open_connections;  // on this listener
};

// What TLS and WebSocket connections carry beyond plain TCP (null for those).
struct stream_layers {
    stream_layers();
    ~stream_layers();
    std::unique_ptr<tls_layer> tls;
    std::unique_ptr<ws_layer> ws;
    std::vector<std::uint8_t> wire;  // bytes of the write in flight (ciphertext, or WebSocket framing)
    std::optional<std::string> certificate_username;  // use_identity/subject_as_username
    bool identity_from_certificate = false;            // the listener takes usernames from certificates
    bool use_subject = false;
    bool farewell_sent = false;  // WebSocket close frame / TLS close_notify queued
};

class tcp_connection final : public protocol::transport, public std::enable_shared_from_this<tcp_connection> {
public:
    // Takes an accepted (or migrated) socket that belongs to `w`'s io_context;
    // `layers` is null for plain MQTT over TCP.
    tcp_connection(core::worker& w, client_socket socket, std::shared_ptr<const listener_context> listener,
                   std::unique_ptr<stream_layers> layers = nullptr);
    ~tcp_connection() override;

    // Starts reading; `replay` holds MQTT bytes already read on another worker.
    void start(std::vector<std::uint8_t> replay = {});

    void output_ready() override;
    const std::string* certificate_username() const override;
    void read_pending_input() override;
    // Moves this connection, its socket and its session to worker `target`
    // (core/session_placement.hpp): plain TCP only, with a read pending and
    // nothing to write. The pending read is cancelled; its handler, on this
    // worker, hands everything over (finish_move).
    bool move_to(std::size_t target) override;

private:
    // Waits for input: with a read into an input block when the connection
    // received something within the last `busy_gap`, else with async_wait
    // (core/input_blocks.hpp says why).
    void wait_readable();
    void on_readable(const boost::system::error_code& ec);
    void on_received(const boost::system::error_code& ec, std::size_t n);
    // Brackets the processing of input read by a handler (see input_turn).
    void begin_input_turn();
    void end_input_turn();
    // Gives block_ back to the worker's pool.
    void release_block();
    // Input has arrived now: sets whether the connection counts as busy.
    void note_input_time();
    // A wait or read ended with `ec`: the connection is gone.
    void read_failed(const boost::system::error_code& ec);
    // Passes bytes read from the socket to the layers or the state machine;
    // false when the layers closed the connection.
    bool take_input(std::span<std::uint8_t> raw, std::span<std::uint8_t> scratch);
    // Reads what the socket has received, without waiting, through `scratch`;
    // false when the socket closed.
    bool read_available(std::span<std::uint8_t> scratch);
    // Passes bytes read from the socket through TLS and WebSocket; false: close.
    bool input_through_layers(std::span<std::uint8_t> raw, std::span<std::uint8_t> scratch);
    bool pump_tls(std::span<std::uint8_t> scratch);
    bool deliver_plaintext(std::span<std::uint8_t> plain);
    void after_input();
    void flush();
    // After a partial write: the part of `iov` still to write.
    static void drop_written(std::vector<boost::asio::const_buffer>& iov, std::size_t n);
    // Fills `iov` with what goes on the wire (TLS records, WebSocket frames).
    bool fill_layered_write(std::vector<boost::asio::const_buffer>& iov);
    void on_written(const boost::system::error_code& ec);
    // Output buffer capacity kept after a write: a connection that is not
    // busy (most of thousands of devices) keeps none, and allocates again
    // for its next packet, seconds later.
    std::size_t kept_capacity() const;
    void finish_close();
    // Closes the socket if what is queued has not been written in time (a
    // client that stopped reading would otherwise hold its connection forever).
    void arm_close_deadline();
    // max_client_output_bytes: a client whose output waits over the cap is
    // not read from until it drains, so that answers cannot pile up.
    bool output_backlogged() const;
    // The store's writer is behind: no input is read until the worker says
    // it caught up (worker::when_intake_resumes).
    void pause_for_store();
    void resume_after_store();
    void close_after_output(std::string_view why);
    void drain_until_eof();
    void discard_input();
    // Takes the descriptor out of this worker's io_context (for another's);
    // false when the socket is already gone.
    bool release_descriptor(boost::asio::ip::tcp& protocol, int& fd);
    void migrate();
    // After release_descriptor(): socket_ belongs to `io` from now on.
    void rebind_socket(boost::asio::io_context& io);
    void finish_move();
    // On the new worker: the socket and the session arrive.
    void arrive(std::unique_ptr<session> moved, boost::asio::ip::tcp protocol, int fd);

    core::worker* worker_;  // another one after a move (move_to)
    client_socket socket_;
    std::shared_ptr<const listener_context> listener_;
    std::unique_ptr<stream_layers> layers_;
    protocol::connection conn_;
    // What a write in flight refers to, when it is not the connection's own
    // queue: the rest of a partial write, or the MQTT bytes under TLS or
    // WebSocket framing. Made on first use: most writes go out whole (an
    // idle connection saves the queue and its buffers).
    std::unique_ptr<protocol::output_queue> writing_;
    protocol::output_queue& in_flight_queue() {
        if (!writing_) writing_ = std::make_unique<protocol::output_queue>();
        return *writing_;
    }
    // Only while closing: made then (a steady_timer is 112 bytes that an open connection need not carry).
    std::unique_ptr<boost::asio::steady_timer> linger_timer_;
    std::unique_ptr<std::uint8_t[]> block_;  // while reading with a buffer (wait_readable)
    time_point last_input_at_{};                // when input last arrived
    bool busy_ = false;                         // two inputs less than busy_gap apart
    bool flush_wanted_ = false;                 // output came during our own input handler
    bool write_in_flight_ = false;
    bool flush_posted_ = false;
    bool shut_down_ = false;
    bool counted_ = true;  // holds a place in the connection counts
    bool migrate_after_write_ = false;
    bool read_paused_ = false;  // not waiting for input: output_backlogged()
    bool store_paused_ = false;  // not waiting for input: the store is backlogged
    bool read_pending_ = false;  // an async wait or read is armed
    bool moving_ = false;        // move_to() cancelled the read; its handler moves
    // The last read was small: read into a small block. A connection starts
    // small: most of a fleet sends acknowledgements and pings more than
    // anything else, and a connection that sends more moves up on its first read.
    bool small_input_ = true;
    std::uint16_t move_target_ = 0;
    std::uint16_t block_size_ = 0;  // of block_
};

// A short "address:port" of the peer for log lines.
std::string describe_peer(const client_socket& s);
// The address as describe_peer writes it (IPv4-mapped IPv6 addresses as IPv4).
std::string address_text(const boost::asio::ip::address& a);

}  // namespace strata::net
