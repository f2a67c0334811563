#include "net/listener.hpp"

#include <future>

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "net/listen_sockets.hpp"
#include "net/tls_layer.hpp"
#include "net/ws_layer.hpp"

namespace strata::net {

namespace asio = boost::asio;
using asio::ip::tcp;

listener::listener(core::broker& b, const config::listener_config& cfg, std::uint16_t index)
    : broker_(b), cfg_(cfg), context_(std::make_shared<listener_context>()), rate_(cfg.max_connection_rate) {
    context_->settings.port = cfg.port;
    context_->settings.index = index;
    context_->settings.mount_point = cfg.mount_point;
    context_->settings.allow_anonymous = cfg.allow_anonymous;
    context_->max_connections = cfg.max_connections;
    context_->open_connections = std::make_shared<std::atomic<int>>(0);
}

listener::~listener() = default;

bool listener::open(std::string& error) {
    auto& io = broker_.worker_at(0).io();
    if (cfg_.tls.enabled()) {
        tls_ = tls_context::create(cfg_.tls, error);
        if (!tls_) {
            error = "listener " + cfg_.defined_at + ": " + error;
            return false;
        }
    }
    std::vector<listen_target> targets;
    const bool loopback_default = cfg_.implicit;
    // A host without IPv6 still gets its IPv4 socket when no address was named.
    const bool v6_optional = cfg_.bind_address.empty() || loopback_default;
    const auto add = [&](tcp::endpoint ep) {
        for (const auto& t : targets) {
            if (t.endpoint == ep) return;
        }
        targets.push_back({ep, v6_optional && ep.address().is_v6()});
    };
    if (loopback_default) {
        // Mosquitto 2's local-only listener: both loopback addresses.
        add({asio::ip::address_v6::loopback(), cfg_.port});
        add({asio::ip::address_v4::loopback(), cfg_.port});
    } else if (cfg_.bind_address.empty()) {
        // Every interface: IPv6 and IPv4 sockets, as Mosquitto opens them.
        if (cfg_.domain != config::socket_domain::ipv4) add({tcp::v6(), cfg_.port});
        if (cfg_.domain != config::socket_domain::ipv6) add({tcp::v4(), cfg_.port});
    } else {
        tcp::resolver resolver(io);
        boost::system::error_code ec;
        const auto results = resolver.resolve(cfg_.bind_address, std::to_string(cfg_.port),
                                              tcp::resolver::passive | tcp::resolver::numeric_service, ec);
        if (ec) {
            error = "cannot resolve bind address '" + cfg_.bind_address + "': " + ec.message();
            return false;
        }
        for (const auto& r : results) {
            const auto ep = r.endpoint();
            if (cfg_.domain == config::socket_domain::ipv4 && !ep.address().is_v4()) continue;
            if (cfg_.domain == config::socket_domain::ipv6 && !ep.address().is_v6()) continue;
            add(ep);
        }
    }
    auto sockets = open_listen_sockets(io, targets, cfg_.port);
    if (sockets.error) {
        error = "cannot listen on " + sockets.failed.address().to_string() + " port " +
                std::to_string(sockets.failed.port()) + ": " + sockets.error.message();
        return false;
    }
    for (std::size_t i = 0; i < sockets.acceptors.size(); ++i) {
        const auto& local = sockets.local[i];
        if (cfg_.protocol == config::listener_protocol::websockets) {
            broker_.log().notice("Opening websockets listen socket on port ", local.port(), ".");
        } else {
            broker_.log().notice("Opening ", local.address().is_v6() ? "ipv6" : "ipv4", " listen socket on port ",
                                 local.port(), ".");
        }
        endpoints_.push_back({local.address().to_string(), local.port()});
        acceptors_.push_back(std::move(sockets.acceptors[i]));
        retry_timers_.push_back(std::make_unique<asio::steady_timer>(io));
    }
    if (acceptors_.empty()) {
        error = "no address to listen on for listener " + cfg_.defined_at;
        return false;
    }
    return true;
}

void listener::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        asio::post(broker_.worker_at(0).io(), [this, i] { accept_next(i); });
    }
}

