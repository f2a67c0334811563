#include "core/interest_index.hpp"

#include <algorithm>

namespace strata::core {


void interest_index::apply(const interest_change& c) {
    if (c.target == self_ || c.target >= stamps_.size()) return;
    auto it = records_.find(c.filter);
    if (it == records_.end()) {
        // A removal always follows its addition from the same worker (posts
        // are FIFO), so its record exists; anything else is ignored.
        if (!c.add) return;
        it = records_.emplace(c.filter, record{}).first;
        if (topic::has_wildcard(it->first)) {
            record& r = it->second;
            trie_.insert(it->first, entry{&r.slot, &r});
        }
    }
    auto& counts = it->second.counts;
    auto found = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == c.target; });
    if (c.add) {
        if (found == counts.end()) counts.emplace_back(c.target, 1);
        else ++found->second;
        return;
    }
    if (found == counts.end()) return;
    if (--found->second == 0) {
        *found = counts.back();
        counts.pop_back();
    }
    if (counts.empty()) {
        if (topic::has_wildcard(it->first)) trie_.erase(it->second.slot);
        records_.erase(it);
    }
}

}  // namespace strata::core
