#include "http_client.hpp"

#include <utility>  // before Boost.Asio 1.74
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>

#include "export_row.hpp"

namespace strata::exporters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct http_client::state {
    asio::io_context io{1};
    beast::tcp_stream stream{io};
    beast::flat_buffer buffer;
    bool connected = false;
};

http_client::http_client(std::string host, std::uint16_t port, std::chrono::seconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout), state_(std::make_unique<state>()) {}

http_client::~http_client() { close(); }

void http_client::close() {
    if (!state_->connected) return;
    beast::error_code ec;
    state_->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    state_->stream.close();
    state_->connected = false;
    state_->buffer.clear();
}

http_reply http_client::post_json(const std::string& target, const std::string& body, const std::string& authorization) {
    auto& s = *state_;
    beast::error_code failure;
    // Runs one asynchronous step to completion on this thread; the stream's
    // deadline cancels it when the server does not answer in time.
    const auto run = [&] {
        s.io.restart();
        s.io.run();
        if (failure) {
            close();
            throw export_error("HTTP " + host_ + ":" + std::to_string(port_) + ": " + failure.message());
        }
    };
    if (!s.connected) {
        asio::ip::tcp::resolver resolver(s.io);
        beast::error_code ec;
        // Numeric addresses and names from /etc/hosts: this runs on the exporter's thread.
        const auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
        if (ec) throw export_error("cannot resolve " + host_ + ": " + ec.message());
        s.stream.expires_after(timeout_);
        s.stream.async_connect(endpoints, [&](beast::error_code ec, auto) { failure = ec; });
        run();
        s.connected = true;
    }
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, host_ + ":" + std::to_string(port_));
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "strata");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    s.stream.expires_after(timeout_);
    http::async_write(s.stream, req, [&](beast::error_code ec, std::size_t) { failure = ec; });
    run();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    s.stream.expires_after(timeout_);
    http::async_read(s.stream, s.buffer, parser, [&](beast::error_code ec, std::size_t) { failure = ec; });
    run();
    auto res = parser.release();
    if (!res.keep_alive()) close();
    return {res.result_int(), std::move(res.body())};
}

std::string basic_authorization(const std::string& user, const std::string& password) {
    const std::string plain = user + ":" + password;
    std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
    out.resize(static_cast<std::size_t>(n));
    return "Basic " + out;
}

}  // namespace strata::exporters
