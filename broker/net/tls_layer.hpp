// TLS of one connection, free of I/O: OpenSSL works on memory buffers, the
// transport moves ciphertext between them and the socket. So the connection
// keeps the readiness-driven transport of plain TCP (no read buffer while
// idle), and the whole TLS state moves with the socket when a connection
// migrates to its session's worker (an SSL object is not tied to a thread).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

typedef struct ssl_st SSL;

namespace strata::net {

class tls_context;

// The Common Name of the peer certificate of `ssl` (empty without one).
std::string certificate_common_name(SSL* ssl);

class tls_layer {
public:
    explicit tls_layer(std::shared_ptr<const tls_context> ctx);
    ~tls_layer();
    tls_layer(const tls_layer&) = delete;
    tls_layer& operator=(const tls_layer&) = delete;

    // Ciphertext from the socket.
    void feed(std::span<const std::uint8_t> ciphertext);
    // Decrypts into `out`: the number of plaintext bytes, 0 when more
    // ciphertext is needed (or the peer closed, or TLS failed: see below).
    std::size_t read(std::span<std::uint8_t> out);
    // Encrypts plaintext for the peer (appended to the pending ciphertext).
    void write(std::span<const std::uint8_t> plaintext);
    // Queues close_notify.
    void shutdown();

    // Ciphertext waiting for the socket: handshake messages, alerts, records.
    bool has_output() const;
    void take_output(std::vector<std::uint8_t>& out);

    bool handshake_done() const;
    bool peer_closed() const { return peer_closed_; }
    // The handshake or a record failed; error() says why (once).
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }

    // The client certificate's Common Name, or its subject in RFC 2253 form;
    // empty without a certificate.
    std::string peer_common_name() const;
    std::string peer_subject() const;

private:
    std::shared_ptr<const tls_context> ctx_;  // outlives ssl_
    SSL* ssl_ = nullptr;
    bool peer_closed_ = false;
    std::string error_;
};

}  // namespace strata::net
