#include "net/tcp_connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"
#include "net/tls_context.hpp"
#include "net/tls_layer.hpp"
#include "net/ws_layer.hpp"

namespace strata::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Reads per readiness event before other connections get a turn.
constexpr int max_reads_per_wakeup = 4;
// A connection whose input arrives less than this apart reads into an input
// block (wait_readable): a device publishing every few seconds does, one
// that only sends PINGREQ does not.
constexpr auto busy_gap = std::chrono::seconds(10);
// How long a closing connection waits for the peer to close after our last byte.
constexpr auto linger_time = std::chrono::seconds(2);
// How long a closing connection may take to write what is queued for it.
constexpr auto close_write_time = std::chrono::seconds(5);
// A write buffer larger than this is given back once written, so that one
// burst does not pin memory on a connection for its lifetime.
constexpr std::size_t kept_wire_capacity = 64 * 1024;

}  // namespace

stream_layers::stream_layers() = default;
stream_layers::~stream_layers() = default;

std::string address_text(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
    return a.to_string();
}

std::string describe_peer(const client_socket& s) {
    boost::system::error_code ec;
    const auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    return address_text(ep.address()) + ':' + std::to_string(ep.port());
}

tcp_connection::tcp_connection(core::worker& w, client_socket socket, std::shared_ptr<const listener_context> listener,
                               std::unique_ptr<stream_layers> layers)
    : worker_(&w),
      socket_(std::move(socket)),
      listener_(std::move(listener)),
      layers_(std::move(layers)),
      conn_(worker_->port(), *this, describe_peer(socket_), listener_->settings) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // strata batches its writes itself
    socket_.non_blocking(true, ec);
}

tcp_connection::~tcp_connection() {
    if (counted_) {
        worker_->owner().open_connections().fetch_sub(1, std::memory_order_relaxed);
        if (listener_->open_connections) listener_->open_connections->fetch_sub(1, std::memory_order_relaxed);
    }
}

const std::string* tcp_connection::certificate_username() const {
    if (!layers_ || !layers_->identity_from_certificate) return nullptr;
    static const std::string none;  // no certificate name: refused as a bad username
    return layers_->certificate_username ? &*layers_->certificate_username : &none;
}

void tcp_connection::start(std::vector<std::uint8_t> replay) {
    if (!replay.empty()) conn_.on_input(replay);
    // TLS may hold records that arrived with the CONNECT on the previous worker.
    if (layers_ && layers_->tls && conn_.state() != protocol::connection_state::migrating) {
        pump_tls(worker_->read_scratch());
    }
    after_input();
}

