#include "http/server.hpp"

#include <chrono>
#include <future>
#include <list>
#include <optional>

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
    // `l` left the conf: a connection of it closes now unless it is
    // answering a request, and then once the answer is written.
    virtual void listener_removed(const listener_state& l) = 0;
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

namespace {

template <class Stream>
class connection final : public closable, public std::enable_shared_from_this<connection<Stream>> {
public:
    connection(Stream&& stream, std::shared_ptr<const listener_state> listener,
               std::shared_ptr<connection_registry> registry, const tcp::endpoint& peer)
        : stream_(std::move(stream)),
          listener_(std::move(listener)),
          settings_(listener_->settings),
          registry_(std::move(registry)) {
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

    void listener_removed(const listener_state& l) override {
        if (listener_.get() == &l && !answering_) close();  // else on_write closes it
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
        answering_ = false;
        parser_.emplace();
        parser_->header_limit(header_limit);
        parser_->body_limit(body_limit);
        beast::get_lowest_layer(stream_).expires_after(idle_timeout);
        bhttp::async_read(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&connection::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        answering_ = true;
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
        // A listener gone from the conf answers this request and no more.
        keep_alive = keep_alive && !listener_->removed;
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
    std::shared_ptr<const listener_state> listener_;    // `removed` is read on the I/O thread
    std::shared_ptr<const listener_settings> settings_;  // the listener's when this connection came
    std::shared_ptr<connection_registry> registry_;
    std::list<std::weak_ptr<closable>>::iterator self_;
    request_origin origin_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bhttp::response<bhttp::string_body> response_;
    unsigned version_ = 11;
    bool keep_alive_ = true;
    std::string cors_origin_;  // the request's Origin when it is in http_cors_origin
    bool answering_ = false;   // from a complete request until its answer is written
};

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

bool server::open(const config::http_config& cfg, std::string& error) {
    http_cfg_ = std::make_shared<const config::http_config>(cfg);
    connections_->cfg = http_cfg_;
    auto report = reload(cfg);
    if (report.not_opened.empty()) return true;
    error = report.not_opened.front();
    return false;
}

listeners_report server::reload(const config::http_config& cfg) {
    // TLS files and name lookups here, on the caller's thread: the I/O
    // thread only binds and closes.
    std::vector<listener_plan> plans;
    for (const auto& lc : cfg.listeners) plans.push_back(plan_listener(lc));
    if (!thread_.joinable()) return apply(std::move(plans));
    // Acceptors are the I/O thread's: the change runs there, between two
    // handlers, and the caller waits for what it did.
    std::promise<listeners_report> done;
    auto report = done.get_future();
    asio::post(io_, [this, &done, &plans] {
        try {
            done.set_value(apply(std::move(plans)));
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    return report.get();
}

listeners_report server::apply(std::vector<listener_plan> plans) {
    listeners_report report;
    std::vector<config::http_listener_config> lines;
    for (const auto& p : plans) lines.push_back(p.config);
    const auto kept_by = match_listeners(listeners_, lines);
    std::vector<bool> kept(listeners_.size(), false);
    for (const auto j : kept_by) {
        if (j != no_match) kept[j] = true;
    }
    // Closed before any is bound, so that a port can move from one line to another.
    for (std::size_t j = 0; j < listeners_.size(); ++j) {
        if (!kept[j]) close_listener(*listeners_[j]);
    }
    std::vector<std::shared_ptr<listener_state>> next;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        auto& plan = plans[i];
        if (kept_by[i] != no_match) {
            auto& l = listeners_[kept_by[i]];
            l->config = plan.config;
            if (plan.settings) l->settings = std::move(plan.settings);
            else report.tls_not_reloaded.push_back(plan.settings_error);
            next.push_back(l);
            continue;
        }
        std::string error = !plan.settings_error.empty() ? plan.settings_error : plan.address_error;
        auto l = error.empty() ? bind_listener(io_, plan, log_, error) : nullptr;
        if (!l) {
            report.not_opened.push_back(error);
            continue;
        }
        for (const auto& a : l->acceptors) accept_next(l, a);
        next.push_back(std::move(l));
    }
    listeners_ = std::move(next);
    std::vector<bound_endpoint> endpoints;
    for (const auto& l : listeners_) {
        for (auto& ep : l->endpoints()) endpoints.push_back(std::move(ep));
    }
    std::lock_guard lock(endpoints_mutex_);
    report.endpoints_changed = endpoints != endpoints_;
    endpoints_ = std::move(endpoints);
    return report;
}

void server::close_listener(listener_state& l) {
    l.removed = true;
    for (auto& a : l.acceptors) {
        boost::system::error_code ec;
        a->close(ec);  // its pending accept completes with operation_aborted
    }
    for (const auto& address : l.addresses) log_.notice("Closing HTTP API on ", address, " port ", l.port, ".");
    // Copied first: closing a connection unregisters it.
    std::vector<std::shared_ptr<closable>> open;
    for (auto& w : connections_->open) {
        if (auto c = w.lock()) open.push_back(std::move(c));
    }
    for (auto& c : open) c->listener_removed(l);
}

std::vector<bound_endpoint> server::endpoints() const {
    std::lock_guard lock(endpoints_mutex_);
    return endpoints_;
}

void server::start() {
    pool_->start();
    thread_ = std::thread([this] {
        name_this_thread("strata-http");
        io_.run();
    });
}

// The handler holds the listener and the acceptor it waits on, never an
// index into listeners_, which a reload rebuilds.
void server::accept_next(std::shared_ptr<listener_state> listener, std::shared_ptr<tcp::acceptor> acceptor) {
    auto& a = *acceptor;
    a.async_accept([this, listener = std::move(listener), acceptor = std::move(acceptor)](
                       boost::system::error_code ec, tcp::socket socket) mutable {
        if (ec == asio::error::operation_aborted) return;  // closed: stopping, or out of the conf
        // Accepted just before a reload closed the listener: not served.
        if (listener->removed || !acceptor->is_open()) return;
        if (!ec) {
            boost::system::error_code peer_ec;
            const auto peer = socket.remote_endpoint(peer_ec);
            if (peer_ec || connections_->open.size() >= max_connections) {
                socket.close(peer_ec);
            } else if (listener->settings->tls) {
                auto& tls = *listener->settings->tls;
                std::make_shared<connection<beast::ssl_stream<beast::tcp_stream>>>(
                    beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), tls), listener,
                    connections_, peer)
                    ->run();
            } else {
                std::make_shared<connection<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), listener,
                                                                connections_, peer)
                    ->run();
            }
        }
        accept_next(std::move(listener), std::move(acceptor));
    });
}

void server::stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
        for (auto& l : listeners_) {
            for (auto& a : l->acceptors) {
                boost::system::error_code ec;
                a->close(ec);
            }
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
