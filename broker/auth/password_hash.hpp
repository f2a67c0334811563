// Password hashes in Mosquitto's password-file format, so that files made by
// mosquitto_passwd work unchanged and `strata passwd` makes files Mosquitto
// reads:
//   $6$<base64 salt>$<base64 SHA-512(password || salt)>
//   $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA-512(password, salt)>
// (12-byte salts, 64-byte hashes; mosquitto_passwd uses 101 iterations.)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace strata::auth {

enum class hash_kind { sha512, sha512_pbkdf2 };

constexpr int default_pbkdf2_iterations = 101;  // mosquitto_passwd's

// A new hash of `password` with a random salt.
std::string hash_password(std::string_view password, hash_kind kind = hash_kind::sha512_pbkdf2,
                          int iterations = default_pbkdf2_iterations);

// Why `stored` is not a hash strata can check (nullopt when it is one).
std::optional<std::string> check_hash_syntax(std::string_view stored);

// Whether `password` matches `stored` (in constant time for the comparison).
bool verify_password(std::string_view stored, std::string_view password);

}  // namespace strata::auth
