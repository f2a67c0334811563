#include "http/server.hpp"

#include <openssl/ssl.h>

#include <chrono>
#include <list>
#include <optional>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "core/logger.hpp"
#include "core/thread_name.hpp"
#include "http/access.hpp"
#include "http/api.hpp"
#include "http/query_pool.hpp"
#include "http/request_handler.hpp"
#include "net/tls_context.hpp"
#include "net/tls_layer.hpp"
#include "store.hpp"

namespace strata::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {

// A request line and headers larger than this are refused (431); the API
// takes no request bodies, so a small body limit is plenty (413).
constexpr std::uint32_t header_limit = 16 * 1024;
constexpr std::uint64_t body_limit = 4 * 1024;
// A connection with no complete request for this long is closed (also
// between keep-alive requests), and so is a client that does not read its
// answer or does not finish its TLS handshake.
constexpr auto idle_timeout = std::chrono::seconds(30);
constexpr auto write_timeout = std::chrono::seconds(30);
constexpr auto handshake_timeout = std::chrono::seconds(10);
// Time budget of one query (answered with 503 past it).
constexpr auto query_time_limit = std::chrono::seconds(10);
// Query threads: one slow query holds one of them; requests beyond the
// waiting line get 503 at once instead of queueing without bound.
constexpr std::size_t query_threads = 4;
constexpr std::size_t max_waiting_requests = 64;
// Further connections are closed at once.
constexpr std::size_t max_connections = 256;

template <class Fields, class Key>
std::string_view header(const Fields& fields, Key key) {
    const auto v = fields[key];
    return {v.data(), v.size()};
}

class closable {
public:
    virtual ~closable() = default;
    virtual void close() = 0;
};

}  // namespace

// The open connections and what they share, touched only on the I/O thread
// (except `pool` and `access`, which are thread-safe).
struct connection_registry {
    std::list<std::weak_ptr<closable>> open;
    asio::io_context* io = nullptr;
    query_pool* pool = nullptr;
    access_control* access = nullptr;
    logger* log = nullptr;
    std::shared_ptr<const config::http_config> cfg;  // allowed hosts, CORS origins
};

struct server::acceptor_entry {
    tcp::acceptor acceptor;
    std::shared_ptr<const listener_settings> settings;  // replaced on SIGHUP, read on the I/O thread
    std::size_t listener = 0;                           // index in the conf's http listeners
};

namespace {

template <class Stream>
class connection final : public closable, public std::enable_shared_from_this<connection<Stream>> {
public:
    connection(Stream&& stream, std::shared_ptr<const listener_settings> settings,
               std::shared_ptr<connection_registry> registry, const tcp::endpoint& peer)
        : stream_(std::move(stream)), settings_(std::move(settings)), registry_(std::move(registry)) {
        origin_.address = peer.address().to_string();
        origin_.peer = (peer.address().is_v6() ? "[" + origin_.address + "]" : origin_.address) + ":" +
                       std::to_string(peer.port());
        origin_.listener_port = settings_->config.port;
        origin_.allow_anonymous = settings_->config.allow_anonymous;
        origin_.mount_point = settings_->config.mount_point.value_or("");
    }

    ~connection() override { registry_->open.erase(self_); }

    void run() {
        registry_->open.push_back(this->weak_from_this());
        self_ = std::prev(registry_->open.end());
        if constexpr (tls) {
            beast::get_lowest_layer(stream_).expires_after(handshake_timeout);
            stream_.async_handshake(asio::ssl::stream_base::server,
                                    beast::bind_front_handler(&connection::on_handshake, this->shared_from_this()));
        } else {
            read_next();
        }
    }

    void close() override {
        beast::error_code ec;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(stream_).close();
    }

private:
    static constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;

    void on_handshake(beast::error_code ec) {
        if (ec) return close();
        if constexpr (tls) {
            if (settings_->config.tls.use_identity_as_username) {
                origin_.certificate_user = net::certificate_common_name(stream_.native_handle());
                if (origin_.certificate_user.empty()) return close();  // no usable identity: as for MQTT
            }
        }
        read_next();
    }

