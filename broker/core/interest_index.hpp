// Routing by interest: which other workers have a subscription whose filter
// matches a topic, so that a message is handed only to them.
//
// Each worker keeps its own replica, changed only on its own thread by the
// batches of interest_change that the other workers post to it (FIFO from
// each of them), so a lookup on the publish path takes no lock. A filter's
// record counts subscriptions per target worker: the worker that holds the
// subscribing session, or, for a shared subscription, the worker that owns
// its group. A worker ignores changes that name itself as the target (its
// own subscriptions and groups are matched directly).
//
// Visibility: a subscribing worker posts its changes to every other worker
// and sends the SUBACK only when each has applied them (worker::
// when_interest_visible), so a message published anywhere after the SUBACK
// reaches the subscriber. Removals need no wait: the target's own trie no
// longer matches, and a message sent there meanwhile is simply not delivered.
//
// Memory: every worker holds a record of every filter subscribed on the
// others, so a record's size is paid once per worker. Only wildcard filters
// go into the trie. A filter without wildcards can only match the topic
// spelled the same, and the records are already keyed by filter, so it is
// found by looking the topic up there (the trie would keep a second table
// entry for it). A device fleet's subscriptions (commands/DEVICE-ID) are
// mostly of that kind.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "topic/topic_trie.hpp"

namespace strata::core {

struct interest_change {
    std::string filter;       // without $share/GROUP/
    std::uint32_t target = 0; // the worker messages on `filter` must reach
    bool add = true;          // one subscription more, or one fewer
};

class interest_index {
public:
    explicit interest_index(std::uint32_t self, std::size_t workers) : self_(self), stamps_(workers, 0) {}
    interest_index(const interest_index&) = delete;
    interest_index& operator=(const interest_index&) = delete;

    void apply(const interest_change& c);
    bool empty() const { return records_.empty(); }

    // Calls visit(worker) once for each other worker with a filter matching `topic`.
    template <typename Visit>
    void match(std::string_view topic, Visit&& visit) {
        if (records_.empty()) return;
        ++stamp_;
        auto visit_record = [&](const record& r) {
            for (const auto& [worker, count] : r.counts) {
                if (stamps_[worker] == stamp_) continue;
                stamps_[worker] = stamp_;
                visit(worker);
            }
        };
        // A topic name holds no wildcard, so this finds only the filter that
        // is the topic itself.
        if (auto exact = records_.find(topic); exact != records_.end()) visit_record(exact->second);
        if (trie_.size() > 0) trie_.match(topic, [&](entry& e) { visit_record(*e.rec); });
    }

private:
    struct record {
        topic::trie_slot slot;  // wildcard filters only
        std::vector<std::pair<std::uint32_t, std::uint32_t>> counts;  // (worker, subscriptions), none 0
    };
    struct entry {
        topic::trie_slot* slot;
        record* rec;
    };

    std::uint32_t self_;
    // Records by filter; node-based, so the trie's pointers to them stay valid.
    std::unordered_map<std::string, record, topic::transparent_string_hash, std::equal_to<>> records_;
    topic::topic_trie<entry> trie_;  // the wildcard filters of records_
    std::vector<std::uint64_t> stamps_;  // per worker: last match that visited it
    std::uint64_t stamp_ = 0;
};

}  // namespace strata::core
