// QoS 2 with the store on: exactly once, also across a crash.
//
// A QoS 2 PUBLISH is stored and held in the publisher's session until PUBREL
// (the spec's "method A"); PUBREC goes out once the message is committed. At
// PUBREL the message is routed in two phases:
//   1. plan: every worker works out the deliveries of its sessions (and of the
//      shared-subscription members it owns) and encodes the delivery records
//      of the persistent ones; nothing is sent;
//   2. commit: the publisher's worker writes all those records, and the
//      removal of the held message, in one write set; then PUBCOMP goes out
//      and every worker releases its planned deliveries.
// A crash before the commit leaves the message held (the client resends
// PUBREL and it is routed then); after it, every delivery record exists.
// Subscribers never see a message whose routing could be redone, so nobody
// receives it twice.
#include "core/durable_router.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/delivery_filter.hpp"
#include "core/worker.hpp"

namespace strata::core {

struct route_plan {
    message_ref msg;
    std::uint32_t origin = 0;
    std::atomic<int> remaining{0};  // workers (and shared members) still planning
    std::mutex mutex;               // guards records
    std::vector<persistence::encoded_record> records;
    std::function<void()> before_commit;
    std::function<void(bool)> done;
    std::vector<std::uint32_t> targets;  // the other workers that plan (routing by interest)
    std::vector<std::uint32_t> members;  // workers that planned for a shared group's pick (guarded by mutex)
};

template <typename Fn>
void durable_router::on_worker(std::size_t index, Fn&& fn) const {
    worker& w = home_.owner().worker_at(index);
    boost::asio::post(w.io(), [&target = w.durable_routing(), fn = std::forward<Fn>(fn)]() mutable { fn(target); });
}

void durable_router::store_held(message& m, std::string_view client_id) {
    if (m.retain()) m.set_retain_order(home_.owner().next_retain_order());
    home_.store()->store_message(m, client_id, {});
    home_.request_flush();
}

void durable_router::route(const message_ref& m, std::function<void()> before_commit, std::function<void(bool)> done) {
    auto plan = std::make_shared<route_plan>();
    plan->msg = m;
    plan->origin = static_cast<std::uint32_t>(home_.index());
    // Into the retained store before the targets are chosen, as distribute()
    // does: a subscription made while the plan commits then finds it there.
    // Should the commit fail, the client's resent PUBREL routes the same
    // message (same order number) again, so it is not taken back.
    if (m->retain()) home_.owner().retained().apply(m);
    const auto targets = home_.routing().remote_targets(*m);
    plan->targets.assign(targets.begin(), targets.end());
    plan->remaining.store(static_cast<int>(plan->targets.size() + 1), std::memory_order_relaxed);
    plan->before_commit = std::move(before_commit);
    plan->done = std::move(done);
    for (const auto i : plan->targets) on_worker(i, [plan](durable_router& d) { d.plan_route(plan); });
    plan_route(plan);
}

void durable_router::plan_one(route_plan& plan, session& s, std::uint8_t qos, bool retain,
                              std::span<const std::uint32_t> ids, shared_group_key group) {
    planned_delivery d{s.id(), qos, retain, {ids.begin(), ids.end()}, 0, {}, std::move(group)};
    if (s.journaled() && qos > 0 && plan.msg->stored_at().topic_id != 0) {
        d.journal_seq = s.reserve_journal_seq();
        auto record = home_.store()->encode_planned(s, pending_delivery{plan.msg, qos, retain, d.ids, d.journal_seq, {}});
        d.record_key = record.first;
        std::lock_guard lock(plan.mutex);
        plan.records.push_back(std::move(record));
    }
    planned_[plan.msg.get()].push_back(std::move(d));
}

void durable_router::plan_route(const std::shared_ptr<route_plan>& plan) {
    const message_ref& m = plan->msg;
    for (const auto& d : home_.routing().local_deliveries(m)) plan_one(*plan, *d.target, d.qos, d.retain, d.ids);
    home_.routing().pick_shared(m, [&](std::size_t member_worker, directed_delivery d) {
        plan_for_member(plan, member_worker, std::move(d));
    });
    plan_finished(plan);
}

void durable_router::plan_for_member(const std::shared_ptr<route_plan>& plan, std::size_t member_worker,
                                     directed_delivery d) {
    plan->remaining.fetch_add(1, std::memory_order_relaxed);  // balanced by plan_directed's plan_finished()
    if (member_worker == home_.index()) {
        plan_directed(plan, d);
        return;
    }
    on_worker(member_worker, [plan, d = std::move(d)](durable_router& w) { w.plan_directed(plan, d); });
}

void durable_router::plan_directed(const std::shared_ptr<route_plan>& plan, const directed_delivery& d) {
    {
        // This worker may be none of the targets: it must hear of the commit too.
        std::lock_guard lock(plan->mutex);
        plan->members.push_back(static_cast<std::uint32_t>(home_.index()));
    }
    session* s = home_.find_session(d.session_id);
    if (!s) {
        // The member left before the plan reached it: its group's owner picks
        // another, within this plan (section 4.8.2).
        replan_shared(plan, d);
    } else {
        if (delivery_filter(home_, *plan->msg).allows(*s, d.qos, d.retain)) {
            plan_one(*plan, *s, d.qos, d.retain, d.subscription_ids(), d.group_key);
        }
    }
    plan_finished(plan);
}

void durable_router::replan_shared(const std::shared_ptr<route_plan>& plan, const directed_delivery& d) {
    if (!d.group_key || d.reroutes >= shared_groups::max_reroutes) return;
    const std::size_t owner = home_.routing().shared_owner(*d.group_key);
    if (owner != home_.index()) {
        plan->remaining.fetch_add(1, std::memory_order_relaxed);  // the owner's turn is one more part
        on_worker(owner, [plan, d](durable_router& w) {
            w.replan_shared(plan, d);
            w.plan_finished(plan);
        });
        return;
    }
    home_.routing().pick_again(d, [&](std::size_t member_worker, directed_delivery again) {
        plan_for_member(plan, member_worker, std::move(again));
    });
}

void durable_router::plan_finished(const std::shared_ptr<route_plan>& plan) {
    if (plan->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (plan->origin == home_.index()) {
        finish_plan(plan);
        return;
    }
    on_worker(plan->origin, [plan](durable_router& origin) { origin.finish_plan(plan); });
}

void durable_router::finish_plan(const std::shared_ptr<route_plan>& plan) {
    persistence& store = *home_.store();
    {
        std::lock_guard lock(plan->mutex);
        store.write_planned(*plan->msg, plan->records);
    }
    if (plan->msg->retain()) store.retained(*plan->msg);
    if (plan->before_commit) plan->before_commit();
    store.after_commit([this, plan](bool committed) {
        plan->done(committed);
        // Every worker that planned deliveries releases them (planning is over: no lock needed).
        std::vector<std::uint32_t> planned = plan->targets;
        planned.insert(planned.end(), plan->members.begin(), plan->members.end());
        std::sort(planned.begin(), planned.end());
        planned.erase(std::unique(planned.begin(), planned.end()), planned.end());
        for (const auto i : planned) {
            if (i == home_.index()) continue;
            on_worker(i, [m = plan->msg, committed](durable_router& w) { w.release_route(m, committed); });
        }
        release_route(plan->msg, committed);
    });
    home_.request_flush();
}

void durable_router::release_route(const message_ref& m, bool committed) {
    auto node = planned_.extract(m.get());
    if (!committed) return;  // nothing was written; the publisher will send PUBREL again
    if (node.empty()) return;
    for (auto& d : node.mapped()) {
        if (session* s = home_.find_session(d.session_id)) {
            s->deliver(m, d.qos, d.retain, d.ids, d.journal_seq, std::move(d.group));
            continue;
        }
        if (auto* store = home_.store(); !d.record_key.empty() && store) {
            // The session ended while the plan was being committed: its removal
            // reached the store first, so the record written with the plan is
            // an orphan. (Its incarnation keeps a later session of the same
            // client id from ever taking it, even across a crash before this.)
            store->remove_record(d.record_key);
            home_.request_flush();
        }
        // A shared group's pick that left meanwhile: another member gets it,
        // after the publisher's PUBCOMP (its record is written then, not in the plan).
        home_.routing().bounce_shared(directed_delivery{m, d.session_id, d.qos, d.retain, 0, std::move(d.group), 0, false});
    }
}

}  // namespace strata::core
