// A Mosquitto password file (`password_file`): one `username:hash` per line,
// hashes as auth/password_hash.hpp describes. Loaded at start-up and on
// SIGHUP, off the worker threads; read-only afterwards, so every worker
// checks logins against the same immutable object without a lock.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata::auth {

class password_file {
public:
    // Reads `path`; returns null and sets `error` only when the file cannot
    // be read. Lines that are no valid entry are skipped, as Mosquitto does,
    // each with a warning ("path:line: reason") added to `warnings`.
    static std::shared_ptr<const password_file> load(const std::string& path, std::string& error,
                                                     std::vector<std::string>& warnings);

    // Whether `username` is listed with a hash that `password` matches (an
    // empty password never does).
    bool verify(std::string_view username, std::string_view password) const;
    bool has_user(std::string_view username) const;
    std::size_t size() const { return hashes_.size(); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::unordered_map<std::string, std::string> hashes_;  // username -> stored hash
    std::string decoy_;  // checked for unknown users, so timing does not tell which users exist
};

}  // namespace strata::auth