void tcp_connection::wait_readable() {
    read_pending_ = true;
    if (busy_) {
        const std::uint16_t wanted = small_input_ ? core::input_block_pool::small_block : core::input_block_pool::large_block;
        if (block_ && block_size_ != wanted) release_block();
        if (!block_) {
            block_ = worker_->input_blocks().acquire(wanted);
            block_size_ = wanted;
        }
        socket_.async_read_some(asio::buffer(block_.get(), block_size_),
                                [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                    self->on_received(ec, n);
                                });
        return;
    }
    release_block();
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

void tcp_connection::release_block() {
    if (block_) worker_->input_blocks().release(std::move(block_), block_size_);
}

void tcp_connection::note_input_time() {
    const auto now = steady_clock::now();
    busy_ = now - last_input_at_ < busy_gap;
    last_input_at_ = now;
}

void tcp_connection::read_failed(const boost::system::error_code& ec) {
    // EOF, reset, or the socket was closed here (operation_aborted).
    if (ec != asio::error::operation_aborted) conn_.on_transport_closed();
    finish_close();
}

void tcp_connection::on_readable(const boost::system::error_code& ec) {
    read_pending_ = false;
    if (moving_) return finish_move();  // nothing was read: the next worker reads it
    if (ec) return read_failed(ec);
    note_input_time();
    begin_input_turn();
    const bool open = read_available(worker_->read_scratch());
    end_input_turn();
    if (open) after_input();
}

void tcp_connection::on_received(const boost::system::error_code& ec, std::size_t n) {
    read_pending_ = false;
    if (moving_) {
        // Bytes read before the cancel took effect are handled here, and the
        // connection stays; the placement asks again later.
        if (ec || n == 0) return finish_move();
        moving_ = false;
    }
    if (ec) return read_failed(ec);
    note_input_time();
    begin_input_turn();
    bool open = true;
    // Acknowledgements and pings only, so far: a small block next time.
    small_input_ = n <= core::input_block_pool::small_block / 2;
    // A full block: more may be waiting, read on through the worker's buffer.
    if (take_input(std::span<std::uint8_t>(block_.get(), n), worker_->read_scratch()) && n == block_size_ &&
        (conn_.state() == protocol::connection_state::active ||
         conn_.state() == protocol::connection_state::awaiting_connect)) {
        open = read_available(worker_->read_scratch());
    }
    end_input_turn();
    if (open) after_input();
}

// input_turn: output that a client's input produced for that client alone
// (a PUBACK with no subscriber, a PINGRESP, a SUBACK) is written as soon as
// the input is processed, which saves the event loop a turn (and an
// epoll_wait) per packet. When the input produced output for other
// connections too, or messages for other workers, every flush is posted for
// the end of the turn as before: acknowledgements then never overtake the
// deliveries they follow, so a saturating publisher cannot run ahead of its
// subscribers, and one write per connection gathers the whole turn.
// Not for the CONNECT: writing the CONNACK inline left every idle
// connection about 100 bytes larger (bench/idle-memory: 1,810 against
// 1,714 B; the order of the heap allocations changes), and a connection
// connects once.
void tcp_connection::begin_input_turn() {
    if (conn_.state() == protocol::connection_state::active) worker_->turn() = {this, 0};
}

void tcp_connection::end_input_turn() {
    auto& turn = worker_->turn();
    turn.reader = nullptr;
    if (!flush_wanted_) return;
    flush_wanted_ = false;
    if (turn.other_flushes == 0 && !worker_->outboxes_pending()) {
        flush();
    } else {
        output_ready();
    }
}

bool tcp_connection::take_input(std::span<std::uint8_t> raw, std::span<std::uint8_t> scratch) {
    if (layers_) return input_through_layers(raw, scratch);
    conn_.on_input(raw);
    return true;
}

void tcp_connection::read_pending_input() {
    if (!socket_.is_open() || conn_.state() != protocol::connection_state::active) return;
    // Not the worker's read buffer: this runs while another connection's
    // CONNECT, read into that buffer, is being processed.
    std::vector<std::uint8_t> buffer(16 * 1024);
    if (!read_available(buffer)) return;
    // The wait for more input is still armed; a connection that is closing
    // now (it read a DISCONNECT) writes what it has and closes.
    if (conn_.state() != protocol::connection_state::active) output_ready();
}

bool tcp_connection::read_available(std::span<std::uint8_t> scratch) {
    for (int i = 0; i < max_reads_per_wakeup; ++i) {
        boost::system::error_code rec;
        const std::size_t n = socket_.read_some(asio::buffer(scratch.data(), scratch.size()), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) break;
        if (rec) {  // EOF or reset
            conn_.on_transport_closed();
            finish_close();
            return false;
        }
        if (!take_input(std::span<std::uint8_t>(scratch.data(), n), scratch)) break;
        if (conn_.state() != protocol::connection_state::active &&
            conn_.state() != protocol::connection_state::awaiting_connect) {
            break;
        }
        if (n < scratch.size()) break;  // nothing more right now
    }
    return true;
}

bool tcp_connection::input_through_layers(std::span<std::uint8_t> raw, std::span<std::uint8_t> scratch) {
    if (!layers_->tls) return deliver_plaintext(raw);
    layers_->tls->feed(raw);
    return pump_tls(scratch);
}

bool tcp_connection::pump_tls(std::span<std::uint8_t> scratch) {
    auto& tls = *layers_->tls;
    // The ciphertext is in the TLS layer now, so the scratch buffer takes the plaintext.
    bool open = true;
    while (open && (conn_.state() == protocol::connection_state::active ||
                    conn_.state() == protocol::connection_state::awaiting_connect)) {
        const std::size_t n = tls.read(std::span<std::uint8_t>(scratch.data(), scratch.size()));
        if (n == 0) break;
        open = deliver_plaintext(std::span<std::uint8_t>(scratch.data(), n));
    }
    if (tls.has_output()) output_ready();  // handshake messages, session tickets, alerts
    if (!open) return false;
    if (tls.failed()) {
        close_after_output("TLS error: " + tls.error());
        return false;
    }
    if (tls.peer_closed()) {
        close_after_output({});
        return false;
    }
    return true;
}

bool tcp_connection::deliver_plaintext(std::span<std::uint8_t> plain) {
    auto& layers = *layers_;
    // The certificate is known once the handshake is done, before the first
    // MQTT byte (CONNECT) is read.
    if (layers.identity_from_certificate && !layers.certificate_username && layers.tls->handshake_done()) {
        layers.certificate_username = layers.use_subject ? layers.tls->peer_subject() : layers.tls->peer_common_name();
    }
    std::span<std::uint8_t> mqtt = plain;
    if (layers.ws) {
        const bool was_open = layers.ws->open();
        mqtt = layers.ws->decode(plain);
        if (layers.ws->has_control()) output_ready();
        if (!was_open && layers.ws->open() && (worker_->config().log.types & config::log_websockets)) {
            worker_->log().notice("WebSocket connection from ", conn_.peer(), " on path ", layers.ws->path(), ".");
        }
    }
    if (!mqtt.empty()) conn_.on_input(mqtt);
    if (layers.ws && layers.ws->finished()) {
        close_after_output(layers.ws->error());
        return false;
    }
    return true;
}

void tcp_connection::close_after_output(std::string_view why) {
    if (!why.empty()) worker_->log().notice("Client connection from ", conn_.peer(), " closed: ", why, ".");
    // Like a closed socket for MQTT (the will is published), but what the
    // layers queued (an HTTP refusal, a close frame, a TLS alert) still goes out.
    conn_.on_transport_closed();
    output_ready();
}

void tcp_connection::after_input() {
    switch (conn_.state()) {
        case protocol::connection_state::migrating: migrate(); return;
        case protocol::connection_state::closing:
        case protocol::connection_state::closed: output_ready(); return;
        default:
            if (output_backlogged()) {
                read_paused_ = true;  // resumed in on_written, once the output drains
                return;
            }
            if (conn_.state() == protocol::connection_state::active && worker_->intake_paused()) {
                pause_for_store();
                return;
            }
            wait_readable();
            return;
    }
}

void tcp_connection::pause_for_store() {
    if (store_paused_) return;
    store_paused_ = true;
    // The worker's list keeps the connection alive while no read or write
    // is pending on it (a pending operation is what holds it otherwise).
    worker_->when_intake_resumes([self = shared_from_this()] { self->resume_after_store(); });
}

void tcp_connection::resume_after_store() {
    store_paused_ = false;
    if (!socket_.is_open() || conn_.state() != protocol::connection_state::active || read_paused_) return;
    conn_.input_resumed();
    after_input();  // reads again, unless the store is already behind once more
}

bool tcp_connection::output_backlogged() const {
    const auto cap = worker_->config().max_client_output_bytes;
    return cap != 0 && conn_.output().size() >= cap;
}

void tcp_connection::arm_close_deadline() {
    if (linger_timer_) return;  // already closing on a timer (or draining)
    linger_timer_ = std::make_unique<boost::asio::steady_timer>(socket_.get_executor());
    linger_timer_->expires_after(close_write_time);
    linger_timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->finish_close();
    });
}

