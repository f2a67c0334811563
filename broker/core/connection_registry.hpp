// The connections that live on one worker: a dense list, walked every tick
// (keep-alive) and at shutdown, and a lookup by connection id, through which
// work that completes later (a store commit, a plugin's deferred answer)
// finds its connection, or learns that it has gone. Worker thread only.
//
// An id is a sequence number (high 32 bits) and a slot of a table that
// never moves (low 32 bits): a lookup is one index and one comparison, and
// an id never names a later connection in the same slot. The table costs a
// pointer per connection, where a hash map cost a node (about 40 bytes).
#pragma once

#include <cstdint>
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
    std::vector<protocol::connection*> slots_;  // by the low half of an id; null: free
    std::vector<std::uint32_t> free_slots_;
    std::uint64_t next_sequence_ = 1;
};

}  // namespace strata::core
