#include "net/tcp_connection.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"

namespace strata::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Reads per readiness event before other connections get a turn.
constexpr int max_reads_per_wakeup = 4;
// How long a closing connection waits for the peer to close after our last byte.
constexpr auto linger_time = std::chrono::seconds(2);

}  // namespace

std::string describe_peer(const tcp::socket& s) {
    boost::system::error_code ec;
    const auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    const auto addr = ep.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string() + ':' + std::to_string(ep.port());
    }
    return addr.to_string() + ':' + std::to_string(ep.port());
}

tcp_connection::tcp_connection(core::worker& w, tcp::socket socket, std::shared_ptr<const listener_context> listener)
    : worker_(w), socket_(std::move(socket)), listener_(std::move(listener)) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // strata batches its writes itself
    socket_.non_blocking(true, ec);
    conn_.emplace(worker_, *this, describe_peer(socket_), listener_->settings);
}

tcp_connection::~tcp_connection() {
    conn_.reset();
    if (counted_) {
        worker_.owner().open_connections().fetch_sub(1, std::memory_order_relaxed);
        if (listener_->open_connections) listener_->open_connections->fetch_sub(1, std::memory_order_relaxed);
    }
}

void tcp_connection::start(std::vector<std::uint8_t> replay) {
    if (!replay.empty()) {
        conn_->on_input(replay);
        after_input();
        return;
    }
    wait_readable();
}

void tcp_connection::wait_readable() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

void tcp_connection::on_readable(const boost::system::error_code& ec) {
    if (ec) {
        if (ec != asio::error::operation_aborted) conn_->on_transport_closed();
        finish_close();
        return;
    }
    auto& scratch = worker_.read_scratch();
    for (int i = 0; i < max_reads_per_wakeup; ++i) {
        boost::system::error_code rec;
        const std::size_t n = socket_.read_some(asio::buffer(scratch), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) break;
        if (rec) {  // EOF or reset
            conn_->on_transport_closed();
            finish_close();
            return;
        }
        conn_->on_input(std::span<const std::uint8_t>(scratch.data(), n));
        if (conn_->state() != protocol::connection_state::active &&
            conn_->state() != protocol::connection_state::awaiting_connect) {
            break;
        }
        if (n < scratch.size()) break;  // nothing more right now
    }
    after_input();
}

void tcp_connection::after_input() {
    switch (conn_->state()) {
        case protocol::connection_state::migrating: migrate(); return;
        case protocol::connection_state::closing:
        case protocol::connection_state::closed: output_ready(); return;
        default: wait_readable(); return;
    }
}

void tcp_connection::output_ready() {
    if (flush_posted_ || write_in_flight_) return;
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush();
    });
}

void tcp_connection::flush() {
    if (write_in_flight_ || !socket_.is_open()) return;
    auto& out = conn_->output();
    if (out.empty()) {
        if (conn_->closing() || conn_->state() == protocol::connection_state::closed) drain_until_eof();
        return;
    }
    writing_.swap(out);
    iov_.clear();
    for (const auto& seg : writing_.segments()) iov_.emplace_back(writing_.data(seg), seg.length);
    write_in_flight_ = true;
    worker_.stats().add(worker_.stats().bytes_sent, writing_.size());
    asio::async_write(socket_, iov_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->on_written(ec);
    });
}

void tcp_connection::on_written(const boost::system::error_code& ec) {
    write_in_flight_ = false;
    writing_.clear();
    if (ec) {
        conn_->on_transport_closed();
        finish_close();
        return;
    }
    flush();
}

void tcp_connection::drain_until_eof() {
    // Everything is written: half-close, then wait (bounded) for the peer to
    // close, so that unread input does not turn our last packet into a reset.
    if (shut_down_) return;
    shut_down_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    linger_timer_.emplace(socket_.get_executor());
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
        self->socket_.read_some(asio::buffer(self->worker_.read_scratch()), rec);
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
    if (conn_ && conn_->state() != protocol::connection_state::closed) conn_->on_transport_closed();
}

void tcp_connection::migrate() {
    const std::size_t target_index = conn_->migrate_to();
    auto replay = conn_->take_unread_input();
    boost::system::error_code ec;
    const auto protocol = socket_.local_endpoint(ec).protocol();
    if (ec) {
        finish_close();
        return;
    }
    const int fd = socket_.release(ec);
    if (ec) {
        finish_close();
        return;
    }
    counted_ = false;  // the connection counts move with the socket
    core::worker& target = worker_.owner().worker_at(target_index);
    asio::post(target.io(), [&target, protocol, fd, listener = listener_, replay = std::move(replay)]() mutable {
        tcp::socket socket(target.io());
        boost::system::error_code ec;
        socket.assign(protocol, fd, ec);
        if (ec) {
            ::close(fd);
            target.owner().open_connections().fetch_sub(1, std::memory_order_relaxed);
            if (listener->open_connections) listener->open_connections->fetch_sub(1, std::memory_order_relaxed);
            return;
        }
        auto c = std::make_shared<tcp_connection>(target, std::move(socket), std::move(listener));
        c->start(std::move(replay));
    });
}

}  // namespace strata::net
