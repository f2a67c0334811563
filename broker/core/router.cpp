// Routing: subscriptions, fan-out to local subscribers, shared groups,
// retained messages and the batched hand-off of messages to other workers.
#include "core/router.hpp"

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/delivery_filter.hpp"
#include "core/retain_source_check.hpp"
#include "core/worker.hpp"
#include "topic/topic_name.hpp"

namespace strata::core {

void router::set_peer_count(std::size_t n) {
    outboxes_.resize(n);
    interest_.emplace(static_cast<std::uint32_t>(home_.index()), n);
}

void router::distribute(const message_ref& shared) {
    // Stored before anyone is told: a subscription made meanwhile either gets
    // it from the store or is visible here in time to be routed to.
    if (shared->retain()) home_.owner().retained().apply(shared);
    const bool remote_interest = find_remote_targets(*shared);
    // The publisher's acknowledgement waits for each worker that routes the
    // message: this one and the targets (shared-group hand-offs add theirs).
    if (const auto& token = shared->commit()) {
        token->remaining.store(static_cast<int>(remote_targets_.size() + 1), std::memory_order_relaxed);
    }
    for (const auto i : remote_targets_) outboxes_[i].broadcast.push_back(shared);
    if (!remote_targets_.empty()) home_.request_flush();
    // Routed now, unless a fan-out is running (then it is deferred: matched
    // or not is unknown, and 0x00 is the safe answer). A count, not a flag,
    // so that a will published during this fan-out cannot reset it.
    const bool routed_now = !routing_;
    const std::uint64_t local_before = local_matches_;
    route(shared);
    const bool matched_here = local_matches_ != local_before || !routed_now;
    last_publish_matched_ = remote_interest || matched_here;
    sole_remote_target_ = remote_targets_.size() == 1 && !matched_here ? remote_targets_[0] : no_sole_target;
}

void router::route(const message_ref& m) {
    if (routing_) {
        deferred_routes_.push_back(m);
        return;
    }
    routing_ = true;
    route_one(m);
    // Drain what was published during the fan-out (index loop: it may grow).
    for (std::size_t i = 0; i < deferred_routes_.size(); ++i) {
        const message_ref next = deferred_routes_[i];
        route_one(next);
    }
    deferred_routes_.clear();
    routing_ = false;
}

void router::route_one(const message_ref& m) {
    route_local(m);
    route_shared(m);
    if (auto* store = home_.store(); store && m->commit()) {
        // This worker's delivery records for m are in the current write set.
        store->routed(*m);
        home_.request_flush();
    }
}

void router::route_local(const message_ref& m) {
    const auto deliveries = local_deliveries(m);
    if (deliveries.empty()) return;
    ++local_matches_;
    for (const auto& d : deliveries) d.target->deliver(m, d.qos, d.retain, d.ids);
}

std::span<const local_delivery> router::local_deliveries(const message_ref& m) {
    match_local(m);
    if (plan_count_ == 0) return {};
    // Kept in place: the plans the ACL file and the plugins allow, each with
    // the QoS the subscriber gets.
    const delivery_filter allowed(home_, *m);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < plan_count_; ++i) {
        auto& p = plans_[i];
        p.qos = home_.limits().delivered_qos(m->qos(), p.qos);
        if (!allowed.allows(*p.target, p.qos, p.retain)) continue;
        if (kept != i) std::swap(plans_[kept], p);
        ++kept;
    }
    return {plans_.data(), kept};
}

void router::match_local(const message_ref& m) {
    ++match_stamp_;
    plan_count_ = 0;
    subscriptions_.match(m->topic(), [&](subscriber_entry& e) {
        session* s = e.owner;
        if (e.options.no_local && s->id() == m->origin_session()) return;  // [MQTT-3.8.3-3]
        local_delivery* p;
        if (s->match_stamp != match_stamp_) {
            // First matching subscription of this session for this message.
            s->match_stamp = match_stamp_;
            s->match_index = static_cast<std::uint32_t>(plan_count_);
            if (plans_.size() <= plan_count_) plans_.emplace_back();
            p = &plans_[plan_count_++];
            p->target = s;
            p->qos = e.options.qos;
            p->retain = false;
            p->ids.clear();
        } else {
            // Overlapping subscriptions: one delivery with the highest QoS and
            // every subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3].
            p = &plans_[s->match_index];
            p->qos = std::max(p->qos, e.options.qos);
        }
        if (e.options.retain_as_published && m->retain()) p->retain = true;  // [MQTT-3.3.1-13]
        if (e.identifier != 0) p->ids.push_back(e.identifier);
    });
}

