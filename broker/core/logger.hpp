// Log lines in Mosquitto's format ("<time>: <text>") to the destinations of
// log_dest, filtered by log_type. Only connection events, errors and (with
// -v / log_type debug) per-packet traces are logged, so a line is built only
// when its type is enabled.
#pragma once

#include <atomic>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "config/broker_config.hpp"

namespace strata {

class logger {
public:
    explicit logger(const config::log_config& cfg);
    ~logger();
    logger(const logger&) = delete;
    logger& operator=(const logger&) = delete;

    // Applies new settings (on SIGHUP); reopens the log file.
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

    void emit(config::log_type t, std::string_view text);
    void open_file();

    std::atomic<std::uint32_t> types_;
    std::mutex mutex_;  // guards the settings below; held only while writing a line
    config::log_config cfg_;
    int file_fd_ = -1;
    bool console_ = true;
};

}  // namespace strata
