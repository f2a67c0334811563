#include "core/retained_messages.hpp"

#include <functional>

namespace strata::core {

retained_messages::shard& retained_messages::shard_of(std::string_view topic) {
    return shards_[std::hash<std::string_view>{}(topic) % shard_count];
}

void retained_messages::apply(const message_ref& m) {
    auto& s = shard_of(m->topic());
    std::lock_guard lock(s.mutex);
    s.store.apply(m);
}

void retained_messages::collect(std::string_view filter, time_point now, std::vector<message_ref>& out) {
    auto take = [&](shard& s) {
        std::lock_guard lock(s.mutex);
        s.store.match(filter, now, [&](const message_ref& m) { out.push_back(m); });
    };
    // A filter without wildcards is a topic: only its own shard can hold it.
    if (filter.find_first_of("+#") == std::string_view::npos) {
        take(shard_of(filter));
        return;
    }
    for (auto& s : shards_) take(s);
}

void retained_messages::sweep(time_point now) {
    for (auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        s.store.sweep(now);
    }
}

std::size_t retained_messages::size() const {
    std::size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        n += s.store.size();
    }
    return n;
}

}  // namespace strata::core
