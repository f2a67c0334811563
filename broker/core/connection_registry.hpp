// The connections that live on one worker: a dense list, walked every tick
// (keep-alive) and at shutdown, and an index by connection id, through which
// work that completes later (a store commit, a plugin's deferred answer)
// finds its connection, or learns that it has gone. Worker thread only.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace strata::protocol {
class connection;
}

namespace strata::core {

class connection_registry {
public:
    // Gives `c` its id (unique on this worker) and its slot in the list.
    void add(protocol::connection* c);
    void remove(protocol::connection* c);
    protocol::connection* find(std::uint64_t id) const;
    std::size_t size() const { return list_.size(); }
    // By index: a connection may close (and leave the list) while it is walked.
    protocol::connection* at(std::size_t i) const { return list_[i]; }
    std::vector<protocol::connection*> snapshot() const { return list_; }

private:
    std::vector<protocol::connection*> list_;
    std::unordered_map<std::uint64_t, protocol::connection*> by_id_;
    std::uint64_t next_id_ = 1;
};

}  // namespace strata::core
