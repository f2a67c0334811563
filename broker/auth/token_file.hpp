// Bearer tokens of the HTTP API (`http_token_file`): one `USER:HASH` line per
// token, HASH = `sha256:` and the hex SHA-256 of the token. Tokens are long
// random strings (`strata token add`), so a fast unsalted hash is enough to
// make a copy of the file useless to whoever reads it, and lets a request be
// checked with one lookup, whatever the number of tokens. Loaded at start-up
// and on SIGHUP, off the worker threads; read-only afterwards.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace strata::auth {

class token_file {
public:
    // Reads `path`; on failure returns null and sets `error` ("path:line: reason").
    static std::shared_ptr<const token_file> load(const std::string& path, std::string& error);

    // The user a token belongs to; nullopt when no line has its hash.
    std::optional<std::string> user_of(std::string_view token) const;
    std::size_t size() const { return users_.size(); }

    // A new token: "strata_" and 43 characters of URL-safe base64 (256 random bits).
    static std::string generate();
    // The line of `token` for `user`, as the file holds it (without newline).
    static std::string line_for(std::string_view user, std::string_view token);

private:
    std::unordered_map<std::string, std::string> users_;  // hex SHA-256 -> user
};

// Hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

}  // namespace strata::auth