void listener::accept_next(std::size_t acceptor_index) {
    auto& acceptor = *acceptors_[acceptor_index];
    if (!acceptor.is_open()) return;
    core::worker& target = broker_.worker_at(next_worker_);
    next_worker_ = (next_worker_ + 1) % broker_.worker_count();
    acceptor.async_accept(target.io(), [this, acceptor_index, &target](const boost::system::error_code& ec, client_socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            const int limit = broker_.worker_at(0).config().max_connections;
            auto& open_total = broker_.open_connections();
            auto& open_here = *context_->open_connections;
            const auto now = std::chrono::steady_clock::now();
            if (!rate_.admit(now)) {
                // Closed before anything is read or allocated for it: a flood costs an accept and a close.
                if (const auto refused = rate_.refusals_to_log(now)) {
                    broker_.log().notice("Client connection from ", describe_peer(socket), " denied: max_connection_rate (",
                                         rate_.per_second(), "/s) reached on port ",
                                         static_cast<int>(endpoints_[acceptor_index].port), " (", refused,
                                         " refused since the last such line).");
                }
                boost::system::error_code ignored;
                socket.close(ignored);
                accept_next(acceptor_index);
                return;
            }
            // An address blocked after failed logins is still accepted: its
            // CONNECT gets "not authorized", later (connect_handler.cpp).
            if ((limit >= 0 && open_total.load() >= limit) ||
                (context_->max_connections >= 0 && open_here.load() >= context_->max_connections)) {
                broker_.log().notice("Client connection from ", describe_peer(socket),
                                     " denied: max_connections reached.");
                boost::system::error_code ignored;
                socket.close(ignored);
            } else {
                open_total.fetch_add(1, std::memory_order_relaxed);
                open_here.fetch_add(1, std::memory_order_relaxed);
                if (target.config().log.connection_messages) {
                    broker_.log().notice("New connection from ", describe_peer(socket), " on port ",
                                         static_cast<int>(endpoints_[acceptor_index].port), ".");
                }
                asio::post(target.io(), [&target, s = std::move(socket), ctx = context_, layers = make_layers()]() mutable {
                    std::make_shared<tcp_connection>(target, std::move(s), std::move(ctx), std::move(layers))->start();
                });
            }
        } else {
            // Out of descriptors and similar: log, then retry after a pause
            // instead of spinning on an error that persists.
            broker_.log().warning("Accept failed on port ", static_cast<int>(endpoints_[acceptor_index].port), ": ",
                                  ec.message());
            auto& timer = *retry_timers_[acceptor_index];
            timer.expires_after(std::chrono::milliseconds(100));
            timer.async_wait([this, acceptor_index](const boost::system::error_code& wait_ec) {
                if (!wait_ec) accept_next(acceptor_index);
            });
            return;
        }
        accept_next(acceptor_index);
    });
}

std::unique_ptr<stream_layers> listener::make_layers() const {
    if (!tls_ && cfg_.protocol == config::listener_protocol::mqtt) return nullptr;
    auto layers = std::make_unique<stream_layers>();
    if (tls_) {
        layers->tls = std::make_unique<tls_layer>(tls_);
        const auto& t = tls_->settings();
        layers->identity_from_certificate = t.use_identity_as_username || t.use_subject_as_username;
        layers->use_subject = t.use_subject_as_username;
    }
    if (cfg_.protocol == config::listener_protocol::websockets) {
        layers->ws = std::make_unique<ws_layer>(broker_.worker_at(0).config().websockets_headers_size);
    }
    return layers;
}

bool listener::reload_tls(const config::listener_config& cfg, std::string& error) {
    if (!cfg.tls.enabled() || !tls_) return true;  // switching TLS on or off needs a restart
    auto next = tls_context::create(cfg.tls, error);
    if (!next) {
        error = "listener " + cfg_.defined_at + ": " + error;
        return false;
    }
    std::promise<void> done;
    asio::post(broker_.worker_at(0).io(), [this, &done, next = std::move(next)]() mutable {
        tls_ = std::move(next);
        done.set_value();
    });
    done.get_future().wait();
    return true;
}

void listener::close() {
    std::promise<void> done;
    asio::post(broker_.worker_at(0).io(), [this, &done] {
        for (auto& a : acceptors_) {
            boost::system::error_code ec;
            a->close(ec);
        }
        for (auto& t : retry_timers_) t->cancel();
        done.set_value();
    });
    done.get_future().wait();
}

}  // namespace strata::net