    void read_next() {
        parser_.emplace();
        parser_->header_limit(header_limit);
        parser_->body_limit(body_limit);
        beast::get_lowest_layer(stream_).expires_after(idle_timeout);
        bhttp::async_read(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&connection::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == bhttp::error::body_limit) return refuse(413, "request body too large", 11, false);
        if (ec == bhttp::error::header_limit) return refuse(431, "request line and headers too large", 11, false);
        if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
            ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            return refuse(400, "malformed HTTP request (" + ec.message() + ")", 11, false);
        }
        if (ec) return close();  // closed by the client, idle timeout, shutdown
        beast::get_lowest_layer(stream_).expires_never();

        const auto& req = parser_->get();
        const auto& cfg = *registry_->cfg;
        const auto method = std::string(req.method_string());
        const auto host = std::string(req[bhttp::field::host]);
        version_ = req.version();
        keep_alive_ = req.keep_alive();
        // DNS rebinding: a page whose own name now points here must not read the API.
        if (host.empty() && version_ >= 11) return refuse(400, "the Host header is required", version_, keep_alive_);
        if (!host.empty() && !host_allowed(host, cfg.allowed_hosts)) {
            return refuse(421, "host '" + host + "' is not a name of this server (see http_allowed_hosts)", version_,
                          keep_alive_);
        }
        const auto origin_header = std::string(req[bhttp::field::origin]);
        const auto origin = classify_origin(origin_header, host, tls, cfg.cors_origins);
        cors_origin_ = origin == origin_kind::allowed ? origin_header : std::string();
        if (method == "OPTIONS") return preflight(origin);
        if (method != "GET" && method != "HEAD" && cross_site_write(origin, header(req, "Sec-Fetch-Site"))) {
            return refuse(403, "cross-site request refused: " + method + " is accepted from this server's own pages "
                               "and the origins in http_cors_origin only", version_, keep_alive_);
        }
        auto job = [self = this->shared_from_this(), registry = registry_, method, target = std::string(req.target()),
                    c = parse_authorization(header(req, bhttp::field::authorization)), origin = origin_](api& a) {
            auto result = handle_request(a, *registry->access, *registry->log, method, target, c, origin);
            if (registry->log->enabled(config::log_debug)) {
                registry->log->debug("HTTP ", origin.peer, ' ', method, ' ', target, " -> ", result.response.status);
            }
            asio::post(*registry->io, [self, result = std::move(result)]() mutable { self->write(std::move(result)); });
        };
        if (!registry_->pool->submit(std::move(job))) {
            return refuse(503, "too many requests in progress; try again shortly", version_, false);
        }
    }

    void preflight(origin_kind origin) {
        if (origin == origin_kind::foreign) {
            return refuse(403, "this origin may not call the API (see http_cors_origin)", version_, keep_alive_);
        }
        response_ = {};
        response_.version(version_);
        response_.result(bhttp::status::no_content);
        response_.set(bhttp::field::allow, "GET, DELETE, OPTIONS");
        if (!cors_origin_.empty()) {
            response_.set(bhttp::field::access_control_allow_methods, "GET, DELETE");
            response_.set(bhttp::field::access_control_allow_headers, "Authorization");
            response_.set(bhttp::field::access_control_max_age, "600");
        }
        send(keep_alive_);
    }

    void refuse(unsigned status, std::string message, unsigned version, bool keep_alive) {
        version_ = version;
        keep_alive_ = keep_alive;
        write({error_response(status, std::move(message)), {}});
    }

    void write(answer result) {
        response_ = {};
        response_.version(version_);
        response_.result(static_cast<bhttp::status>(result.response.status));
        response_.set(bhttp::field::content_type, "application/json");
        if (!result.response.allow.empty()) response_.set(bhttp::field::allow, result.response.allow);
        if (result.response.status == 401) {
            response_.set(bhttp::field::www_authenticate, "Basic realm=\"strata\", charset=\"UTF-8\"");
        }
        if (result.retry_after.count() > 0) response_.set(bhttp::field::retry_after, std::to_string(result.retry_after.count()));
        response_.body() = to_text(result.response.body) + "\n";
        send(keep_alive_);
    }