void router::route_shared(const message_ref& m) {
    pick_shared(m, [&](std::size_t target, directed_delivery d) {
        ++local_matches_;
        hand_to(target, std::move(d));
    });
}

directed_delivery router::directed_for(const message_ref& m, const shared_member& member,
                                       const shared_group_key& group, std::uint8_t reroutes,
                                       bool part_of_commit) const {
    return directed_delivery{m,
                             member.session_id,
                             home_.limits().delivered_qos(m->qos(), member.options.qos),
                             member.options.retain_as_published && m->retain(),
                             member.subscription_id,
                             group,
                             reroutes,
                             part_of_commit};
}

void router::hand_to(std::size_t target, directed_delivery d) {
    if (target == home_.index()) {
        deliver_directed(d);
        return;
    }
    // The member's worker commits its delivery record too before the
    // publisher is acknowledged: one more part to wait for.
    if (d.part_of_commit && d.msg->commit()) d.msg->commit()->remaining.fetch_add(1, std::memory_order_relaxed);
    outboxes_[target].directed.push_back(std::move(d));
    home_.request_flush();
}

void router::bounce_shared(const directed_delivery& d) {
    if (!d.group_key || d.reroutes >= shared_groups::max_reroutes) return;
    const std::size_t owner = shared_owner(*d.group_key);
    if (owner == home_.index()) {
        reroute_shared(d);
        return;
    }
    // The owner's handling is one more part of the publisher's acknowledgement.
    const bool counted = d.part_of_commit && d.msg->commit();
    if (counted) d.msg->commit()->remaining.fetch_add(1, std::memory_order_relaxed);
    worker& w = home_.owner().worker_at(owner);
    boost::asio::post(w.io(), [&w, d, counted] {
        w.routing().reroute_shared(d);
        if (auto* store = w.store(); store && counted) {
            store->routed(*d.msg);
            w.request_flush();
        }
    });
}

void router::reroute_shared(const directed_delivery& d) {
    pick_again(d, [&](std::size_t target, directed_delivery again) { hand_to(target, std::move(again)); });
}

void router::deliver_directed(const directed_delivery& d) {
    session* s = home_.find_session(d.session_id);
    if (!s) {
        // The member left while the message was on its way: another member gets it (section 4.8.2).
        bounce_shared(d);
        return;
    }
    if (!delivery_filter(home_, *d.msg).allows(*s, d.qos, d.retain)) return;
    s->deliver(d.msg, d.qos, d.retain, d.subscription_ids(), 0, d.group_key);
}

void router::post_outboxes() {
    post_pending_interest(nullptr);
    for (std::size_t i = 0; i < outboxes_.size(); ++i) {
        auto& box = outboxes_[i];
        if (box.broadcast.empty() && box.directed.empty()) continue;
        worker& target = home_.owner().worker_at(i);
        boost::asio::post(target.io(), [&target, b = std::move(box.broadcast), d = std::move(box.directed)]() mutable {
            target.routing().receive(std::move(b), std::move(d));
        });
        box.broadcast.clear();
        box.directed.clear();
    }
}

void router::receive(std::vector<message_ref> broadcast, std::vector<directed_delivery> directed) {
    for (const auto& m : broadcast) route(m);
    auto* store = home_.store();
    for (const auto& d : directed) {
        deliver_directed(d);
        if (store && d.part_of_commit && d.msg->commit()) {
            store->routed(*d.msg);
            home_.request_flush();
        }
    }
}

std::size_t router::shared_owner(std::string_view group, std::string_view filter) const {
    const std::size_t h = std::hash<std::string_view>{}(group) * 31 + std::hash<std::string_view>{}(filter);
    return h % home_.owner().worker_count();
}

std::size_t router::shared_owner(std::string_view key) const {
    const auto [group, filter] = shared_groups::split_key(key);
    return shared_owner(group, filter);
}

