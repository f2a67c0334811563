#include "core/shared_groups.hpp"

#include <algorithm>

namespace strata::core {

void shared_groups::add(const std::string& group, const std::string& filter, shared_member member) {
    auto& g = groups_[key_of(group, filter)];
    if (!g) {
        g = std::make_unique<shared_group>();
        g->key = std::make_shared<const std::string>(key_of(group, filter));
        g->filter = filter;
        trie_.insert(filter, entry{g.get(), &g->slot});
    }
    auto same = std::find_if(g->members.begin(), g->members.end(),
                             [&](const shared_member& m) { return m.session_id == member.session_id; });
    if (same != g->members.end()) {
        *same = std::move(member);
    } else {
        g->members.push_back(std::move(member));
    }
}

void shared_groups::remove(const std::string& group, const std::string& filter, std::uint64_t session_id) {
    auto it = groups_.find(key_of(group, filter));
    if (it == groups_.end()) return;
    auto& members = it->second->members;
    std::erase_if(members, [&](const shared_member& m) { return m.session_id == session_id; });
    if (members.empty()) {
        trie_.erase(it->second->slot);
        groups_.erase(it);
    }
}

const shared_member* shared_groups::pick(shared_group& g, std::uint64_t skip) {
    const std::size_t n = g.members.size();
    if (n == 0) return nullptr;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = (g.next + i) % n;
        if (g.members[at].session_id != skip && g.members[at].presence->online.load(std::memory_order_relaxed)) {
            g.next = at + 1;
            return &g.members[at];
        }
    }
    // Nobody online: queue for the next persistent member in turn.
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = (g.next + i) % n;
        if (g.members[at].session_id == skip) continue;
        g.next = at + 1;
        return &g.members[at];
    }
    return nullptr;
}

}  // namespace strata::core