void tcp_connection::output_ready() {
    if (conn_.closing() || conn_.state() == protocol::connection_state::closed) arm_close_deadline();
    if (flush_posted_ || write_in_flight_) return;
    auto& turn = worker_->turn();
    if (turn.reader == this) {
        flush_wanted_ = true;  // end_input_turn decides
        return;
    }
    if (turn.reader) ++turn.other_flushes;
    // One flush per connection and event-loop turn gathers what the turn
    // produced. (Flushing a client's acknowledgements at the end of the
    // handler that read its input saves a turn per message, but lets a
    // saturating publisher run ahead of its subscribers: the fan-out p99
    // rose tenfold; bench/RESULTS.md.)
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush();
    });
}

void tcp_connection::flush() {
    if (write_in_flight_ || !socket_.is_open()) return;
    if (conn_.state() == protocol::connection_state::migrating) return;  // the next worker writes
    auto& iov = worker_->iov_scratch();  // async_write below keeps its own copy
    iov.clear();
    if (layers_) {
        if (!fill_layered_write(iov)) {
            if (conn_.closing() || conn_.state() == protocol::connection_state::closed) drain_until_eof();
            return;
        }
    } else {
        auto& out = conn_.output();
        if (out.empty()) {
            if (conn_.closing() || conn_.state() == protocol::connection_state::closed) drain_until_eof();
            return;
        }
        // Written straight from the connection's queue; only what the socket
        // does not take moves to a queue of its own (below).
        for (const auto& seg : out.segments()) iov.emplace_back(out.data(seg), seg.length);
    }
    write_in_flight_ = true;
    const std::size_t total = asio::buffer_size(iov);
    worker_->stats().add(worker_->stats().bytes_sent, total);
    // Most writes fit the socket's buffer: write now, and wait for the
    // socket only for what does not fit (a completion handler posted per
    // write would cost a turn of the event loop per message).
    boost::system::error_code ec;
    const std::size_t written = socket_.write_some(iov, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    if (ec || written == total) {
        if (!layers_) {
            auto& out = conn_.output();
            out.clear();
            out.trim(kept_capacity());
        }
        on_written(ec);
        return;
    }
    drop_written(iov, written);
    if (!layers_) {
        // The rest waits for the socket, while the connection's queue takes
        // new output: it moves (buffers and all, so `iov` stays valid) to
        // the queue of the write in flight.
        in_flight_queue().swap(conn_.output());
    }
    asio::async_write(socket_, iov, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->on_written(ec);
    });
}

