// The retained messages of the whole broker: one copy, shared by the workers
// (section 3.3.1.3). A retained PUBLISH is applied once, by the worker that
// routes it, and a new subscription reads what matches on its own worker, so
// a retained message no longer travels to every worker to keep replicas.
//
// Topics are spread over shards by a hash of the topic, each a
// topic::retained_store behind its own mutex: a retained publish locks one
// shard for a tree update; a subscription locks the one shard of a plain
// filter, or each shard in turn for a wildcard, collecting references and
// delivering after the lock is gone. Two workers meet on a lock only when
// they touch the same shard at the same moment, and nothing waits behind I/O.
//
// Each update still carries the broker-wide retain order: two workers that
// publish on one topic at once take the lock in either order, and the newer
// message wins.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "session/message.hpp"
#include "topic/retained_store.hpp"

namespace strata::core {

class retained_messages {
public:
    // Stores `m` for its topic, or clears the topic (empty payload).
    void apply(const message_ref& m);
    // Appends the unexpired messages whose topics match `filter` (expired
    // ones are removed on the way).
    void collect(std::string_view filter, time_point now, std::vector<message_ref>& out);
    // Forgets old tombstones of cleared topics (topic::retained_store::sweep).
    void sweep(time_point now);
    std::size_t size() const;

private:
    static constexpr std::size_t shard_count = 16;
    struct shard {
        mutable std::mutex mutex;
        topic::retained_store store;
    };
    shard& shard_of(std::string_view topic);

    std::array<shard, shard_count> shards_;
};

}  // namespace strata::core
