// A trie of topic filters, used for subscriptions (per worker thread) and for
// shared-subscription groups. Each filter level is a node; '+' has its own
// child pointer and filters ending in '#' are kept on the node above the '#',
// so matching a topic costs one hash lookup per level plus the '+' branches.
//
// Entries live in vectors for fast iteration during fan-out. An entry knows
// where it is stored (`trie_slot`), so removal is a swap with the last entry,
// O(1) whatever the number of subscribers on that filter.
//
// Not thread-safe: each trie belongs to one worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "topic/topic_name.hpp"

namespace strata::topic {

struct transparent_string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Where an entry is stored; kept by the entry's owner and updated by the trie.
struct trie_slot {
    void* node = nullptr;
    bool multi_level = false;
    std::uint32_t index = 0;
};

// Entry requirements: a member `trie_slot* slot` pointing at the owner's slot.
template <typename Entry>
class topic_trie {
public:
    topic_trie() = default;
    topic_trie(const topic_trie&) = delete;
    topic_trie& operator=(const topic_trie&) = delete;

    // Adds an entry for a valid filter and records its position in *entry.slot.
    void insert(std::string_view filter, Entry entry) {
        node* n = &root_;
        level_iterator it(filter);
        std::string_view level;
        bool multi = false;
        while (it.next(level)) {
            if (level == "#") {
                multi = true;
                break;
            }
            n = child_for_insert(*n, level);
        }
        auto& list = multi ? n->multi : n->exact;
        *entry.slot = trie_slot{n, multi, static_cast<std::uint32_t>(list.size())};
        list.push_back(std::move(entry));
        ++size_;
    }

    // Direct access to a stored entry, e.g. to update its options.
    Entry& at(const trie_slot& s) {
        auto* n = static_cast<node*>(s.node);
        return (s.multi_level ? n->multi : n->exact)[s.index];
    }

    // Removes the entry at `s` and prunes nodes left empty.
    void erase(const trie_slot& s) {
        auto* n = static_cast<node*>(s.node);
        auto& list = s.multi_level ? n->multi : n->exact;
        if (s.index + 1 != list.size()) {
            list[s.index] = std::move(list.back());
            list[s.index].slot->index = s.index;
        }
        list.pop_back();
        --size_;
        prune(n);
    }

    // Calls visit(entry) for every entry whose filter matches `topic`.
    template <typename Visit>
    void match(std::string_view topic, Visit&& visit) {
        const bool dollar = !topic.empty() && topic.front() == '$';
        match_from(root_, topic, true, dollar, visit);
    }

    std::size_t size() const { return size_; }

private:
    struct node {
        node* parent = nullptr;
        std::string_view key;  // key in parent's map (stable), or "+"
        std::unordered_map<std::string, std::unique_ptr<node>, transparent_string_hash, std::equal_to<>> children;
        std::unique_ptr<node> plus;
        std::vector<Entry> exact;  // filters ending at this node
        std::vector<Entry> multi;  // filters ending with "/#" below this node

        bool empty() const { return children.empty() && !plus && exact.empty() && multi.empty(); }
    };

    node* child_for_insert(node& n, std::string_view level) {
        if (level == "+") {
            if (!n.plus) {
                n.plus = std::make_unique<node>();
                n.plus->parent = &n;
                n.plus->key = "+";
            }
            return n.plus.get();
        }
        auto found = n.children.find(level);
        if (found != n.children.end()) return found->second.get();
        auto [pos, inserted] = n.children.emplace(std::string(level), std::make_unique<node>());
        pos->second->parent = &n;
        pos->second->key = pos->first;
        return pos->second.get();
    }

    void prune(node* n) {
        while (n != &root_ && n->empty()) {
            node* parent = n->parent;
            if (n == parent->plus.get()) {
                parent->plus.reset();
            } else {
                parent->children.erase(parent->children.find(n->key));
            }
            n = parent;
        }
    }

    // `rest` is the part of the topic not consumed yet; `at_end` says whether
    // every level has been consumed.
    template <typename Visit>
    static void match_levels(node& n, std::string_view rest, bool at_end, bool dollar, bool is_root, Visit& visit) {
        // "a/#" also matches "a"; a leading wildcard never matches a '$' topic.
        if (!(is_root && dollar)) {
            for (auto& e : n.multi) visit(e);
        }
        if (at_end) {
            for (auto& e : n.exact) visit(e);
            return;
        }
        const auto slash = rest.find('/');
        const std::string_view level = rest.substr(0, slash);
        const bool last = slash == std::string_view::npos;
        const std::string_view next_rest = last ? std::string_view{} : rest.substr(slash + 1);
        if (!n.children.empty()) {
            auto found = n.children.find(level);
            if (found != n.children.end()) match_levels(*found->second, next_rest, last, dollar, false, visit);
        }
        if (n.plus && !(is_root && dollar)) match_levels(*n.plus, next_rest, last, dollar, false, visit);
    }

    template <typename Visit>
    void match_from(node& n, std::string_view topic, bool is_root, bool dollar, Visit& visit) {
        match_levels(n, topic, false, dollar, is_root, visit);
    }

    node root_;
    std::size_t size_ = 0;
};

}  // namespace strata::topic
