// Retained messages by topic (section 3.3.1.3), as a tree of topic levels so
// that a subscription's filter is matched against stored topics level by
// level. Not thread-safe: core::retained_messages shards the broker's one
// copy over several of these, each behind a lock. Updates carry a broker-wide
// order number and the newest one wins, whatever order the threads apply
// them in.
//
// As in topic_trie, nothing recurses over levels (a topic may have 65,536):
// matching and destruction keep explicit work lists.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "session/message.hpp"
#include "topic/topic_trie.hpp"

namespace strata::topic {

class retained_store {
public:
    retained_store() = default;
    retained_store(const retained_store&) = delete;
    retained_store& operator=(const retained_store&) = delete;
    ~retained_store();

    // Stores `m` for its topic, or removes the topic's message when the payload
    // is empty [MQTT-3.3.1-6]; ignored when an update with a higher order was
    // already applied.
    void apply(const message_ref& m);

    // Calls visit(message_ref) for each retained message whose topic matches
    // `filter` and that has not expired; expired ones are removed.
    template <typename Visit>
    void match(std::string_view filter, time_point now, Visit&& visit) {
        std::vector<node*> expired;
        // Nodes still to match against the rest of the filter (SUBSCRIBE time:
        // a local work list is fine here).
        std::vector<match_step> work{match_step{&root_, filter, true}};
        while (!work.empty()) {
            const match_step step = work.back();
            work.pop_back();
            match_node(step, now, visit, expired, work);
        }
        for (auto* n : expired) {
            clear_node(n);
            n->order = 0;  // expiry is not an update that could be overtaken
            prune(n);
        }
    }

    std::size_t size() const { return count_; }

    // Forgets cleared topics whose clear is older than `grace`. A cleared topic
    // keeps its order number for a while so that an older update arriving late
    // from another thread cannot bring the message back.
    void sweep(time_point now, std::chrono::seconds grace = std::chrono::seconds(5));

private:
    struct node {
        node* parent = nullptr;
        std::string_view key;
        std::unordered_map<std::string, std::unique_ptr<node>, transparent_string_hash, std::equal_to<>> children;
        message_ref msg;
        std::uint64_t order = 0;  // order of the last update, kept after a clear
    };

    // The node of `topic`; missing levels are created, or nullptr returned.
    node* walk(std::string_view topic, bool create);
    void clear_node(node* n);
    void prune(node* n);

    // A node and the part of the filter still to match below it.
    struct match_step {
        node* at;
        std::string_view filter;
        bool is_root;
    };

    // Matches one level of the filter at `step`; what continues below goes to `work`.
    template <typename Visit>
    void match_node(const match_step& step, time_point now, Visit& visit, std::vector<node*>& expired,
                    std::vector<match_step>& work) {
        node& n = *step.at;
        const auto slash = step.filter.find('/');
        const std::string_view level = step.filter.substr(0, slash);
        const bool last = slash == std::string_view::npos;
        const std::string_view rest = last ? std::string_view{} : step.filter.substr(slash + 1);
        if (level == "#") {
            // "a/#" also matches "a" itself; '$' topics are excluded at the root.
            if (!step.is_root) emit(n, now, visit, expired);
            std::vector<node*> below;
            for (auto& [key, child] : n.children) {
                if (step.is_root && !key.empty() && key.front() == '$') continue;
                below.push_back(child.get());
            }
            while (!below.empty()) {
                node* b = below.back();
                below.pop_back();
                emit(*b, now, visit, expired);
                for (auto& [key, child] : b->children) below.push_back(child.get());
            }
            return;
        }
        auto descend = [&](node& child) {
            if (last) emit(child, now, visit, expired);
            else work.push_back(match_step{&child, rest, false});
        };
        if (level == "+") {
            for (auto& [key, child] : n.children) {
                if (step.is_root && !key.empty() && key.front() == '$') continue;
                descend(*child);
            }
        } else if (auto it = n.children.find(level); it != n.children.end()) {
            descend(*it->second);
        }
    }

    template <typename Visit>
    void emit(node& n, time_point now, Visit& visit, std::vector<node*>& expired) {
        if (!n.msg) return;
        if (n.msg->expired(now)) {
            expired.push_back(&n);
            return;
        }
        visit(n.msg);
    }

    struct tombstone {
        time_point cleared_at;
        std::string topic;
        std::uint64_t order;
    };

    node root_;
    std::size_t count_ = 0;
    std::vector<tombstone> tombstones_;
};

}  // namespace strata::topic
