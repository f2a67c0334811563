// Moving a connection to another worker: the socket is released from one
// worker's io_context and assigned to the other's.
//   - migrate(): a CONNECT whose session lives on another worker; the bytes
//     read so far are replayed there (protocol/connect_handler.cpp);
//   - move_to(): an established publisher moving next to its subscribers
//     with its session (core/session_placement.hpp).
#include <unistd.h>

#include <memory>

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"
#include "net/tcp_connection.hpp"

namespace strata::net {

namespace asio = boost::asio;
using asio::ip::tcp;

bool tcp_connection::release_descriptor(tcp& protocol, int& fd) {
    boost::system::error_code ec;
    protocol = socket_.local_endpoint(ec).protocol();
    if (!ec) fd = socket_.release(ec);
    return !ec;
}

void tcp_connection::migrate() {
    if (write_in_flight_) {
        // TLS handshake bytes are still being written: move once they are out.
        migrate_after_write_ = true;
        return;
    }
    const std::size_t target_index = conn_.migrate_to();
    auto replay = conn_.take_unread_input();
    tcp protocol = tcp::v4();
    int fd = -1;
    if (!release_descriptor(protocol, fd)) {
        finish_close();
        return;
    }
    counted_ = false;  // the connection counts move with the socket
    core::worker& target = worker_->owner().worker_at(target_index);
    asio::post(target.io(), [&target, protocol, fd, listener = listener_, layers = std::move(layers_),
                             replay = std::move(replay)]() mutable {
        client_socket socket(target.io());
        boost::system::error_code ec;
        socket.assign(protocol, fd, ec);
        if (ec) {
            ::close(fd);
            target.owner().open_connections().fetch_sub(1, std::memory_order_relaxed);
            if (listener->open_connections) listener->open_connections->fetch_sub(1, std::memory_order_relaxed);
            return;
        }
        auto c = std::make_shared<tcp_connection>(target, std::move(socket), std::move(listener), std::move(layers));
        c->start(std::move(replay));
    });
}

bool tcp_connection::move_to(std::size_t target) {
    if (layers_ || moving_ || !read_pending_ || write_in_flight_ || flush_posted_ || read_paused_ || store_paused_ ||
        linger_timer_ || !socket_.is_open() || target == worker_->index()) {
        return false;
    }
    boost::system::error_code ec;
    socket_.cancel(ec);
    if (ec) return false;
    moving_ = true;
    move_target_ = static_cast<std::uint16_t>(target);
    return true;
}

void tcp_connection::finish_move() {
    moving_ = false;
    core::worker& from = *worker_;
    // Between the cancel and now the connection may have changed (a
    // keep-alive timeout, a takeover, a message for it): then it stays.
    if (!conn_.movable() || !socket_.is_open() || write_in_flight_ || flush_posted_) {
        after_input();
        return;
    }
    tcp protocol = tcp::v4();
    int fd = -1;
    if (!release_descriptor(protocol, fd)) {
        finish_close();
        return;
    }
    // What it published so far leaves this worker (to the store's writer and
    // to the other workers) before its next message can leave the new one.
    from.flush_outboxes();
    session& s = *conn_.attached_session();
    const std::string client_id = s.client_id();
    auto moving = from.take_session(s);
    conn_.leave_worker();
    release_block();
    core::worker& to = from.owner().worker_at(move_target_);
    rebind_socket(to.io());
    worker_ = &to;
    // Should the new worker stop before this runs (shutdown), the
    // connection goes first: it still points at the session.
    struct handover {
        std::shared_ptr<tcp_connection> connection;
        std::unique_ptr<session> moving;
        handover(std::shared_ptr<tcp_connection> c, std::unique_ptr<session> s)
            : connection(std::move(c)), moving(std::move(s)) {}
        handover(handover&&) = default;
        ~handover() { connection.reset(); }
    };
    const bool announced = from.owner().registry().rehome(client_id, from.index(), to.index(), [&] {
        asio::post(to.io(), [h = handover(shared_from_this(), std::move(moving)), protocol, fd]() mutable {
            h.connection->arrive(std::move(h.moving), protocol, fd);
        });
    });
    if (!announced) {
        // Cannot happen while the session lives here (the registry names its
        // home until it ends); should it, the connection closes rather than
        // leave two homes for one client id.
        from.log().error("Client ", client_id, ": its session is not registered on worker ", from.index(),
                         "; closing its connection.");
        ::close(fd);
        worker_ = &from;
        rebind_socket(from.io());
        from.adopt_session(std::move(moving));
        conn_.join_worker(from.port());
        finish_close();
    }
}

void tcp_connection::rebind_socket(boost::asio::io_context& io) {
    // Made anew rather than move-assigned: a move copies the reactor slot of
    // the never-opened source socket, which Asio leaves uninitialised.
    std::destroy_at(&socket_);
    std::construct_at(&socket_, io);
}

void tcp_connection::arrive(std::unique_ptr<session> moved, tcp protocol, int fd) {
    worker_->adopt_session(std::move(moved));
    conn_.join_worker(worker_->port());
    boost::system::error_code ec;
    socket_.assign(protocol, fd, ec);
    if (ec) {
        ::close(fd);
        finish_close();
        return;
    }
    // Asio keeps "non-blocking" with the socket object, not the descriptor:
    // without it, a read or write that would block waits in poll().
    socket_.non_blocking(true, ec);
    after_input();
}

}  // namespace strata::net
