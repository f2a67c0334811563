#include "net/tls_layer.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/tls_context.hpp"

namespace strata::net {

tls_layer::tls_layer(std::shared_ptr<const tls_context> ctx) : ctx_(std::move(ctx)) {
    ssl_ = SSL_new(ctx_->native());
    if (!ssl_) {
        error_ = "cannot create a TLS session: " + last_openssl_error();
        return;
    }
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    // An empty input buffer means "try again later", not end of file.
    BIO_set_mem_eof_return(in, -1);
    BIO_set_mem_eof_return(out, -1);
    SSL_set_bio(ssl_, in, out);
    SSL_set_accept_state(ssl_);
}

tls_layer::~tls_layer() { SSL_free(ssl_); }

void tls_layer::feed(std::span<const std::uint8_t> ciphertext) {
    if (!ssl_ || ciphertext.empty()) return;
    BIO_write(SSL_get_rbio(ssl_), ciphertext.data(), static_cast<int>(ciphertext.size()));
}

std::size_t tls_layer::read(std::span<std::uint8_t> out) {
    if (!ssl_ || failed() || peer_closed_) return 0;
    ERR_clear_error();
    const int n = SSL_read(ssl_, out.data(), static_cast<int>(out.size()));
    if (n > 0) return static_cast<std::size_t>(n);
    switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE: return 0;
        case SSL_ERROR_ZERO_RETURN: peer_closed_ = true; return 0;
        default: {
            error_ = last_openssl_error();
            if (const long verify = SSL_get_verify_result(ssl_); verify != X509_V_OK) {
                error_ = std::string("client certificate: ") + X509_verify_cert_error_string(verify);
            }
            if (error_.empty()) error_ = "TLS error";
            return 0;
        }
    }
}

void tls_layer::write(std::span<const std::uint8_t> plaintext) {
    if (!ssl_ || failed() || plaintext.empty()) return;
    ERR_clear_error();
    // Memory BIOs grow, so a write never waits on the socket.
    if (SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size())) <= 0) {
        error_ = last_openssl_error();
        if (error_.empty()) error_ = "TLS write failed";
    }
}

void tls_layer::shutdown() {
    if (!ssl_ || failed() || !SSL_is_init_finished(ssl_)) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);
}

bool tls_layer::has_output() const { return ssl_ && BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0; }

void tls_layer::take_output(std::vector<std::uint8_t>& out) {
    if (!ssl_) return;
    BIO* wbio = SSL_get_wbio(ssl_);
    const std::size_t pending = BIO_ctrl_pending(wbio);
    if (pending == 0) return;
    const std::size_t at = out.size();
    out.resize(at + pending);
    const int n = BIO_read(wbio, out.data() + at, static_cast<int>(pending));
    out.resize(at + static_cast<std::size_t>(n > 0 ? n : 0));
}

bool tls_layer::handshake_done() const { return ssl_ && SSL_is_init_finished(ssl_); }

namespace {

struct x509_deleter {
    void operator()(X509* x) const { X509_free(x); }
};

}  // namespace

std::string certificate_common_name(SSL* ssl) {
    if (!ssl) return {};
    std::unique_ptr<X509, x509_deleter> cert(SSL_get1_peer_certificate(ssl));
    if (!cert) return {};
    X509_NAME* name = X509_get_subject_name(cert.get());
    const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0) return {};
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) return {};
    std::string cn(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return cn;
}

std::string tls_layer::peer_common_name() const { return certificate_common_name(ssl_); }

std::string tls_layer::peer_subject() const {
    if (!ssl_) return {};
    std::unique_ptr<X509, x509_deleter> cert(SSL_get1_peer_certificate(ssl_));
    if (!cert) return {};
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::string subject(data, static_cast<std::size_t>(length > 0 ? length : 0));
    BIO_free(bio);
    return subject;
}

}  // namespace strata::net
