// Log lines in Mosquitto's format ("<time>: <text>") to the destinations of
// log_dest, filtered by log_type. Only connection events, errors and (with
// -v / log_type debug) per-packet traces are logged, so a line is built only
// when its type is enabled.
//
// A line is formatted on the calling thread and handed to the logger's own
// thread, which writes it: a worker never waits for a disk, a pipe nobody
// reads, or syslog. What waits is bounded (max_pending_bytes); past it, lines
// are dropped and counted, and the log says how many once it can.
#pragma once

#include <atomic>
#include <charconv>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/broker_config.hpp"

namespace strata {

class logger {
public:
    explicit logger(const config::log_config& cfg);
    // Writes what is still waiting, then stops the logger's thread.
    ~logger();
    logger(const logger&) = delete;
    logger& operator=(const logger&) = delete;

    // Applies new settings (on SIGHUP); the log file is reopened.
    void reconfigure(const config::log_config& cfg);

    // After daemonising: stdout and stderr lead nowhere.
    void drop_console();

    bool enabled(config::log_type t) const { return (types_.load(std::memory_order_relaxed) & t) != 0; }

    template <typename... Parts>
    void log(config::log_type t, const Parts&... parts) {
        if (!enabled(t)) return;
        std::string line;
        (append(line, parts), ...);
        emit(t, line);
    }

    template <typename... Parts> void error(const Parts&... p) { log(config::log_error, p...); }
    template <typename... Parts> void warning(const Parts&... p) { log(config::log_warning, p...); }
    template <typename... Parts> void notice(const Parts&... p) { log(config::log_notice, p...); }
    template <typename... Parts> void info(const Parts&... p) { log(config::log_information, p...); }
    template <typename... Parts> void debug(const Parts&... p) { log(config::log_debug, p...); }

    // An error that stops strata: logged whatever log_type says, and also
    // written to stderr when stderr is not a destination, so that a start-up
    // failure with `log_dest file` or syslog still shows where it was started
    // (a terminal, systemd's journal, a test's output).
    template <typename... Parts>
    void fatal(const Parts&... parts) {
        std::string line;
        (append(line, parts), ...);
        emit(config::log_error, line, true);
    }

    // Lines dropped so far because the destinations did not keep up.
    std::uint64_t dropped() const { return dropped_total_.load(std::memory_order_relaxed); }

    // Bytes of lines that may wait for the logger's thread.
    static constexpr std::size_t max_pending_bytes = 4u << 20;

private:
    static void append(std::string& s, std::string_view v) { s.append(v); }
    static void append(std::string& s, const char* v) { s.append(v); }
    static void append(std::string& s, const std::string& v) { s.append(v); }
    static void append(std::string& s, char c) { s.push_back(c); }
    template <std::integral I>
        requires(!std::same_as<I, char> && !std::same_as<I, bool>)
    static void append(std::string& s, I v) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
        s.append(buf, end);
    }

    struct pending_line {
        config::log_type type;
        std::string line;        // with its timestamp and newline
        std::size_t text_at = 0;  // where the text starts (syslog gets the text alone)
        bool fatal = false;       // also to stderr, whatever the destinations
    };

    void emit(config::log_type t, std::string_view text, bool fatal = false);
    void run();
    void write_out(const config::log_config& cfg, const std::vector<pending_line>& lines);

    std::atomic<std::uint32_t> types_;
    std::atomic<std::shared_ptr<const config::log_config>> cfg_;  // read by emit() and the thread
    std::atomic<bool> console_{true};

    std::mutex mutex_;  // guards what follows, held only to hand lines over
    std::condition_variable wake_;
    std::vector<pending_line> pending_;
    std::size_t pending_bytes_ = 0;
    std::uint64_t dropped_ = 0;      // since the last report
    bool reopen_ = true;             // the thread opens the log file (again)
    bool stopping_ = false;
    std::atomic<std::uint64_t> dropped_total_{0};

    // The logger's thread only.
    int file_fd_ = -1;
    std::thread thread_;
};

}  // namespace strata
