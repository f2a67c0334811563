// Shared subscriptions (section 4.8.2): `$share/{group}/{filter}`. Each group
// is owned by one worker thread (chosen by hashing group and filter); members
// may live on any thread. The owner sees every message (all messages reach
// all workers) and hands each matching message to one member per group,
// round robin, preferring members whose session is online.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "session/session.hpp"
#include "topic/topic_trie.hpp"

namespace strata::core {

struct shared_member {
    std::size_t worker = 0;
    std::uint64_t session_id = 0;
    subscription_options options;
    std::uint32_t subscription_id = 0;
    std::shared_ptr<session_presence> presence;
};

class shared_groups {
public:
    // A message may be handed on this many times, as its picks leave one
    // after another, before it is dropped: never a loop.
    static constexpr std::uint8_t max_reroutes = 8;

    // Adds or updates (same session) a member.
    void add(const std::string& group, const std::string& filter, shared_member member);
    void remove(const std::string& group, const std::string& filter, std::uint64_t session_id);

    // Calls deliver(const shared_member&, const shared_group_key&) once per
    // group whose filter matches.
    template <typename Deliver>
    void route(std::string_view topic, Deliver&& deliver) {
        if (groups_.empty()) return;  // the common case: no walk at all
        trie_.match(topic, [&](entry& e) {
            shared_group& g = *e.group;
            if (const shared_member* m = pick(g, 0)) deliver(*m, g.key);
        });
    }
    // Section 4.8.2: the member a message was handed to left before it got
    // there; calls deliver(const shared_member&) for another member of the
    // group (not `left`). False when there is none.
    template <typename Deliver>
    bool reroute(const shared_group_key& group_key, std::uint64_t left, Deliver&& deliver) {
        if (!group_key) return false;
        const auto it = groups_.find(*group_key);
        if (it == groups_.end()) return false;
        const shared_member* m = pick(*it->second, left);
        if (!m) return false;
        deliver(*m);
        return true;
    }
    static std::string key_of(std::string_view group, std::string_view filter) {
        std::string key(group);
        key += '\0';
        key += filter;
        return key;
    }
    // The group and filter of a key that route() gave.
    static std::pair<std::string_view, std::string_view> split_key(std::string_view key) {
        const auto zero = key.find('\0');
        return {key.substr(0, zero), zero == std::string_view::npos ? std::string_view() : key.substr(zero + 1)};
    }

    std::size_t group_count() const { return groups_.size(); }

private:
    struct shared_group;
    struct entry {
        shared_group* group = nullptr;
        topic::trie_slot* slot = nullptr;
    };
    struct shared_group {
        shared_group_key key;  // key_of(group, filter)
        std::string filter;
        std::vector<shared_member> members;
        std::size_t next = 0;
        topic::trie_slot slot;
    };

    // The next member in turn, online ones first, never `skip` (a session id; 0: none).
    const shared_member* pick(shared_group& g, std::uint64_t skip);

    topic::topic_trie<entry> trie_;
    std::unordered_map<std::string, std::unique_ptr<shared_group>> groups_;
};

}  // namespace strata::core
