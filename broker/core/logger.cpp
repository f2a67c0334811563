#include "core/logger.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

namespace strata {
namespace {

void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const auto n = ::write(fd, s.data(), s.size());
        if (n <= 0) return;  // nowhere to report a failing log destination
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

int syslog_priority(config::log_type t) {
    switch (t) {
        case config::log_error: return LOG_ERR;
        case config::log_warning: return LOG_WARNING;
        case config::log_notice: return LOG_NOTICE;
        case config::log_debug: return LOG_DEBUG;
        default: return LOG_INFO;
    }
}

}  // namespace

logger::logger(const config::log_config& cfg) : types_(cfg.types), cfg_(cfg) { open_file(); }

logger::~logger() {
    if (file_fd_ >= 0) ::close(file_fd_);
}

void logger::open_file() {
    if (file_fd_ >= 0) ::close(file_fd_);
    file_fd_ = -1;
    if (!cfg_.file.empty()) file_fd_ = ::open(cfg_.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

void logger::reconfigure(const config::log_config& cfg) {
    std::lock_guard lock(mutex_);
    cfg_ = cfg;
    types_.store(cfg.types, std::memory_order_relaxed);
    open_file();
}

void logger::drop_console() {
    std::lock_guard lock(mutex_);
    console_ = false;
}

void logger::emit(config::log_type t, std::string_view text) {
    std::string line;
    line.reserve(text.size() + 32);
    std::lock_guard lock(mutex_);
    if (cfg_.timestamp) {
        const auto now = std::chrono::system_clock::now();
        const std::time_t secs = std::chrono::system_clock::to_time_t(now);
        if (cfg_.timestamp_format.empty()) {
            line += std::to_string(secs);
        } else {
            std::tm tm{};
            localtime_r(&secs, &tm);
            char buf[128];
            const auto n = std::strftime(buf, sizeof buf, cfg_.timestamp_format.c_str(), &tm);
            line.append(buf, n);
        }
        line += ": ";
    }
    line += text;
    line += '\n';
    const bool default_dest = !cfg_.explicitly_set;
    if (console_ && (cfg_.to_stderr || default_dest)) write_all(STDERR_FILENO, line);
    if (console_ && cfg_.to_stdout) write_all(STDOUT_FILENO, line);
    if (file_fd_ >= 0) write_all(file_fd_, line);
    if (cfg_.to_syslog) ::syslog(syslog_priority(t), "%.*s", static_cast<int>(text.size()), text.data());
}

}  // namespace strata
