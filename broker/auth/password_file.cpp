#include "auth/password_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "auth/password_hash.hpp"

namespace strata::auth {

std::shared_ptr<const password_file> password_file::load(const std::string& path, std::string& error,
                                                         std::vector<std::string>& warnings) {
    std::ifstream in(path);
    if (!in) {
        error = path + ": cannot read the password file: " + std::strerror(errno);
        return nullptr;
    }
    auto file = std::make_shared<password_file>();
    file->path_ = path;
    file->decoy_ = hash_password("", hash_kind::sha512_pbkdf2);
    std::unordered_set<std::string> listed_twice;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        // As Mosquitto: a line that is no valid entry is skipped with a
        // warning, and the broker starts; that user cannot log in.
        const auto where = path + ":" + std::to_string(number) + ": ";
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0) {
            warnings.push_back(where + "expected username:hash; line skipped");
            continue;
        }
        std::string username = line.substr(0, colon);
        const std::string hash = line.substr(colon + 1);
        if (const auto why = check_hash_syntax(hash)) {
            warnings.push_back(where + "user '" + username + "': " + *why + "; entry skipped");
            continue;
        }
        // Which of two entries would count is a guess: neither does.
        if (listed_twice.contains(username) || !file->hashes_.emplace(username, hash).second) {
            warnings.push_back(where + "user '" + username + "' is listed twice; that user cannot log in");
            file->hashes_.erase(username);
            listed_twice.insert(std::move(username));
        }
    }
    return file;
}

bool password_file::verify(std::string_view username, std::string_view password) const {
    const auto it = hashes_.find(std::string(username));
    // An absent or empty password never matches, whatever the stored hash.
    if (it == hashes_.end() || password.empty()) {
        verify_password(decoy_, password);  // the same time either way: nothing tells which users exist
        return false;
    }
    return verify_password(it->second, password);
}

bool password_file::has_user(std::string_view username) const { return hashes_.contains(std::string(username)); }

}  // namespace strata::auth
