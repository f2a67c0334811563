// One worker's routing: the subscriptions of the sessions homed on it, the
// fan-out of a message to them, the shared-subscription groups it owns, which
// other workers have which filters (interest_index), and the messages batched
// for other workers until the end of the event-loop turn.
//
// A router is used only on its worker's thread. Another worker reaches it by
// posting to that thread, and what travels is immutable (message_ref,
// directed_delivery), so routing takes no lock and payloads are shared,
// never copied. The retained messages are one copy in the broker
// (retained_messages.hpp); QoS 2 with the store on is planned by the
// durable_router, which asks this router whom a message reaches.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/interest_index.hpp"
#include "core/shared_groups.hpp"
#include "session/message.hpp"
#include "session/session.hpp"
#include "topic/topic_trie.hpp"

namespace strata::core {

class worker;

// A subscription as stored in the router's trie: copies of what fan-out needs.
struct subscriber_entry {
    session* owner = nullptr;
    topic::trie_slot* slot = nullptr;
    subscription_options options;
    std::uint32_t identifier = 0;
};

// A message for one session on another worker (a shared-subscription pick).
struct directed_delivery {
    message_ref msg;
    std::uint64_t session_id = 0;
    std::uint8_t qos = 0;
    bool retain = false;
    std::uint32_t subscription_id = 0;
    shared_group_key group_key;  // the shared group that picked the session
    std::uint8_t reroutes = 0;   // times it was handed on because its member had left
    // Its publisher's acknowledgement waits for it (see message::commit);
    // false for a message handed on after its publisher was answered.
    bool part_of_commit = true;

    // The subscription identifier as session::deliver takes it: none, or one.
    std::span<const std::uint32_t> subscription_ids() const { return {&subscription_id, subscription_id ? 1u : 0u}; }
};

// One local subscriber's delivery of a message: once per session, however
// many of its subscriptions match, with the QoS and retain flag it gets.
struct local_delivery {
    session* target = nullptr;
    std::uint8_t qos = 0;
    bool retain = false;
    std::vector<std::uint32_t> ids;
};

class router {
public:
    explicit router(worker& home) : home_(home) {}
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    // Sizes the outboxes for the other workers (called once all exist).
    void set_peer_count(std::size_t n);

    // ---- publishing ----
    // A message published on this worker (already handed to the store):
    // the retained store, local delivery, shared groups owned here, and the
    // other workers with a matching subscription.
    void distribute(const message_ref& m);
    // Whether the last distribute() found a subscriber: a local one, a shared
    // group owned here, or another worker's (for MQTT 5's 0x10, No matching
    // subscribers). True when it could not tell.
    bool last_publish_matched() const { return last_publish_matched_; }
    // The one other worker the last distribute() handed the message to, when
    // it went to exactly one and to no subscriber here (session_placement.hpp).
    static constexpr std::uint32_t no_sole_target = UINT32_MAX;
    std::uint32_t sole_remote_target() const { return sole_remote_target_; }

    // ---- subscriptions ----
    // Adds or replaces a subscription of `s`; returns true if it is new.
    bool subscribe(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier);
    // Removes a subscription; false if it did not exist.
    bool unsubscribe(session& s, std::string_view filter);
    // The session ends: every subscription goes, and the shared deliveries it
    // had not acknowledged go to other members of their groups.
    void remove_all(session& s);
    // Sends the retained messages matching a new subscription.
    void send_retained(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier);
    // Runs `then` once every other worker routes by the subscriptions made so
    // far (at once when nothing changed): a SUBACK waits for this
    // (interest_routing.cpp).
    void when_interest_visible(std::function<void()> then);
    bool interest_pending() const { return !pending_interest_.empty(); }
    // Start-up (before the threads run): the interest changes restored
    // sessions made, for the broker to apply to every worker at once.
    std::vector<interest_change> take_pending_interest() { return std::exchange(pending_interest_, {}); }
    void apply_interest(const std::vector<interest_change>& changes);

