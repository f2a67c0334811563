// Routing: subscriptions, fan-out to local subscribers, shared groups,
// retained messages and the batched hand-off of messages to other workers.
#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/delivery_filter.hpp"
#include "core/logger.hpp"
#include "core/retain_source_check.hpp"
#include "core/worker.hpp"
#include "topic/topic_name.hpp"

namespace strata::core {

void worker::publish(message* raw, std::string_view client_id, std::function<void(bool)> ack) {
    mutable_message_ref m(raw);
    if (m->retain()) m->set_retain_order(broker_.next_retain_order());
    // The broker's own $SYS messages are not kept.
    if (persistence_ && !m->topic().starts_with("$SYS")) {
        persistence_->store_message(*m, client_id, std::move(ack));
        if (m->retain()) persistence_->retained(*m);
        schedule_flush();
    } else if (persistence_ && ack) {
        // Nothing to keep (a plugin rewrote the message onto $SYS): still
        // acknowledged, after what this client sent before is committed, so
        // its acknowledgements keep their order [MQTT-4.6.0-2].
        persistence_->after_commit(std::move(ack));
        schedule_flush();
    }
    distribute(message_ref(std::move(m)));
}

void worker::distribute(const message_ref& shared) {
    // Stored before anyone is told: a subscription made meanwhile either gets
    // it from the store or is visible here in time to be routed to.
    if (shared->retain()) broker_.retained().apply(shared);
    const bool remote_interest = find_remote_targets(*shared);
    // The publisher's acknowledgement waits for each worker that routes the
    // message: this one and the targets (shared-group hand-offs add theirs).
    if (const auto& token = shared->commit()) {
        token->remaining.store(static_cast<int>(remote_targets_.size() + 1), std::memory_order_relaxed);
    }
    for (const auto i : remote_targets_) outboxes_[i].broadcast.push_back(shared);
    if (!remote_targets_.empty()) schedule_flush();
    // Routed now, unless a fan-out is running (then it is deferred: matched
    // or not is unknown, and 0x00 is the safe answer). A count, not a flag,
    // so that a will published during this fan-out cannot reset it.
    const bool routed_now = !routing_;
    const std::uint64_t local_before = local_matches_;
    route(shared);
    last_publish_matched_ = remote_interest || local_matches_ != local_before || !routed_now;
}

void worker::route(const message_ref& m) {
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

void worker::route_one(const message_ref& m) {
    route_local(m);
    route_shared(m);
    if (persistence_ && m->commit()) {
        // This worker's delivery records for m are in the current write set.
        persistence_->routed(*m);
        schedule_flush();
    }
}

void worker::route_local(const message_ref& m) {
    match_local(m);
    if (plan_count_ == 0) return;
    ++local_matches_;
    const delivery_filter allowed(*this, *m);
    for (std::size_t i = 0; i < plan_count_; ++i) {
        auto& p = plans_[i];
        const auto qos = limits_.delivered_qos(m->qos(), p.qos);
        if (allowed.allows(*p.target, qos, p.retain)) p.target->deliver(m, qos, p.retain, p.ids);
    }
}

void worker::match_local(const message_ref& m) {
    ++match_stamp_;
    plan_count_ = 0;
    subscriptions_.match(m->topic(), [&](subscriber_entry& e) {
        session* s = e.owner;
        if (e.options.no_local && s->id() == m->origin_session()) return;  // [MQTT-3.8.3-3]
        delivery_plan* p;
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

void worker::route_shared(const message_ref& m) {
    shared_.route(m->topic(), [&](const shared_member& member, const shared_group_key& group_key) {
        ++local_matches_;
        hand_to_member(m, member, group_key, 0, true);
    });
}

void worker::hand_to_member(const message_ref& m, const shared_member& member, const shared_group_key& group_key,
                            std::uint8_t reroutes, bool part_of_commit) {
    directed_delivery d{m,
                        member.session_id,
                        limits_.delivered_qos(m->qos(), member.options.qos),
                        member.options.retain_as_published && m->retain(),
                        member.subscription_id,
                        group_key,
                        reroutes,
                        part_of_commit};
    if (member.worker == index_) {
        deliver_directed(d);
    } else {
        // The member's worker commits its delivery record too before the
        // publisher is acknowledged: one more part to wait for.
        if (part_of_commit && m->commit()) m->commit()->remaining.fetch_add(1, std::memory_order_relaxed);
        outboxes_[member.worker].directed.push_back(std::move(d));
        schedule_flush();
    }
}

void worker::bounce_shared(const directed_delivery& d) {
    if (!d.group_key || d.reroutes >= shared_groups::max_reroutes) return;
    const auto [group, filter] = shared_groups::split_key(*d.group_key);
    const std::size_t owner = shared_owner(group, filter);
    if (owner == index_) {
        reroute_shared(d);
        return;
    }
    // The owner's handling is one more part of the publisher's acknowledgement.
    const bool counted = d.part_of_commit && d.msg->commit();
    if (counted) d.msg->commit()->remaining.fetch_add(1, std::memory_order_relaxed);
    worker& w = broker_.worker_at(owner);
    boost::asio::post(w.io(), [&w, d, counted] {
        w.reroute_shared(d);
        if (w.persistence_ && counted) {
            w.persistence_->routed(*d.msg);
            w.schedule_flush();
        }
    });
}

void worker::reroute_shared(const directed_delivery& d) {
    shared_.reroute(d.group_key, d.session_id, [&](const shared_member& member) {
        hand_to_member(d.msg, member, d.group_key, static_cast<std::uint8_t>(d.reroutes + 1), d.part_of_commit);
    });
}

void worker::hand_on_shared(session& s) {
    const auto now = steady_clock::now();
    for (auto& p : s.take_shared_deliveries()) {
        if (!p.msg || p.msg->expired(now)) continue;  // [MQTT-3.3.2-5]
        // Its publisher was answered long ago, or is answered without it.
        bounce_shared(directed_delivery{std::move(p.msg), s.id(), p.qos, p.retain, 0, std::move(p.shared_group), 0,
                                        false});
    }
}

void worker::deliver_directed(const directed_delivery& d) {
    auto it = sessions_by_id_.find(d.session_id);
    if (it == sessions_by_id_.end()) {
        // The member left while the message was on its way: another member gets it (section 4.8.2).
        bounce_shared(d);
        return;
    }
    if (!delivery_filter(*this, *d.msg).allows(*it->second, d.qos, d.retain)) return;
    const std::uint32_t ids[1] = {d.subscription_id};
    it->second->deliver(d.msg, d.qos, d.retain, std::span<const std::uint32_t>(ids, d.subscription_id ? 1 : 0), 0,
                        d.group_key);
}

void worker::schedule_flush() {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    // Runs after the current handler: every message of this event-loop turn
    // travels to each other worker in one post.
    boost::asio::post(*io_, [this] { flush_outboxes(); });
}

void worker::flush_outboxes() {
    flush_scheduled_ = false;
    if (persistence_) persistence_->flush();
    post_pending_interest(nullptr);
    for (std::size_t i = 0; i < outboxes_.size(); ++i) {
        auto& box = outboxes_[i];
        if (box.broadcast.empty() && box.directed.empty()) continue;
        worker& target = broker_.worker_at(i);
        boost::asio::post(target.io(), [&target, b = std::move(box.broadcast), d = std::move(box.directed)]() mutable {
            target.receive(std::move(b), std::move(d));
        });
        box.broadcast.clear();
        box.directed.clear();
    }
}

void worker::receive(std::vector<message_ref> broadcast, std::vector<directed_delivery> directed) {
    for (const auto& m : broadcast) route(m);
    for (const auto& d : directed) {
        deliver_directed(d);
        if (persistence_ && d.part_of_commit && d.msg->commit()) {
            persistence_->routed(*d.msg);
            schedule_flush();
        }
    }
}

std::size_t worker::shared_owner(std::string_view group, std::string_view filter) const {
    const std::size_t h = std::hash<std::string_view>{}(group) * 31 + std::hash<std::string_view>{}(filter);
    return h % broker_.worker_count();
}

bool worker::subscribe(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier) {
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
        shared_member member{index_, s.id(), o, identifier, s.presence()};
        const std::size_t owner = shared_owner(f.group, f.filter);
        if (is_new) note_interest(f.filter, owner, true);
        if (owner == index_) {
            shared_.add(std::string(f.group), std::string(f.filter), std::move(member));
        } else {
            worker& target = broker_.worker_at(owner);
            boost::asio::post(target.io(), [&target, g = std::string(f.group), fl = std::string(f.filter),
                                            member = std::move(member)]() mutable {
                target.receive_shared_add(std::move(g), std::move(fl), std::move(member));
            });
        }
    } else if (is_new) {
        subscriptions_.insert(f.filter, subscriber_entry{&s, &sub.slot, o, identifier});
        note_interest(f.filter, index_, true);
    } else {
        auto& entry = subscriptions_.at(sub.slot);
        entry.options = o;
        entry.identifier = identifier;
    }
    if (is_new) stats_.add(stats_.subscriptions);
    if (s.journaled()) {
        persistence_->save_session(s, s.protocol_version, 0);
        schedule_flush();
    }
    return is_new;
}

void worker::remove_subscription(session& s, subscription& sub) {
    topic::subscription_filter f;
    topic::parse_subscription_filter(sub.filter, f);
    if (!sub.shared) {
        subscriptions_.erase(sub.slot);
        note_interest(f.filter, index_, false);
    } else {
        const std::size_t owner = shared_owner(f.group, f.filter);
        note_interest(f.filter, owner, false);
        if (owner == index_) {
            shared_.remove(std::string(f.group), std::string(f.filter), s.id());
        } else {
            worker& target = broker_.worker_at(owner);
            boost::asio::post(target.io(), [&target, g = std::string(f.group), fl = std::string(f.filter), id = s.id()]() mutable {
                target.receive_shared_remove(std::move(g), std::move(fl), id);
            });
        }
    }
    stats_.add(stats_.subscriptions, static_cast<std::uint64_t>(-1));
}

bool worker::unsubscribe(session& s, std::string_view filter) {
    if (!s.has_subscriptions()) return false;
    auto& subs = s.subscriptions();
    auto it = subs.find(filter);
    if (it == subs.end()) return false;
    remove_subscription(s, it->second);
    subs.erase(it);
    if (s.journaled()) {
        persistence_->save_session(s, s.protocol_version, 0);
        schedule_flush();
    }
    return true;
}

void worker::send_retained(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier) {
    const std::uint32_t ids[1] = {identifier};
    const std::span<const std::uint32_t> id_span(ids, identifier ? 1 : 0);
    retain_source_check publisher_may_write(*config_, *security_, hooks_);
    // Collected first and delivered after: no shard lock is held while a delivery runs.
    std::vector<message_ref> matching;
    broker_.retained().collect(filter, steady_clock::now(), matching);
    for (const auto& m : matching) {
        // Sent because of a new subscription: the retain flag stays set [MQTT-3.3.1-8].
        const auto qos = limits_.delivered_qos(m->qos(), o.qos);
        if (!publisher_may_write.allows(*m)) continue;
        if (!delivery_filter(*this, *m).allows(s, qos, true)) continue;
        s.deliver(m, qos, true, id_span);
    }
}

void worker::receive_shared_add(std::string group, std::string filter, shared_member member) {
    shared_.add(group, filter, std::move(member));
}

void worker::receive_shared_remove(std::string group, std::string filter, std::uint64_t session_id) {
    shared_.remove(group, filter, session_id);
}

}  // namespace strata::core
