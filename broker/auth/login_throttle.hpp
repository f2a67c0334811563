// Slows down password guessing: after `limit` failed logins in a row from
// one address, new connections from it are refused for a while, 1 s at first
// and twice as long after each further failure, up to `max_block`. A
// successful login from the address clears its record. Used when a client
// connects (never per message), so the mutex is not on the publish path;
// the table is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace strata::auth {

class login_throttle {
public:
    using clock = std::chrono::steady_clock;

    // limit 0 turns the throttle off.
    void configure(std::uint32_t limit, std::chrono::seconds max_block);

    // How long connections from `address` are still refused (zero: not blocked).
    std::chrono::milliseconds blocked_for(const std::string& address, clock::time_point now);
    // Records a failed login; returns the block it starts (zero: none yet).
    std::chrono::milliseconds failed(const std::string& address, clock::time_point now);
    void succeeded(const std::string& address);

private:
    struct record {
        std::uint32_t failures = 0;
        clock::time_point blocked_until{};
        clock::time_point last_failure{};
    };
    void make_room(clock::time_point now);

    std::mutex mutex_;
    std::unordered_map<std::string, record> records_;
    std::uint32_t limit_ = 5;
    std::chrono::seconds max_block_{300};
};

}  // namespace strata::auth
