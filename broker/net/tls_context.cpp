#include "net/tls_context.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace strata::net {

std::string last_openssl_error() {
    std::string text;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!text.empty()) text += "; ";
        text += buf;
    }
    return text;
}

namespace {

// A clearer message than OpenSSL's "system library" error for the usual mistakes.
bool readable(const std::string& path, const char* key, std::string& error) {
    std::ifstream in(path);
    if (in) return true;
    error = std::string(key) + " " + path + ": " + std::strerror(errno);
    return false;
}

int min_version(const std::string& name) {
    if (name == "tlsv1.1") return TLS1_1_VERSION;
    if (name == "tlsv1.3") return TLS1_3_VERSION;
    return TLS1_2_VERSION;
}

struct ctx_deleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

bool configure(SSL_CTX* ctx, const config::tls_config& cfg, std::string& error) {
    const auto fail = [&](std::string what) {
        const auto detail = last_openssl_error();
        error = detail.empty() ? std::move(what) : what + " (" + detail + ")";
        return false;
    };
    SSL_CTX_set_min_proto_version(ctx, min_version(cfg.min_version));
    // Idle connections give their TLS record buffers back: thousands of idle
    // devices is the normal case for a broker.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    if (!cfg.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, cfg.ciphers.c_str()) != 1) {
        return fail("ciphers: no usable cipher in '" + cfg.ciphers + "'");
    }
    if (!cfg.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, cfg.ciphersuites.c_str()) != 1) {
        return fail("ciphers_tls1.3: no usable cipher suite in '" + cfg.ciphersuites + "'");
    }
    if (!readable(cfg.certfile, "certfile", error) || !readable(cfg.keyfile, "keyfile", error)) return false;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.certfile.c_str()) != 1) {
        return fail("certfile " + cfg.certfile + ": not a PEM certificate");
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.keyfile.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            error = "keyfile " + cfg.keyfile + " does not belong to certfile " + cfg.certfile;
            return false;
        }
        return fail("keyfile " + cfg.keyfile + ": not an unencrypted PEM private key");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return fail("keyfile " + cfg.keyfile + " does not belong to certfile " + cfg.certfile);
    }
    if (!cfg.cafile.empty() || !cfg.capath.empty()) {
        if (!cfg.cafile.empty() && !readable(cfg.cafile, "cafile", error)) return false;
        if (!cfg.capath.empty() && !std::filesystem::is_directory(cfg.capath)) {
            error = "capath " + cfg.capath + ": not a directory";
            return false;
        }
        if (SSL_CTX_load_verify_locations(ctx, cfg.cafile.empty() ? nullptr : cfg.cafile.c_str(),
                                          cfg.capath.empty() ? nullptr : cfg.capath.c_str()) != 1) {
            return fail("cannot load the CA certificates of cafile/capath");
        }
        if (!cfg.cafile.empty()) {
            // Tells clients which CAs their certificate should come from.
            if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.cafile.c_str())) {
                SSL_CTX_set_client_CA_list(ctx, names);
            }
        }
    }
    if (cfg.require_certificate) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    if (!cfg.crlfile.empty()) {
        if (!readable(cfg.crlfile, "crlfile", error)) return false;
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (!lookup || X509_load_crl_file(lookup, cfg.crlfile.c_str(), X509_FILETYPE_PEM) <= 0) {
            return fail("crlfile " + cfg.crlfile + ": not a PEM certificate revocation list");
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    if (!cfg.dhparamfile.empty()) {
        if (!readable(cfg.dhparamfile, "dhparamfile", error)) return false;
        BIO* bio = BIO_new_file(cfg.dhparamfile.c_str(), "r");
        EVP_PKEY* dh = bio ? PEM_read_bio_Parameters(bio, nullptr) : nullptr;
        BIO_free(bio);
        if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
            EVP_PKEY_free(dh);
            return fail("dhparamfile " + cfg.dhparamfile + ": not PEM Diffie-Hellman parameters");
        }
    } else {
        SSL_CTX_set_dh_auto(ctx, 1);
    }
    // Session resumption with client certificates needs a context id.
    static constexpr unsigned char session_context[] = "strata";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    return true;
}

}  // namespace

std::shared_ptr<tls_context> tls_context::create(const config::tls_config& cfg, std::string& error) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, ctx_deleter> ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        error = "cannot create a TLS context: " + last_openssl_error();
        return nullptr;
    }
    if (!configure(ctx.get(), cfg, error)) return nullptr;
    return std::shared_ptr<tls_context>(new tls_context(ctx.release(), cfg));
}

tls_context::~tls_context() { SSL_CTX_free(ctx_); }

}  // namespace strata::net
