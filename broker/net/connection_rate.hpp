// max_connection_rate: a token bucket over the connections one listener
// accepts. It is refilled at `rate` tokens a second and holds at most `rate`
// (one second's worth, so a burst after a quiet second is let through); each
// accepted connection takes a token, and a connection that finds none is
// refused. The listener accepts on worker 0's thread only, so the bucket is
// plain state without a lock. Refusals are logged at most once a second (a
// flood must not turn into a flood of log lines), with the count since the
// last line.
#pragma once

#include <chrono>
#include <algorithm>
#include <cstdint>
#include <utility>

namespace strata::net {

class connection_rate {
public:
    using clock = std::chrono::steady_clock;

    // `per_second` 0: no limit.
    explicit connection_rate(std::uint32_t per_second = 0) : rate_(per_second), tokens_(per_second) {}

    std::uint32_t per_second() const { return rate_; }

    // Takes a token for a connection accepted at `now`; false: refuse it.
    bool admit(clock::time_point now) {
        if (rate_ == 0) return true;
        if (started_) {
            const double elapsed = std::chrono::duration<double>(now - last_).count();
            if (elapsed > 0) tokens_ = std::min<double>(rate_, tokens_ + elapsed * rate_);
        }
        started_ = true;
        last_ = now;
        if (tokens_ >= 1.0) {
            tokens_ -= 1.0;
            return true;
        }
        ++refused_since_log_;
        return false;
    }

    // After a refusal: the number of refusals to report now (this one
    // included), or 0 when a line was logged less than a second ago.
    std::uint64_t refusals_to_log(clock::time_point now) {
        if (logged_ && now - last_log_ < std::chrono::seconds(1)) return 0;
        logged_ = true;
        last_log_ = now;
        return std::exchange(refused_since_log_, 0);
    }

private:
    std::uint32_t rate_;
    double tokens_;
    bool started_ = false;
    clock::time_point last_{};
    std::uint64_t refused_since_log_ = 0;
    bool logged_ = false;
    clock::time_point last_log_{};
};

}  // namespace strata::net
