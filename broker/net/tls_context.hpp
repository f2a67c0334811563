// The OpenSSL server context of one TLS listener, built from its conf keys
// (certfile, keyfile, cafile, capath, crlfile, tls_version, ciphers, ...).
// Building reads files, so it happens at start-up, in --check and on SIGHUP,
// never on a worker thread. Connections hold a reference to the context they
// started with, so a reload swaps the listener's context without touching
// open connections.
#pragma once

#include <memory>
#include <string>

#include "config/broker_config.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace strata::net {

class tls_context {
public:
    // Builds the context; on failure returns null and says why (naming the file).
    static std::shared_ptr<tls_context> create(const config::tls_config& cfg, std::string& error);
    ~tls_context();
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    SSL_CTX* native() const { return ctx_; }
    const config::tls_config& settings() const { return cfg_; }

private:
    tls_context(SSL_CTX* ctx, config::tls_config cfg) : ctx_(ctx), cfg_(std::move(cfg)) {}

    SSL_CTX* ctx_;
    config::tls_config cfg_;
};

// The last OpenSSL error of this thread as text ("" if none), and clears the queue.
std::string last_openssl_error();

}  // namespace strata::net
