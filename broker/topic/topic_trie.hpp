// A trie of topic filters, used for subscriptions (per worker thread) and for
// shared-subscription groups. Each filter level is a node; '+' has its own
// child pointer and filters ending in '#' are kept on the node above the '#',
// so matching a topic costs one hash lookup per level plus the '+' branches.
//
// A filter without wildcards can match only the topic spelled the same, so
// it is kept in a hash table by its text instead of as a chain of nodes: one
// lookup finds it, and a device fleet's per-device filters cost a table
// entry each instead of a node per level (each with its children map and
// key). Matching visits those entries where the walk would have met them, so
// the order below holds for every filter.
//
// Entries live in vectors for fast iteration during fan-out. An entry knows
// where it is stored (`trie_slot`), so removal is a swap with the last entry,
// O(1) whatever the number of subscribers on that filter.
//
// Nothing here recurses over levels: a filter may have 65,536 of them (a
// 65,535-byte string of slashes), and a stack frame per level would overflow
// a thread's stack. Matching keeps its work list in a vector reused from one
// message to the next, and destruction takes the nodes apart one by one.
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
    void* node = nullptr;      // a node, or the table bucket of a filter without wildcards
    bool multi_level = false;
    bool exact_table = false;  // `node` is a bucket of the table
    std::uint32_t index = 0;
};

// Entry requirements: a member `trie_slot* slot` pointing at the owner's slot.
template <typename Entry>
class topic_trie {
public:
    topic_trie() = default;
    topic_trie(const topic_trie&) = delete;
    topic_trie& operator=(const topic_trie&) = delete;
    ~topic_trie() { dismantle(root_); }

    // Adds an entry for a valid filter and records its position in *entry.slot.
    void insert(std::string_view filter, Entry entry) {
        if (!has_wildcard(filter)) {
            auto found = exact_.find(filter);
            if (found == exact_.end()) {
                found = exact_.emplace(std::string(filter), exact_bucket{}).first;
                found->second.filter = found->first;
            }
            auto& list = found->second.entries;
            *entry.slot = trie_slot{&found->second, false, true, static_cast<std::uint32_t>(list.size())};
            list.push_back(std::move(entry));
            ++size_;
            return;
        }
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
        *entry.slot = trie_slot{n, multi, false, static_cast<std::uint32_t>(list.size())};
        list.push_back(std::move(entry));
        ++size_;
    }

    // Direct access to a stored entry, e.g. to update its options.
    Entry& at(const trie_slot& s) { return list_of(s)[s.index]; }

    // Removes the entry at `s` and prunes nodes (or the table bucket) left empty.
    void erase(const trie_slot& s) {
        auto& list = list_of(s);
        if (s.index + 1 != list.size()) {
            list[s.index] = std::move(list.back());
            list[s.index].slot->index = s.index;
        }
        list.pop_back();
        --size_;
        if (!s.exact_table) {
            prune(static_cast<node*>(s.node));
        } else if (list.empty()) {
            exact_.erase(exact_.find(static_cast<exact_bucket*>(s.node)->filter));
        }
    }

    // Calls visit(entry) for every entry whose filter matches `topic`, depth
    // first: at each level the filters ending there ('#' ones first), then
    // those below the level's own name, then those below '+'.
    template <typename Visit>
    void match(std::string_view topic, Visit&& visit) {
        const bool dollar = !topic.empty() && topic.front() == '$';
        // The filter that is the topic itself, visited where the walk along
        // the topic's own names ends: at its last level, or where no node
        // continues that path (nothing below it could then match before the
        // '+' branches still on the work list).
        exact_bucket* exact = nullptr;
        if (!exact_.empty()) {
            if (auto found = exact_.find(topic); found != exact_.end()) exact = &found->second;
        }
        auto visit_exact = [&] {
            if (!exact) return;
            for (auto& e : exact->entries) visit(e);
            exact = nullptr;
        };
        // From `base` on, so that a visit that matches again (it does not
        // today) would only use the part of the work list above ours.
        const std::size_t base = work_.size();
        work_.push_back(match_step{&root_, topic, false, true, true});
        while (work_.size() > base) {
            const match_step step = work_.back();
            work_.pop_back();
            node& n = *step.at;
            // "a/#" also matches "a"; a leading wildcard never matches a '$' topic.
            const bool wildcards = !(step.is_root && dollar);
            if (wildcards) {
                for (auto& e : n.multi) visit(e);
            }
            if (step.at_end) {
                for (auto& e : n.exact) visit(e);
                if (step.own_names) visit_exact();
                continue;
            }
            const auto slash = step.rest.find('/');
            const std::string_view level = step.rest.substr(0, slash);
            const bool last = slash == std::string_view::npos;
            const std::string_view next_rest = last ? std::string_view{} : step.rest.substr(slash + 1);
            // Pushed in reverse order of visiting: the level's name before '+'.
            if (n.plus && wildcards) work_.push_back(match_step{n.plus.get(), next_rest, last, false, false});
            auto found = n.children.empty() ? n.children.end() : n.children.find(level);
            if (found != n.children.end()) {
                work_.push_back(match_step{found->second.get(), next_rest, last, false, step.own_names});
            } else if (step.own_names) {
                visit_exact();
            }
        }
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
        // libstdc++ gives a map 13 buckets at its first insert, and most
        // nodes of a device fleet's topics have one child (88 bytes less each).
        if (n.children.empty()) n.children.reserve(1);
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

    // Destroys everything below `n` without recursing: each node is detached
    // from its children before it is destroyed.
    static void dismantle(node& n) {
        std::vector<std::unique_ptr<node>> detached;
        auto detach_children = [&detached](node& from) {
            for (auto& [key, child] : from.children) detached.push_back(std::move(child));
            from.children.clear();
            if (from.plus) detached.push_back(std::move(from.plus));
        };
        detach_children(n);
        while (!detached.empty()) {
            std::unique_ptr<node> next = std::move(detached.back());
            detached.pop_back();
            detach_children(*next);
        }
    }

    // One node to match: `rest` is the part of the topic not consumed yet;
    // `at_end` says whether every level has been consumed.
    struct match_step {
        node* at;
        std::string_view rest;
        bool at_end;
        bool is_root;
        bool own_names;  // reached through the topic's own level names only (no '+')
    };

    // The filters without wildcards, by their text.
    struct exact_bucket {
        std::string_view filter;  // the table's key
        std::vector<Entry> entries;
    };

    std::vector<Entry>& list_of(const trie_slot& s) {
        if (s.exact_table) return static_cast<exact_bucket*>(s.node)->entries;
        auto* n = static_cast<node*>(s.node);
        return s.multi_level ? n->multi : n->exact;
    }

    node root_;
    std::unordered_map<std::string, exact_bucket, transparent_string_hash, std::equal_to<>> exact_;
    std::size_t size_ = 0;
    std::vector<match_step> work_;  // match()'s work list; keeps its capacity
};

}  // namespace strata::topic