    void send(bool keep_alive) {
        response_.set(bhttp::field::server, "strata/" STRATA_VERSION);
        response_.set(bhttp::field::cache_control, "no-store");
        if (!cors_origin_.empty()) {
            response_.set(bhttp::field::access_control_allow_origin, cors_origin_);
            response_.set(bhttp::field::access_control_allow_credentials, "true");
            response_.set(bhttp::field::vary, "Origin");
        }
        response_.keep_alive(keep_alive);
        response_.prepare_payload();
        beast::get_lowest_layer(stream_).expires_after(write_timeout);
        bhttp::async_write(stream_, response_,
                           beast::bind_front_handler(&connection::on_write, this->shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return close();
        read_next();
    }

    Stream stream_;
    std::shared_ptr<const listener_settings> settings_;
    std::shared_ptr<connection_registry> registry_;
    std::list<std::weak_ptr<closable>>::iterator self_;
    request_origin origin_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bhttp::response<bhttp::string_body> response_;
    unsigned version_ = 11;
    bool keep_alive_ = true;
    std::string cors_origin_;  // the request's Origin when it is in http_cors_origin
};

// The listener's TLS settings as an Asio context over strata's own OpenSSL
// context, so HTTPS and MQTT over TLS share every OpenSSL setting.
std::shared_ptr<asio::ssl::context> tls_context_for(const config::tls_config& tls, std::string& error) {
    auto ctx = net::tls_context::create(tls, error);
    if (!ctx) return nullptr;
    SSL_CTX_up_ref(ctx->native());  // asio's context frees its reference
    return std::make_shared<asio::ssl::context>(ctx->native());
}

}  // namespace

server::server(storage::store& s, logger& log, auth::login_throttle& throttle, plugin::http_requests* plugins)
    : log_(log),
      pool_(std::make_unique<query_pool>(s, query_threads, max_waiting_requests, query_time_limit)),
      access_(std::make_unique<access_control>(throttle, plugins)),
      connections_(std::make_shared<connection_registry>()),
      http_cfg_(std::make_shared<config::http_config>()) {
    connections_->io = &io_;
    connections_->pool = pool_.get();
    connections_->access = access_.get();
    connections_->log = &log_;
    connections_->cfg = http_cfg_;
}

server::~server() { stop(); }

void server::configure(std::shared_ptr<const auth::security> security, const config::http_config& cfg) {
    access_->configure(std::move(security), cfg);
    auto next = std::make_shared<const config::http_config>(cfg);
    if (!thread_.joinable()) {
        connections_->cfg = std::move(next);
        return;
    }
    asio::post(io_, [registry = connections_, next = std::move(next)] { registry->cfg = next; });
}

namespace {

std::shared_ptr<listener_settings> settings_of(const config::http_listener_config& lc, std::string& error) {
    auto settings = std::make_shared<listener_settings>();
    settings->config = lc;
    if (lc.tls.enabled()) {
        settings->tls = tls_context_for(lc.tls, error);
        if (!settings->tls) {
            error = lc.defined_at + ": http_listener: " + error;
            return nullptr;
        }
    }
    return settings;
}

}  // namespace

bool server::reload(const config::http_config& cfg, std::string& error) {
    bool same = cfg.listeners.size() == opened_.size();
    for (std::size_t i = 0; same && i < opened_.size(); ++i) {
        same = cfg.listeners[i].port == opened_[i].port && cfg.listeners[i].bind_address == opened_[i].bind_address;
    }
    if (!same) {
        error = "http_listener ports and addresses take effect at restart only";
        return false;
    }
    std::vector<std::shared_ptr<const listener_settings>> next;
    for (const auto& lc : cfg.listeners) {
        auto settings = settings_of(lc, error);
        if (!settings) return false;
        next.push_back(std::move(settings));
    }
    const auto apply = [this, next = std::move(next)] {
        for (auto& a : acceptors_) a->settings = next[a->listener];
    };
    if (thread_.joinable()) {
        asio::post(io_, apply);
    } else {
        apply();
    }
    return true;
}

bool server::open(const config::http_config& cfg, std::string& error) {
    http_cfg_ = std::make_shared<const config::http_config>(cfg);
    connections_->cfg = http_cfg_;
    opened_ = cfg.listeners;
    for (std::size_t index = 0; index < cfg.listeners.size(); ++index) {
        const auto& lc = cfg.listeners[index];
        std::shared_ptr<const listener_settings> settings = settings_of(lc, error);
        if (!settings) return false;
        std::vector<tcp::endpoint> targets;
        if (lc.bind_address.empty()) {
            // Loopback only unless the conf names an address (docs/http-api.md says why).
            targets.emplace_back(asio::ip::address_v4::loopback(), lc.port);
            targets.emplace_back(asio::ip::address_v6::loopback(), lc.port);
        } else {
            tcp::resolver resolver(io_);
            boost::system::error_code ec;
            const auto results = resolver.resolve(lc.bind_address, std::to_string(lc.port),
                                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
            if (ec) {
                error = lc.defined_at + ": http_listener: cannot resolve bind address '" + lc.bind_address + "': " +
                        ec.message();
                return false;
            }
            for (const auto& r : results) {
                if (std::find(targets.begin(), targets.end(), r.endpoint()) == targets.end()) targets.push_back(r.endpoint());
            }
        }
        std::uint16_t port = lc.port;
        bool bound = false;
        for (auto ep : targets) {
            if (port != 0) ep.port(port);  // an ephemeral port is shared by the listener's sockets
            auto entry = std::make_unique<acceptor_entry>(acceptor_entry{tcp::acceptor(io_), settings, index});
            auto& acceptor = entry->acceptor;
            boost::system::error_code ec;
            acceptor.open(ep.protocol(), ec);
            if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
            if (!ec && ep.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
            if (!ec) acceptor.bind(ep, ec);
            if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
            if (ec) {
                // A host without IPv6 still gets its IPv4 socket when no address was named.
                if (lc.bind_address.empty() && ep.address().is_v6()) continue;
                error = lc.defined_at + ": http_listener: cannot listen on " + ep.address().to_string() + " port " +
                        std::to_string(ep.port()) + ": " + ec.message();
                return false;
            }
            const auto local = acceptor.local_endpoint(ec);
            port = local.port();
            log_.notice("Opening HTTP", settings->tls ? "S" : "", " API on ", local.address().to_string(), " port ",
                        port, lc.allow_anonymous ? " (anonymous access allowed)." : ".");
            endpoints_.push_back({local.address().to_string(), port, settings->tls != nullptr});
            acceptors_.push_back(std::move(entry));
            bound = true;
        }
        if (!bound) {
            error = lc.defined_at + ": http_listener: no address to listen on for port " + std::to_string(lc.port);
            return false;
        }
    }
    return true;
}

void server::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) accept_next(i);
    pool_->start();
    thread_ = std::thread([this] {
        name_this_thread("strata-http");
        io_.run();
    });
}

void server::accept_next(std::size_t index) {
    auto& entry = *acceptors_[index];
    entry.acceptor.async_accept([this, index](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;  // stopping
        if (!ec) {
            boost::system::error_code peer_ec;
            const auto peer = socket.remote_endpoint(peer_ec);
            if (peer_ec || connections_->open.size() >= max_connections) {
                socket.close(peer_ec);
            } else {
                const auto& settings = acceptors_[index]->settings;
                if (settings->tls) {
                    std::make_shared<connection<beast::ssl_stream<beast::tcp_stream>>>(
                        beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *settings->tls),
                        settings, connections_, peer)
                        ->run();
                } else {
                    std::make_shared<connection<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), settings,
                                                                    connections_, peer)
                        ->run();
                }
            }
        }
        accept_next(index);
    });
}

void server::stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
        for (auto& a : acceptors_) {
            boost::system::error_code ec;
            a->acceptor.close(ec);
        }
        // Copied first: closing may end a connection, which unregisters itself.
        std::vector<std::shared_ptr<closable>> open;
        for (auto& w : connections_->open) {
            if (auto c = w.lock()) open.push_back(std::move(c));
        }
        for (auto& c : open) c->close();
        io_.stop();
    });
    thread_.join();
    pool_->stop();
}

void server::set_exporters_source(std::function<std::string()> source) { pool_->set_exporters_source(source); }

}  // namespace strata::http
