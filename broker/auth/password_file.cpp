#include "auth/password_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "auth/password_hash.hpp"

namespace strata::auth {

std::shared_ptr<const password_file> password_file::load(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = path + ": cannot read the password file: " + std::strerror(errno);
        return nullptr;
    }
    auto file = std::make_shared<password_file>();
    file->path_ = path;
    file->decoy_ = hash_password("", hash_kind::sha512_pbkdf2);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        const auto where = path + ":" + std::to_string(number) + ": ";
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0) {
            error = where + "expected username:hash";
            return nullptr;
        }
        std::string username = line.substr(0, colon);
        const std::string hash = line.substr(colon + 1);
        if (const auto why = check_hash_syntax(hash)) {
            error = where + "user '" + username + "': " + *why;
            return nullptr;
        }
        if (!file->hashes_.emplace(std::move(username), hash).second) {
            error = where + "user '" + line.substr(0, colon) + "' is listed twice";
            return nullptr;
        }
    }
    return file;
}

bool password_file::verify(std::string_view username, std::string_view password) const {
    const auto it = hashes_.find(std::string(username));
    if (it == hashes_.end()) {
        verify_password(decoy_, password);
        return false;
    }
    return verify_password(it->second, password);
}

bool password_file::has_user(std::string_view username) const { return hashes_.contains(std::string(username)); }

}  // namespace strata::auth
