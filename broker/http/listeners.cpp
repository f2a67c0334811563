#include "http/listeners.hpp"

#include <openssl/ssl.h>

#include <algorithm>

#include <boost/asio/ssl/context.hpp>

#include "core/logger.hpp"
#include "net/listen_sockets.hpp"
#include "net/tls_context.hpp"

namespace strata::http {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// The listener's TLS settings as an Asio context over strata's own OpenSSL
// context, so HTTPS and MQTT over TLS share every OpenSSL setting.
std::shared_ptr<asio::ssl::context> tls_context_for(const config::tls_config& tls, std::string& error) {
    auto ctx = net::tls_context::create(tls, error);
    if (!ctx) return nullptr;
    SSL_CTX_up_ref(ctx->native());  // asio's context frees its reference
    return std::make_shared<asio::ssl::context>(ctx->native());
}

}  // namespace

std::vector<bound_endpoint> listener_state::endpoints() const {
    std::vector<bound_endpoint> out;
    for (const auto& a : addresses) out.push_back({a, port, settings && settings->tls != nullptr});
    return out;
}

listener_plan plan_listener(const config::http_listener_config& lc) {
    listener_plan plan;
    plan.config = lc;
    auto settings = std::make_shared<listener_settings>();
    settings->config = lc;
    if (lc.tls.enabled()) {
        std::string error;
        settings->tls = tls_context_for(lc.tls, error);
        if (!settings->tls) plan.settings_error = lc.defined_at + ": http_listener: " + error;
    }
    if (plan.settings_error.empty()) plan.settings = std::move(settings);

    if (lc.bind_address.empty()) {
        plan.targets.emplace_back(asio::ip::address_v4::loopback(), lc.port);
        plan.targets.emplace_back(asio::ip::address_v6::loopback(), lc.port);
        return plan;
    }
    // The main thread's own context: a name lookup never holds up the API's I/O thread.
    asio::io_context lookup;
    tcp::resolver resolver(lookup);
    boost::system::error_code ec;
    const auto results = resolver.resolve(lc.bind_address, std::to_string(lc.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) {
        plan.address_error = lc.defined_at + ": http_listener: cannot resolve bind address '" + lc.bind_address +
                             "': " + ec.message();
        return plan;
    }
    for (const auto& r : results) {
        if (std::find(plan.targets.begin(), plan.targets.end(), r.endpoint()) == plan.targets.end()) {
            plan.targets.push_back(r.endpoint());
        }
    }
    return plan;
}

std::shared_ptr<listener_state> bind_listener(asio::io_context& io, const listener_plan& plan, logger& log,
                                              std::string& error) {
    const auto& lc = plan.config;
    auto state = std::make_shared<listener_state>();
    state->config = lc;
    state->settings = plan.settings;
    std::vector<net::listen_target> targets;
    for (const auto& ep : plan.targets) {
        // A host without IPv6 still gets its IPv4 socket when no address was named.
        targets.push_back({ep, lc.bind_address.empty() && ep.address().is_v6()});
    }
    auto sockets = net::open_listen_sockets(io, targets, lc.port);
    if (sockets.error) {
        error = lc.defined_at + ": http_listener: cannot listen on " + sockets.failed.address().to_string() +
                " port " + std::to_string(sockets.failed.port()) + ": " + sockets.error.message();
        return nullptr;
    }
    if (sockets.acceptors.empty()) {
        error = lc.defined_at + ": http_listener: no address to listen on for port " + std::to_string(lc.port);
        return nullptr;
    }
    for (std::size_t i = 0; i < sockets.acceptors.size(); ++i) {
        state->acceptors.push_back(std::move(sockets.acceptors[i]));
        state->addresses.push_back(sockets.local[i].address().to_string());
    }
    const std::uint16_t port = sockets.port;
    state->port = port;
    for (const auto& address : state->addresses) {
        log.notice("Opening HTTP", plan.settings->tls ? "S" : "", " API on ", address, " port ", port,
                   lc.allow_anonymous ? " (anonymous access allowed)." : ".");
    }
    return state;
}

std::vector<std::size_t> match_listeners(const std::vector<std::shared_ptr<listener_state>>& open,
                                         const std::vector<config::http_listener_config>& next) {
    std::vector<std::size_t> match(next.size(), no_match);
    std::vector<bool> taken(open.size(), false);
    const auto pass = [&](auto same) {
        for (std::size_t i = 0; i < next.size(); ++i) {
            if (match[i] != no_match) continue;
            for (std::size_t j = 0; j < open.size(); ++j) {
                if (taken[j] || open[j]->config.bind_address != next[i].bind_address || !same(*open[j], next[i])) {
                    continue;
                }
                match[i] = j;
                taken[j] = true;
                break;
            }
        }
    };
    // Lines as they were first: a port-0 line keeps its socket even when
    // another line now names the port it got.
    pass([](const listener_state& o, const config::http_listener_config& n) { return o.config.port == n.port; });
    pass([](const listener_state& o, const config::http_listener_config& n) { return n.port != 0 && o.port == n.port; });
    return match;
}

}  // namespace strata::http
