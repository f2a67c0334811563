#include "app/token_command.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "auth/token_file.hpp"

namespace strata::app {

namespace {

constexpr const char* usage =
    "Usage: strata token add tokenfile username      make a token for username, print it once\n"
    "       strata token revoke tokenfile username   remove every token of username\n"
    "The file (http_token_file) holds one username:sha256:HASH line per token; the broker re-reads it on SIGHUP.\n";

bool valid_user(const std::string& user) {
    return !user.empty() && user.find_first_of(":\r\n") == std::string::npos;
}

// Rewrites `path` without the lines of `user`; false if it cannot be read or written.
bool revoke(const std::string& path, const std::string& user, std::size_t& removed) {
    std::ifstream in(path);
    if (!in) return false;
    std::vector<std::string> kept;
    std::string line;
    const std::string prefix = user + ":sha256:";
    while (std::getline(in, line)) {
        if (line.starts_with(prefix) && line.find(':', prefix.size()) == std::string::npos) {
            ++removed;
        } else {
            kept.push_back(line);
        }
    }
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& l : kept) out << l << '\n';
        if (!out) return false;
    }
    ::chmod(tmp.c_str(), S_IRUSR | S_IWUSR);
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int run_token(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << usage;
        return 2;
    }
    const std::string action = argv[0], path = argv[1], user = argv[2];
    if (!valid_user(user)) {
        std::cerr << "Error: a username must not be empty or contain ':' or a line break.\n";
        return 2;
    }
    if (action == "add") {
        const auto token = auth::token_file::generate();
        if (token.empty()) {
            std::cerr << "Error: no random bytes for a token.\n";
            return 1;
        }
        // Created readable by its owner only: the hashes do not give tokens
        // away, but there is no reason to show who has one.
        const mode_t old = ::umask(077);
        std::ofstream out(path, std::ios::app);
        ::umask(old);
        out << auth::token_file::line_for(user, token) << '\n';
        if (!out) {
            std::cerr << "Error: cannot write " << path << ".\n";
            return 1;
        }
        std::cout << token << '\n';
        return 0;
    }
    if (action == "revoke") {
        std::size_t removed = 0;
        if (!revoke(path, user, removed)) {
            std::cerr << "Error: cannot rewrite " << path << ".\n";
            return 1;
        }
        std::cerr << "Removed " << removed << " token(s) of " << user << ".\n";
        return removed > 0 ? 0 : 1;
    }
    std::cerr << usage;
    return 2;
}

}  // namespace strata::app