bool router::subscribe(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier) {
    auto& subs = s.subscriptions();
    auto it = subs.find(filter);
    const bool is_new = it == subs.end();
    if (is_new) {
        it = subs.emplace(std::string(filter), subscription{}).first;
        it->second.filter = it->first;
    }
    subscription& sub = it->second;
    sub.options = o;
    sub.identifier = identifier;
    topic::subscription_filter f;
    topic::parse_subscription_filter(sub.filter, f);
    sub.shared = f.shared;
    if (f.shared) {
        shared_member member{home_.index(), s.id(), o, identifier, s.presence()};
        const std::size_t owner = shared_owner(f.group, f.filter);
        if (is_new) note_interest(f.filter, owner, true);
        if (owner == home_.index()) {
            shared_.add(std::string(f.group), std::string(f.filter), std::move(member));
        } else {
            worker& target = home_.owner().worker_at(owner);
            boost::asio::post(target.io(), [&target, g = std::string(f.group), fl = std::string(f.filter),
                                            member = std::move(member)]() mutable {
                target.routing().receive_shared_add(std::move(g), std::move(fl), std::move(member));
            });
        }
    } else if (is_new) {
        subscriptions_.insert(f.filter, subscriber_entry{&s, &sub.slot, o, identifier});
        note_interest(f.filter, home_.index(), true);
    } else {
        auto& entry = subscriptions_.at(sub.slot);
        entry.options = o;
        entry.identifier = identifier;
    }
    if (is_new) home_.stats().add(home_.stats().subscriptions);
    save_subscriptions(s);
    return is_new;
}

void router::remove_subscription(session& s, subscription& sub) {
    topic::subscription_filter f;
    topic::parse_subscription_filter(sub.filter, f);
    if (!sub.shared) {
        subscriptions_.erase(sub.slot);
        note_interest(f.filter, home_.index(), false);
    } else {
        const std::size_t owner = shared_owner(f.group, f.filter);
        note_interest(f.filter, owner, false);
        if (owner == home_.index()) {
            shared_.remove(std::string(f.group), std::string(f.filter), s.id());
        } else {
            worker& target = home_.owner().worker_at(owner);
            boost::asio::post(target.io(), [&target, g = std::string(f.group), fl = std::string(f.filter), id = s.id()]() mutable {
                target.routing().receive_shared_remove(std::move(g), std::move(fl), id);
            });
        }
    }
    home_.stats().add(home_.stats().subscriptions, static_cast<std::uint64_t>(-1));
}

bool router::unsubscribe(session& s, std::string_view filter) {
    if (!s.has_subscriptions()) return false;
    auto& subs = s.subscriptions();
    auto it = subs.find(filter);
    if (it == subs.end()) return false;
    remove_subscription(s, it->second);
    subs.erase(it);
    save_subscriptions(s);
    return true;
}

void router::remove_all(session& s) {
    if (s.has_subscriptions()) {
        for (auto& [filter, sub] : s.subscriptions()) remove_subscription(s, sub);
        s.subscriptions().clear();
    }
    // After the removals, so that no owner picks this session again.
    const auto now = steady_clock::now();
    for (auto& p : s.take_shared_deliveries()) {
        if (!p.msg || p.msg->expired(now)) continue;  // [MQTT-3.3.2-5]
        // Its publisher was answered long ago, or is answered without it.
        bounce_shared(directed_delivery{std::move(p.msg), s.id(), p.qos, p.retain, 0, std::move(p.shared_group), 0,
                                        false});
    }
}

void router::save_subscriptions(session& s) {
    if (!s.journaled()) return;
    home_.store()->save_session(s, s.protocol_version, 0);
    home_.request_flush();
}

void router::send_retained(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier) {
    const std::uint32_t ids[1] = {identifier};
    const std::span<const std::uint32_t> id_span(ids, identifier ? 1 : 0);
    retain_source_check publisher_may_write(home_.config(), home_.security(), home_.hooks());
    // Collected first and delivered after: no shard lock is held while a delivery runs.
    std::vector<message_ref> matching;
    home_.owner().retained().collect(filter, steady_clock::now(), matching);
    for (const auto& m : matching) {
        // Sent because of a new subscription: the retain flag stays set [MQTT-3.3.1-8].
        const auto qos = home_.limits().delivered_qos(m->qos(), o.qos);
        if (!publisher_may_write.allows(*m)) continue;
        if (!delivery_filter(home_, *m).allows(s, qos, true)) continue;
        s.deliver(m, qos, true, id_span);
    }
}

void router::receive_shared_add(std::string group, std::string filter, shared_member member) {
    shared_.add(group, filter, std::move(member));
}

void router::receive_shared_remove(std::string group, std::string filter, std::uint64_t session_id) {
    shared_.remove(group, filter, session_id);
}

}  // namespace strata::core
