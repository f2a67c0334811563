#include "core/logger.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "core/thread_name.hpp"

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

std::string timestamp(const config::log_config& cfg) {
    if (!cfg.timestamp) return {};
    const std::time_t secs = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    if (cfg.timestamp_format.empty()) return std::to_string(secs) + ": ";
    std::tm tm{};
    localtime_r(&secs, &tm);
    char buf[128];
    const auto n = std::strftime(buf, sizeof buf, cfg.timestamp_format.c_str(), &tm);
    return std::string(buf, n) + ": ";
}

}  // namespace

logger::logger(const config::log_config& cfg)
    : types_(cfg.types), cfg_(std::make_shared<const config::log_config>(cfg)) {
    thread_ = std::thread([this] {
        name_this_thread("strata-log");
        run();
    });
}

logger::~logger() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    if (file_fd_ >= 0) ::close(file_fd_);
}

void logger::reconfigure(const config::log_config& cfg) {
    cfg_.store(std::make_shared<const config::log_config>(cfg));
    types_.store(cfg.types, std::memory_order_relaxed);
    {
        std::lock_guard lock(mutex_);
        reopen_ = true;
    }
    wake_.notify_one();
}

void logger::drop_console() { console_.store(false, std::memory_order_relaxed); }

void logger::emit(config::log_type t, std::string_view text, bool fatal) {
    const auto cfg = cfg_.load();
    pending_line p{t, timestamp(*cfg), 0, fatal};
    p.text_at = p.line.size();
    p.line.reserve(p.line.size() + text.size() + 1);
    p.line += text;
    p.line += '\n';
    bool was_empty = false;
    {
        std::lock_guard lock(mutex_);
        if (pending_bytes_ + p.line.size() > max_pending_bytes) {
            ++dropped_;
            dropped_total_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        was_empty = pending_.empty();
        pending_bytes_ += p.line.size();
        pending_.push_back(std::move(p));
    }
    // The thread sleeps only with nothing to write: one wake-up per batch.
    if (was_empty) wake_.notify_one();
}

void logger::run() {
    std::vector<pending_line> batch;
    for (;;) {
        bool reopen = false;
        bool stopping = false;
        std::uint64_t dropped = 0;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || reopen_ || !pending_.empty(); });
            batch.swap(pending_);
            pending_bytes_ = 0;
            std::swap(reopen, reopen_);
            std::swap(dropped, dropped_);
            stopping = stopping_;
        }
        const auto cfg = cfg_.load();
        if (reopen) {
            if (file_fd_ >= 0) ::close(file_fd_);
            file_fd_ = -1;
            if (!cfg->file.empty()) {
                file_fd_ = ::open(cfg->file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
            }
        }
        if (dropped > 0) {
            std::string text = std::to_string(dropped) +
                                " log lines were dropped: the log destination did not keep up (nothing else was lost)";
            pending_line p{config::log_warning, timestamp(*cfg), 0};
            p.text_at = p.line.size();
            p.line += text + '\n';
            batch.push_back(std::move(p));
        }
        write_out(*cfg, batch);
        batch.clear();
        if (stopping) {
            std::lock_guard lock(mutex_);
            if (pending_.empty()) return;
        }
    }
}

void logger::write_out(const config::log_config& cfg, const std::vector<pending_line>& lines) {
    if (lines.empty()) return;
    const bool console = console_.load(std::memory_order_relaxed);
    const bool default_dest = !cfg.explicitly_set;
    // One write per destination for the whole batch.
    std::string all;
    for (const auto& p : lines) all += p.line;
    const bool to_stderr = cfg.to_stderr || default_dest;
    if (console && to_stderr) write_all(STDERR_FILENO, all);
    if (console && !to_stderr) {
        for (const auto& p : lines) {
            if (p.fatal) write_all(STDERR_FILENO, p.line);
        }
    }
    if (console && cfg.to_stdout) write_all(STDOUT_FILENO, all);
    if (file_fd_ >= 0) write_all(file_fd_, all);
    if (cfg.to_syslog) {
        for (const auto& p : lines) {
            const std::string_view text(p.line.data() + p.text_at, p.line.size() - p.text_at - 1);
            ::syslog(syslog_priority(p.type), "%.*s", static_cast<int>(text.size()), text.data());
        }
    }
}

}  // namespace strata
