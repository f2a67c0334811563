// Which worker is home to each client identifier's session. Consulted only
// when a client connects (never on the publish path), so a mutex is fine.
// A worker creates a session only after claim() named it as the home, so two
// simultaneous CONNECTs with one identifier end up on the same thread.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace strata::core {

class client_registry {
public:
    // Returns the home worker of `client_id`, registering `candidate` if none.
    std::size_t claim(const std::string& client_id, std::size_t candidate) {
        std::lock_guard lock(mutex_);
        return homes_.try_emplace(client_id, candidate).first->second;
    }

    // Forgets the session of `client_id` if `worker` is still its home.
    void release(const std::string& client_id, std::size_t worker) {
        std::lock_guard lock(mutex_);
        auto it = homes_.find(client_id);
        if (it != homes_.end() && it->second == worker) homes_.erase(it);
    }

    // `client_id`'s session moves from worker `from` to `to`; `announce` (which
    // posts the session to `to`) runs under the lock, so that whoever finds
    // `to` here reaches it after the session does. False (and no announce)
    // when `from` is no longer its home.
    template <typename Announce>
    bool rehome(const std::string& client_id, std::size_t from, std::size_t to, Announce&& announce) {
        std::lock_guard lock(mutex_);
        auto it = homes_.find(client_id);
        if (it == homes_.end() || it->second != from) return false;
        it->second = to;
        announce();
        return true;
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return homes_.size();
    }

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::size_t> homes_;
};

}  // namespace strata::core
