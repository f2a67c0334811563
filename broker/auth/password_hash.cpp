#include "auth/password_hash.hpp"

#include <charconv>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace strata::auth {

namespace {

constexpr std::size_t salt_length = 12;
constexpr std::size_t hash_length = 64;  // SHA-512
constexpr int max_iterations = 10'000'000;  // beyond this a login would stall a worker

std::string base64(const unsigned char* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3), '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

std::optional<std::vector<unsigned char>> unbase64(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::vector<unsigned char> out(3 * text.size() / 4);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t length = static_cast<std::size_t>(n);
    if (text.ends_with("==")) length -= 2;
    else if (text.ends_with("=")) length -= 1;
    out.resize(length);
    return out;
}

struct parsed_hash {
    hash_kind kind;
    int iterations = 0;
    std::vector<unsigned char> salt;
    std::vector<unsigned char> hash;
};

std::optional<parsed_hash> parse(std::string_view stored, std::string* why) {
    const auto fail = [&](std::string reason) -> std::optional<parsed_hash> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    parsed_hash h;
    std::string_view rest;
    if (stored.starts_with("$6$")) {
        h.kind = hash_kind::sha512;
        rest = stored.substr(3);
    } else if (stored.starts_with("$7$")) {
        h.kind = hash_kind::sha512_pbkdf2;
        rest = stored.substr(3);
        const auto dollar = rest.find('$');
        const auto digits = rest.substr(0, dollar);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), h.iterations);
        if (dollar == std::string_view::npos || ec != std::errc() || end != digits.data() + digits.size() ||
            h.iterations < 1 || h.iterations > max_iterations) {
            return fail("invalid iteration count in a $7$ hash");
        }
        rest.remove_prefix(dollar + 1);
    } else {
        return fail("not a password hash ($6$ or $7$); plain-text files need `strata passwd -U FILE` first");
    }
    const auto dollar = rest.find('$');
    if (dollar == std::string_view::npos) return fail("a hash needs a salt and a digest");
    auto salt = unbase64(rest.substr(0, dollar));
    auto hash = unbase64(rest.substr(dollar + 1));
    if (!salt || salt->empty()) return fail("the salt is not base64");
    if (!hash || hash->size() != hash_length) return fail("the digest is not a base64 SHA-512 hash");
    h.salt = std::move(*salt);
    h.hash = std::move(*hash);
    return h;
}

std::vector<unsigned char> digest(std::string_view password, const std::vector<unsigned char>& salt, hash_kind kind,
                                  int iterations) {
    std::vector<unsigned char> out(hash_length);
    if (kind == hash_kind::sha512_pbkdf2) {
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                          iterations, EVP_sha512(), static_cast<int>(hash_length), out.data());
    } else {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        unsigned int n = 0;
        EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr);
        EVP_DigestUpdate(ctx, password.data(), password.size());
        EVP_DigestUpdate(ctx, salt.data(), salt.size());
        EVP_DigestFinal_ex(ctx, out.data(), &n);
        EVP_MD_CTX_free(ctx);
    }
    return out;
}

}  // namespace

std::string hash_password(std::string_view password, hash_kind kind, int iterations) {
    std::vector<unsigned char> salt(salt_length);
    RAND_bytes(salt.data(), static_cast<int>(salt.size()));
    const auto hash = digest(password, salt, kind, iterations);
    std::string out = kind == hash_kind::sha512 ? "$6$" : "$7$" + std::to_string(iterations) + "$";
    out += base64(salt.data(), salt.size());
    out += '$';
    out += base64(hash.data(), hash.size());
    return out;
}

std::optional<std::string> check_hash_syntax(std::string_view stored) {
    std::string why;
    if (parse(stored, &why)) return std::nullopt;
    return why;
}

bool verify_password(std::string_view stored, std::string_view password) {
    const auto h = parse(stored, nullptr);
    if (!h) return false;
    const auto computed = digest(password, h->salt, h->kind, h->iterations);
    return CRYPTO_memcmp(computed.data(), h->hash.data(), hash_length) == 0;
}

}  // namespace strata::auth
