#include "retention.hpp"

#include <chrono>

#include "keys.hpp"
#include "topic/topic_name.hpp"

namespace strata::storage {

std::uint64_t retention_policy::seconds_for(std::string_view topic) const {
    for (const auto& r : rules) {
        if (topic::matches(r.filter, topic)) return r.seconds;
    }
    return default_seconds;
}

topic_retention_index::topic_retention_index(retention_policy policy, std::function<std::string(std::uint64_t)> topic_name)
    : policy_(std::move(policy)), topic_name_(std::move(topic_name)) {}

std::uint64_t topic_retention_index::seconds_for(std::uint64_t topic_id) {
    {
        std::lock_guard lock(mutex_);
        if (auto it = cache_.find(topic_id); it != cache_.end()) return it->second;
    }
    const std::string name = topic_name_(topic_id);
    std::lock_guard lock(mutex_);
    // An id without a name (should not happen) is kept: never delete what we cannot place.
    const std::uint64_t seconds = name.empty() ? 0 : policy_.seconds_for(name);
    cache_[topic_id] = seconds;
    return seconds;
}

void topic_retention_index::set_policy(retention_policy policy) {
    std::lock_guard lock(mutex_);
    policy_ = std::move(policy);
    cache_.clear();
}

retention_policy topic_retention_index::policy() {
    std::lock_guard lock(mutex_);
    return policy_;
}

namespace {

class retention_filter final : public rocksdb::CompactionFilter {
public:
    retention_filter(std::shared_ptr<topic_retention_index> index, std::uint64_t now_us)
        : index_(std::move(index)), now_us_(now_us) {}

    bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice&, std::string*, bool*) const override {
        message_key k;
        if (!decode_message_key(std::string_view(key.data(), key.size()), k)) return false;
        if (k.topic_id != last_topic_) {
            last_topic_ = k.topic_id;
            last_seconds_ = index_->seconds_for(k.topic_id);
        }
        if (last_seconds_ == 0) return false;
        const std::uint64_t keep_us = last_seconds_ * 1'000'000 + retention_backstop_margin_us;
        return now_us_ > keep_us && k.ts_us < now_us_ - keep_us;
    }

    const char* Name() const override { return "strata.retention"; }

private:
    std::shared_ptr<topic_retention_index> index_;
    std::uint64_t now_us_;
    // Keys arrive sorted, so one topic's keys come together.
    mutable std::uint64_t last_topic_ = 0;
    mutable std::uint64_t last_seconds_ = 0;
};

class retention_filter_factory final : public rocksdb::CompactionFilterFactory {
public:
    explicit retention_filter_factory(std::shared_ptr<topic_retention_index> index) : index_(std::move(index)) {}

    std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(const rocksdb::CompactionFilter::Context&) override {
        const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        return std::make_unique<retention_filter>(index_, static_cast<std::uint64_t>(now));
    }

    const char* Name() const override { return "strata.retention"; }

private:
    std::shared_ptr<topic_retention_index> index_;
};

}  // namespace

std::shared_ptr<rocksdb::CompactionFilterFactory> make_retention_filter_factory(
    std::shared_ptr<topic_retention_index> index) {
    return std::make_shared<retention_filter_factory>(std::move(index));
}

}  // namespace strata::storage
