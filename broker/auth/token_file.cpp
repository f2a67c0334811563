#include "auth/token_file.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace strata::auth {

namespace {

constexpr std::string_view hash_prefix = "sha256:";
constexpr std::size_t hex_length = 64;

bool is_lower_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace

std::string sha256_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(digits[digest[i] >> 4]);
        out.push_back(digits[digest[i] & 0xF]);
    }
    return out;
}

std::shared_ptr<const token_file> token_file::load(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = path + ": cannot read the token file: " + std::strerror(errno);
        return nullptr;
    }
    auto file = std::make_shared<token_file>();
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        const auto where = path + ":" + std::to_string(number) + ": ";
        // The user is everything before the last colon but the hash's own.
        const auto at = line.rfind(hash_prefix);
        if (at == std::string::npos || at < 2 || line[at - 1] != ':') {
            error = where + "expected USER:sha256:HEX (make lines with strata token add)";
            return nullptr;
        }
        const std::string user = line.substr(0, at - 1);
        const std::string hex = line.substr(at + hash_prefix.size());
        if (hex.size() != hex_length || !is_lower_hex(hex)) {
            error = where + "user '" + user + "': the hash must be 64 lowercase hex digits";
            return nullptr;
        }
        if (!file->users_.emplace(hex, user).second) {
            error = where + "the same token is listed twice";
            return nullptr;
        }
    }
    return file;
}

std::optional<std::string> token_file::user_of(std::string_view token) const {
    if (token.empty()) return std::nullopt;
    const auto it = users_.find(sha256_hex(token));
    if (it == users_.end()) return std::nullopt;
    return it->second;
}

std::string token_file::generate() {
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1) return {};
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out = "strata_";
    std::uint32_t bits = 0;
    int count = 0;
    for (unsigned char byte : random) {
        bits = (bits << 8) | byte;
        count += 8;
        while (count >= 6) {
            count -= 6;
            out.push_back(alphabet[(bits >> count) & 0x3F]);
        }
    }
    if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 0x3F]);
    return out;
}

std::string token_file::line_for(std::string_view user, std::string_view token) {
    return std::string(user) + ":" + std::string(hash_prefix) + sha256_hex(token);
}

}  // namespace strata::auth
