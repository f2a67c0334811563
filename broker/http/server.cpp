#include "http/server.hpp"
#include "core/thread_name.hpp"

#include <chrono>
#include <list>
#include <optional>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/logger.hpp"
#include "http/api.hpp"
#include "reader.hpp"
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
// answer.
constexpr auto idle_timeout = std::chrono::seconds(30);
constexpr auto write_timeout = std::chrono::seconds(30);
// Time budget of one query (answered with 503 past it).
constexpr auto query_time_limit = std::chrono::seconds(10);
// Further connections are closed at once: one thread answers them all.
constexpr std::size_t max_connections = 256;

class connection;

}  // namespace

// The open connections, touched only on the server's thread.
struct connection_registry {
    std::list<std::weak_ptr<connection>> open;
};

namespace {

class connection : public std::enable_shared_from_this<connection> {
public:
    connection(tcp::socket&& socket, api& a, logger& log, std::shared_ptr<connection_registry> registry)
        : stream_(std::move(socket)), api_(a), log_(log), registry_(std::move(registry)) {}

    ~connection() { registry_->open.erase(self_); }

    void run() {
        registry_->open.push_back(weak_from_this());
        self_ = std::prev(registry_->open.end());
        read_next();
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

private:
    void read_next() {
        parser_.emplace();
        parser_->header_limit(header_limit);
        parser_->body_limit(body_limit);
        stream_.expires_after(idle_timeout);
        bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&connection::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == bhttp::error::body_limit) return answer_error(413, "request body too large", 11);
        if (ec == bhttp::error::header_limit) return answer_error(431, "request line and headers too large", 11);
        if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
            ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            return answer_error(400, "malformed HTTP request (" + ec.message() + ")", 11);
        }
        if (ec) return close();  // closed by the client, idle timeout, shutdown

        const auto& req = parser_->get();
        api_response result;
        try {
            result = api_.handle(std::string_view(req.method_string().data(), req.method_string().size()),
                                 std::string_view(req.target().data(), req.target().size()));
        } catch (const std::exception& e) {
            result = {500, nlohmann::ordered_json{{"error", std::string("internal error: ") + e.what()}}, {}};
        }
        if (log_.enabled(config::log_debug)) {
            log_.debug("HTTP ", std::string_view(req.method_string().data(), req.method_string().size()), ' ',
                       std::string_view(req.target().data(), req.target().size()), " -> ", result.status);
        }
        write(std::move(result), req.version(), req.keep_alive());
    }

    void answer_error(unsigned status, std::string message, unsigned version) {
        write({status, nlohmann::ordered_json{{"error", std::move(message)}}, {}}, version, false);
    }

    void write(api_response result, unsigned version, bool keep_alive) {
        response_ = {};
        response_.version(version);
        response_.result(static_cast<bhttp::status>(result.status));
        response_.set(bhttp::field::server, "strata/" STRATA_VERSION);
        response_.set(bhttp::field::content_type, "application/json");
        response_.set(bhttp::field::cache_control, "no-store");
        if (!result.allow.empty()) response_.set(bhttp::field::allow, result.allow);
        response_.keep_alive(keep_alive);
        response_.body() = to_text(result.body) + "\n";
        response_.prepare_payload();
        stream_.expires_after(write_timeout);
        bhttp::async_write(stream_, response_,
                           beast::bind_front_handler(&connection::on_write, shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return close();
        read_next();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bhttp::response<bhttp::string_body> response_;
    api& api_;
    logger& log_;
    std::shared_ptr<connection_registry> registry_;
    std::list<std::weak_ptr<connection>>::iterator self_;
};

}  // namespace

server::server(storage::store& s, logger& log)
    : log_(log),
      reader_(std::make_unique<storage::reader>(s)),
      api_(std::make_unique<api>(*reader_, &s)),
      connections_(std::make_shared<connection_registry>()) {
    reader_->set_time_limit(query_time_limit);
}

server::~server() { stop(); }

bool server::open(const std::vector<config::http_listener_config>& listeners, std::string& error) {
    for (const auto& cfg : listeners) {
        std::vector<tcp::endpoint> targets;
        if (cfg.bind_address.empty()) {
            // Every interface: IPv6 and IPv4 sockets, as the MQTT listeners open them.
            targets.emplace_back(tcp::v6(), cfg.port);
            targets.emplace_back(tcp::v4(), cfg.port);
        } else {
            tcp::resolver resolver(io_);
            boost::system::error_code ec;
            const auto results = resolver.resolve(cfg.bind_address, std::to_string(cfg.port),
                                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
            if (ec) {
                error = "http_listener: cannot resolve bind address '" + cfg.bind_address + "': " + ec.message();
                return false;
            }
            for (const auto& r : results) {
                if (std::find(targets.begin(), targets.end(), r.endpoint()) == targets.end()) {
                    targets.push_back(r.endpoint());
                }
            }
        }
        std::uint16_t port = cfg.port;
        bool bound = false;
        for (auto ep : targets) {
            if (port != 0) ep.port(port);  // an ephemeral port is shared by the listener's sockets
            auto acceptor = std::make_unique<tcp::acceptor>(io_);
            boost::system::error_code ec;
            acceptor->open(ep.protocol(), ec);
            if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
            if (!ec && ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
            if (!ec) acceptor->bind(ep, ec);
            if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
            if (ec) {
                // A host without IPv6 still gets its IPv4 socket when no address was named.
                if (cfg.bind_address.empty() && ep.address().is_v6()) continue;
                error = "http_listener: cannot listen on " + ep.address().to_string() + " port " +
                        std::to_string(ep.port()) + ": " + ec.message();
                return false;
            }
            const auto local = acceptor->local_endpoint(ec);
            port = local.port();
            log_.notice("Opening HTTP API on ", local.address().to_string(), " port ", port, ".");
            endpoints_.push_back({local.address().to_string(), port});
            acceptors_.push_back(std::move(acceptor));
            bound = true;
        }
        if (!bound) {
            error = "http_listener: no address to listen on for port " + std::to_string(cfg.port);
            return false;
        }
    }
    return true;
}

void server::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) accept_next(i);
    thread_ = std::thread([this] {
        name_this_thread("strata-http");
        io_.run();
    });
}

void server::accept_next(std::size_t index) {
    acceptors_[index]->async_accept([this, index](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;  // stopping
        if (!ec) {
            if (connections_->open.size() >= max_connections) {
                boost::system::error_code ignored;
                socket.close(ignored);
            } else {
                std::make_shared<connection>(std::move(socket), *api_, log_, connections_)->run();
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
            a->close(ec);
        }
        // Copied first: closing may end a connection, which unregisters itself.
        std::vector<std::shared_ptr<connection>> open;
        for (auto& w : connections_->open) {
            if (auto c = w.lock()) open.push_back(std::move(c));
        }
        for (auto& c : open) c->close();
        io_.stop();
    });
    thread_.join();
}

void server::set_exporters_source(std::function<std::string()> source) { api_->set_exporters_source(std::move(source)); }

}  // namespace strata::http
