// Retention: how long messages are kept, per topic filter. The writer thread
// removes expired messages every minute with range deletes (keeping the
// per-topic counters exact); a compaction filter on the key's timestamp is the
// backstop that drops whatever is older still, with a margin so that it never
// gets ahead of the counters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <rocksdb/compaction_filter.h>

namespace strata::storage {

struct retention_rule {
    std::string filter;         // topic filter, '+' and '#' allowed
    std::uint64_t seconds = 0;  // 0 = keep forever
};

struct retention_policy {
    std::vector<retention_rule> rules;  // the first matching rule wins
    std::uint64_t default_seconds = 0;  // topics no rule matches; 0 = forever

    // Seconds to keep messages of `topic`; 0 = forever.
    std::uint64_t seconds_for(std::string_view topic) const;
    bool empty() const { return rules.empty() && default_seconds == 0; }
};

// Retention by topic id, resolved through the topic dictionary once per id.
// Shared by the writer thread and RocksDB's compaction threads.
class topic_retention_index {
public:
    topic_retention_index(retention_policy policy, std::function<std::string(std::uint64_t)> topic_name);
    std::uint64_t seconds_for(std::uint64_t topic_id);
    // A new policy (SIGHUP), for every later question.
    void set_policy(retention_policy policy);
    retention_policy policy();

private:
    retention_policy policy_;  // guarded by mutex_
    std::function<std::string(std::uint64_t)> topic_name_;
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, std::uint64_t> cache_;
};

// How much later than the writer's sweep the compaction filter acts.
inline constexpr std::uint64_t retention_backstop_margin_us = 10ull * 60 * 1'000'000;

// Compaction filter factory for the messages column family.
std::shared_ptr<rocksdb::CompactionFilterFactory> make_retention_filter_factory(
    std::shared_ptr<topic_retention_index> index);

}  // namespace strata::storage