void tcp_connection::drop_written(std::vector<boost::asio::const_buffer>& iov, std::size_t n) {
    std::size_t whole = 0;
    while (whole < iov.size() && n >= iov[whole].size()) n -= iov[whole++].size();
    iov.erase(iov.begin(), iov.begin() + static_cast<std::ptrdiff_t>(whole));
    if (n > 0 && !iov.empty()) iov.front() += n;
}

bool tcp_connection::fill_layered_write(std::vector<boost::asio::const_buffer>& iov) {
    auto& layers = *layers_;
    auto& out = conn_.output();
    // Plaintext goes to the wire directly without TLS, else through a staging
    // buffer that TLS encrypts into the wire.
    auto& plain = layers.tls ? worker_->write_scratch() : layers.wire;
    plain.clear();
    layers.wire.clear();
    if (layers.ws) layers.ws->take_control(plain);
    bool send_mqtt = false;
    bool farewell = false;
    if (!out.empty()) {
        if (!layers.ws || layers.ws->open()) {
            in_flight_queue().swap(out);
            send_mqtt = true;
            if (layers.ws) ws_layer::append_frame_header(plain, writing_->size());
        } else {
            out.clear();  // nothing follows a refused WebSocket handshake
        }
    } else if ((conn_.closing() || conn_.state() == protocol::connection_state::closed) && !layers.farewell_sent) {
        // Everything else is out: a WebSocket close frame, then TLS close_notify.
        layers.farewell_sent = farewell = true;
        if (layers.ws && layers.ws->open()) {
            layers.ws->close(1000);
            layers.ws->take_control(plain);
        }
    }
    if (layers.tls) {
        if (send_mqtt) {
            for (const auto& seg : writing_->segments()) {
                const auto* p = writing_->data(seg);
                plain.insert(plain.end(), p, p + seg.length);
            }
            writing_->clear();
        }
        layers.tls->write(plain);
        if (farewell) layers.tls->shutdown();
        layers.tls->take_output(layers.wire);
        if (!layers.wire.empty()) iov.emplace_back(layers.wire.data(), layers.wire.size());
    } else {
        // Framing bytes, then the MQTT bytes by reference (no copy).
        if (!layers.wire.empty()) iov.emplace_back(layers.wire.data(), layers.wire.size());
        if (send_mqtt) {
            for (const auto& seg : writing_->segments()) iov.emplace_back(writing_->data(seg), seg.length);
        }
    }
    return !iov.empty();
}

std::size_t tcp_connection::kept_capacity() const {
    return busy_ ? kept_wire_capacity : 0;
}

void tcp_connection::on_written(const boost::system::error_code& ec) {
    write_in_flight_ = false;
    if (writing_) {
        writing_->clear();
        if (busy_) {
            writing_->trim(kept_wire_capacity);
        } else {
            writing_.reset();
        }
    }
    if (layers_) {
        layers_->wire.clear();
        if (layers_->wire.capacity() > kept_wire_capacity) std::vector<std::uint8_t>().swap(layers_->wire);
    }
    if (ec) {
        conn_.on_transport_closed();
        finish_close();
        return;
    }
    if (migrate_after_write_) {
        migrate_after_write_ = false;
        migrate();
        return;
    }
    flush();
    if (read_paused_ && !output_backlogged() &&
        (conn_.state() == protocol::connection_state::active ||
         conn_.state() == protocol::connection_state::awaiting_connect)) {
        read_paused_ = false;
        after_input();  // reads again, unless the store holds input back
    }
}

void tcp_connection::drain_until_eof() {
    // Everything is written: half-close, then wait (bounded) for the peer to
    // close, so that unread input does not turn our last packet into a reset.
    if (shut_down_) return;
    shut_down_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    // Replaces the close deadline's timer (its wait is cancelled).
    linger_timer_ = std::make_unique<boost::asio::steady_timer>(socket_.get_executor());
    linger_timer_->expires_after(linger_time);
    linger_timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->finish_close();
    });
    discard_input();
}

void tcp_connection::discard_input() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        boost::system::error_code rec;
        const auto scratch = self->worker_->read_scratch();
        self->socket_.read_some(asio::buffer(scratch.data(), scratch.size()), rec);
        if (rec && rec != asio::error::would_block && rec != asio::error::try_again) {
            self->finish_close();
            return;
        }
        self->discard_input();
    });
}

void tcp_connection::finish_close() {
    if (linger_timer_) linger_timer_->cancel();
    boost::system::error_code ec;
    socket_.close(ec);
    if (conn_.state() != protocol::connection_state::closed) conn_.on_transport_closed();
}

}  // namespace strata::net
