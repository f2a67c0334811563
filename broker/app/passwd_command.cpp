#include "app/passwd_command.hpp"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "auth/password_hash.hpp"

namespace strata::app {

namespace {

constexpr const char* usage =
    "Usage: strata passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n"
    "       strata passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password\n"
    "       strata passwd -U passwordfile\n"
    " -b : run in batch mode to allow passing passwords on the command line.\n"
    " -c : create a new password file. This will overwrite existing files.\n"
    " -D : delete the username rather than adding/updating its password.\n"
    " -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.\n"
    " -U : update a plain text password file to use hashed passwords.\n"
    "Files are the same as mosquitto_passwd's: either program can read and change them.\n";

struct request {
    bool create = false, batch = false, remove = false, upgrade = false;
    auth::hash_kind kind = auth::hash_kind::sha512_pbkdf2;
    std::vector<std::string> positional;
};

std::optional<request> parse(int argc, char** argv) {
    request r;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-c") r.create = true;
        else if (a == "-b") r.batch = true;
        else if (a == "-D") r.remove = true;
        else if (a == "-U") r.upgrade = true;
        else if (a == "-H") {
            if (++i >= argc) return std::nullopt;
            const std::string h = argv[i];
            if (h == "sha512") r.kind = auth::hash_kind::sha512;
            else if (h == "sha512-pbkdf2") r.kind = auth::hash_kind::sha512_pbkdf2;
            else {
                std::cerr << "Error: Unknown hash type '" << h << "'.\n";
                return std::nullopt;
            }
        } else if (a.size() > 1 && a[0] == '-') {
            std::cerr << "Error: Unknown option '" << a << "'.\n";
            return std::nullopt;
        } else {
            r.positional.push_back(a);
        }
    }
    const std::size_t n = r.positional.size();
    if (r.create + r.remove + r.upgrade > 1) return std::nullopt;
    if (r.upgrade) return n == 1 && !r.batch ? std::optional(r) : std::nullopt;
    if (r.batch) return n == 3 && !r.remove ? std::optional(r) : std::nullopt;
    return n == 2 ? std::optional(r) : std::nullopt;
}

// Asks twice on the terminal without echo; from a pipe, reads one line.
std::optional<std::string> read_password() {
    const bool tty = ::isatty(STDIN_FILENO);
    termios saved{};
    if (tty) {
        ::tcgetattr(STDIN_FILENO, &saved);
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string first, second;
    if (tty) std::cerr << "Password: " << std::flush;
    const bool got = static_cast<bool>(std::getline(std::cin, first));
    if (tty) {
        std::cerr << "\nReenter password: " << std::flush;
        std::getline(std::cin, second);
        std::cerr << '\n';
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    }
    if (!got) {
        std::cerr << "Error: No password given.\n";
        return std::nullopt;
    }
    if (tty && first != second) {
        std::cerr << "Error: Passwords do not match.\n";
        return std::nullopt;
    }
    return first;
}

std::optional<std::vector<std::string>> read_lines(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        std::cerr << "Error: Unable to open file " << path << " for reading: " << std::strerror(errno) << ".\n";
        return std::nullopt;
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(std::move(line));
    }
    return lines;
}

// Replaces the file at once (a temporary file renamed over it), readable by its owner only.
bool write_lines(const std::string& path, const std::vector<std::string>& lines) {
    const std::string tmp = path + ".tmp";
    {
        const mode_t old_mask = ::umask(077);
        std::ofstream out(tmp, std::ios::trunc);
        ::umask(old_mask);
        for (const auto& l : lines) out << l << '\n';
        if (!out) {
            std::cerr << "Error: Unable to write " << tmp << ": " << std::strerror(errno) << ".\n";
            return false;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::cerr << "Error: Unable to replace " << path << ": " << ec.message() << ".\n";
        return false;
    }
    return true;
}

std::string_view user_of(const std::string& line) {
    const auto colon = line.find(':');
    return colon == std::string::npos ? std::string_view{} : std::string_view(line).substr(0, colon);
}

}  // namespace

int run_passwd(int argc, char** argv) {
    const auto r = parse(argc, argv);
    if (!r) {
        std::cerr << usage;
        return 1;
    }
    const std::string& file = r->positional[0];
    if (r->upgrade) {
        auto lines = read_lines(file);
        if (!lines) return 1;
        for (auto& line : *lines) {
            const auto user = user_of(line);
            if (user.empty()) continue;
            const auto stored = std::string_view(line).substr(user.size() + 1);
            if (!auth::check_hash_syntax(stored)) continue;  // hashed already
            line = std::string(user) + ":" + auth::hash_password(stored, r->kind);
        }
        return write_lines(file, *lines) ? 0 : 1;
    }
    const std::string& username = r->positional[1];
    if (username.empty() || username.find(':') != std::string::npos) {
        std::cerr << "Error: Username must not be empty or contain ':'.\n";
        return 1;
    }
    std::vector<std::string> lines;
    if (!r->create) {
        auto existing = read_lines(file);
        if (!existing) return 1;
        lines = std::move(*existing);
    }
    if (r->remove) {
        const auto before = lines.size();
        std::erase_if(lines, [&](const std::string& l) { return user_of(l) == username; });
        if (lines.size() == before) {
            std::cerr << "Warning: User " << username << " not found in password file.\n";
            return 1;
        }
        return write_lines(file, lines) ? 0 : 1;
    }
    std::optional<std::string> password = r->batch ? std::optional(r->positional[2]) : read_password();
    if (!password) return 1;
    const std::string entry = username + ":" + auth::hash_password(*password, r->kind);
    bool replaced = false;
    for (auto& l : lines) {
        if (user_of(l) == username) {
            l = entry;
            replaced = true;
        }
    }
    if (!replaced) lines.push_back(entry);
    return write_lines(file, lines) ? 0 : 1;
}

}  // namespace strata::app
