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
    // Adds or updates (same session) a member.
    void add(const std::string& group, const std::string& filter, shared_member member);
    void remove(const std::string& group, const std::string& filter, std::uint64_t session_id);

    // Calls deliver(const shared_member&) once per group whose filter matches.
    template <typename Deliver>
    void route(std::string_view topic, Deliver&& deliver) {
        trie_.match(topic, [&](entry& e) {
            shared_group& g = *e.group;
            if (const shared_member* m = pick(g)) deliver(*m);
        });
    }

    std::size_t group_count() const { return groups_.size(); }

private:
    struct shared_group;
    struct entry {
        shared_group* group = nullptr;
        topic::trie_slot* slot = nullptr;
    };
    struct shared_group {
        std::string filter;
        std::vector<shared_member> members;
        std::size_t next = 0;
        topic::trie_slot slot;
    };

    static std::string key_of(const std::string& group, const std::string& filter) { return group + '\0' + filter; }
    const shared_member* pick(shared_group& g);

    topic::topic_trie<entry> trie_;
    std::unordered_map<std::string, std::unique_ptr<shared_group>> groups_;
};

}  // namespace strata::core