    // ---- what the durable router asks ----
    // The other workers `m` must reach: those with a matching subscription.
    std::span<const std::uint32_t> remote_targets(const message& m);
    // This worker's subscribers of `m`, after the ACL file and the plugins
    // (delivery_filter). Valid until the next call.
    std::span<const local_delivery> local_deliveries(const message_ref& m);
    // Calls pick(worker index, directed_delivery) for the member each shared
    // group owned here picks for `m`.
    template <typename Pick>
    void pick_shared(const message_ref& m, Pick&& pick) {
        shared_.route(m->topic(), [&](const shared_member& member, const shared_group_key& group) {
            pick(member.worker, directed_for(m, member, group, 0, true));
        });
    }
    // Section 4.8.2: the member `d` went to has left; calls pick(worker,
    // directed_delivery) for another member of its group, if there is one.
    // Run on the group's owner (shared_owner()).
    template <typename Pick>
    void pick_again(const directed_delivery& d, Pick&& pick) {
        shared_.reroute(d.group_key, d.session_id, [&](const shared_member& member) {
            pick(member.worker, directed_for(d.msg, member, d.group_key, static_cast<std::uint8_t>(d.reroutes + 1),
                                             d.part_of_commit));
        });
    }
    // The worker that owns the shared group `key` (a shared_group_key).
    std::size_t shared_owner(std::string_view key) const;
    // The member a shared message was handed to has left: its group's owner
    // picks another (section 4.8.2).
    void bounce_shared(const directed_delivery& d);

    // ---- the inbox: other workers' posts, run on this worker's thread ----
    void receive(std::vector<message_ref> broadcast, std::vector<directed_delivery> directed);
    void receive_shared_add(std::string group, std::string filter, shared_member member);
    void receive_shared_remove(std::string group, std::string filter, std::uint64_t session_id);
    void reroute_shared(const directed_delivery& d);

    // ---- the outbox ----
    // Posts the messages collected for other workers and the interest
    // changes (the worker calls this at the end of each event-loop turn).
    void post_outboxes();

private:
    struct outbox {
        std::vector<message_ref> broadcast;
        std::vector<directed_delivery> directed;
    };

    // The other workers `m` must reach, into remote_targets_. Returns whether there are any.
    bool find_remote_targets(const message& m);
    // Records one subscription more or fewer on `filter` for `target`.
    void note_interest(std::string_view filter, std::size_t target, bool add);
    void post_pending_interest(const std::function<void()>* ack);
    void route(const message_ref& m);
    void route_one(const message_ref& m);
    void route_local(const message_ref& m);
    void match_local(const message_ref& m);  // fills plans_ for m
    void route_shared(const message_ref& m);
    void deliver_directed(const directed_delivery& d);
    directed_delivery directed_for(const message_ref& m, const shared_member& member, const shared_group_key& group,
                                   std::uint8_t reroutes, bool part_of_commit) const;
    void hand_to(std::size_t target, directed_delivery d);
    void remove_subscription(session& s, subscription& sub);
    // The journaled session's subscriptions changed: record them.
    void save_subscriptions(session& s);
    std::size_t shared_owner(std::string_view group, std::string_view filter) const;

    worker& home_;
    topic::topic_trie<subscriber_entry> subscriptions_;
    shared_groups shared_;
    std::vector<outbox> outboxes_;

    // Routing by interest (interest_routing.cpp): the other workers' filters,
    // and this worker's changes not yet posted to them.
    std::optional<interest_index> interest_;
    std::vector<interest_change> pending_interest_;
    std::vector<std::uint32_t> remote_targets_;  // scratch of find_remote_targets()
    bool last_publish_matched_ = true;
    std::uint32_t sole_remote_target_ = no_sole_target;
    std::uint64_t local_matches_ = 0;  // messages route_local/route_shared found a subscriber for

    // Messages published while a fan-out is running (e.g. a will sent because
    // a delivery closed a connection) wait here instead of re-entering it.
    bool routing_ = false;
    std::vector<message_ref> deferred_routes_;

    // Fan-out scratch, reused for every message.
    std::uint64_t match_stamp_ = 0;
    std::vector<local_delivery> plans_;
    std::size_t plan_count_ = 0;
};

}  // namespace strata::core
