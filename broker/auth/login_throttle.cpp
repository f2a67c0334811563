#include "auth/login_throttle.hpp"

#include <algorithm>

namespace strata::auth {

namespace {

constexpr std::size_t max_records = 100'000;  // addresses remembered at once
constexpr auto forget_after = std::chrono::minutes(15);  // a record with no failure for this long is dropped
constexpr auto first_block = std::chrono::milliseconds(1000);

}  // namespace

void login_throttle::configure(std::uint32_t limit, std::chrono::seconds max_block) {
    std::lock_guard lock(mutex_);
    limit_ = limit;
    max_block_ = max_block;
    if (limit_ == 0) records_.clear();
}

std::chrono::milliseconds login_throttle::blocked_for(const std::string& address, clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (limit_ == 0) return {};
    const auto it = records_.find(address);
    if (it == records_.end() || it->second.blocked_until <= now) return {};
    return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.blocked_until - now);
}

std::chrono::milliseconds login_throttle::failed(const std::string& address, clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (limit_ == 0) return {};
    if (records_.size() >= max_records && !records_.contains(address)) make_room(now);
    auto& r = records_[address];
    if (r.failures > 0 && now - r.last_failure > forget_after) r.failures = 0;
    ++r.failures;
    r.last_failure = now;
    if (r.failures < limit_) return {};
    const std::uint32_t doublings = std::min<std::uint32_t>(r.failures - limit_, 20);
    const auto block = std::min<std::chrono::milliseconds>(first_block * (1u << doublings), max_block_);
    r.blocked_until = now + block;
    return block;
}

void login_throttle::succeeded(const std::string& address) {
    std::lock_guard lock(mutex_);
    records_.erase(address);
}

void login_throttle::make_room(clock::time_point now) {
    // Forget quiet addresses first; if the table is still full (a flood from
    // many addresses), a tenth of it, so that the cost is paid rarely.
    std::erase_if(records_, [&](const auto& r) { return now - r.second.last_failure > forget_after; });
    for (std::size_t n = records_.size() / 10; n > 0 && records_.size() >= max_records; --n) {
        records_.erase(records_.begin());
    }
}

}  // namespace strata::auth
