// QoS 2 with the store on: exactly once, also across a crash. How it works
// is told at the top of durable_router.cpp; this is one worker's part of it:
// the deliveries it planned for its sessions, waiting for the commit.
//
// Used only on its worker's thread. A plan (route_plan) is shared by the
// workers that take part in it, and each reaches another's durable_router by
// posting to that worker's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/router.hpp"
#include "session/message.hpp"
#include "session/session.hpp"

namespace strata::core {

class worker;
struct route_plan;

// A delivery decided when a QoS 2 message was planned, made at its release.
struct planned_delivery {
    std::uint64_t session_id = 0;
    std::uint8_t qos = 0;
    bool retain = false;
    std::vector<std::uint32_t> ids;
    std::uint64_t journal_seq = 0;  // its record, for journaled sessions
    std::string record_key;         // that record's key in the store (empty: none)
    shared_group_key group;         // the shared group that chose the session, if one did
};

class durable_router {
public:
    explicit durable_router(worker& home) : home_(home) {}
    durable_router(const durable_router&) = delete;
    durable_router& operator=(const durable_router&) = delete;

    // Stores a QoS 2 message received from a client; it is routed only at
    // PUBREL, with route().
    void store_held(message& m, std::string_view client_id);
    // Routes a held QoS 2 message so that its deliveries become durable
    // together: every worker plans the deliveries of its sessions, the
    // records are committed in one write set (with what `before_commit` adds),
    // `done(committed)` runs, and only then do subscribers receive it.
    void route(const message_ref& m, std::function<void()> before_commit, std::function<void(bool)> done);

private:
    void plan_route(const std::shared_ptr<route_plan>& plan);
    // A shared group's pick (d.msg is the plan's message); one that left is
    // replaced by another member, in the same plan.
    void plan_directed(const std::shared_ptr<route_plan>& plan, const directed_delivery& d);
    void replan_shared(const std::shared_ptr<route_plan>& plan, const directed_delivery& d);
    void plan_one(route_plan& plan, session& s, std::uint8_t qos, bool retain, std::span<const std::uint32_t> ids,
                  shared_group_key group = {});
    void plan_for_member(const std::shared_ptr<route_plan>& plan, std::size_t member_worker, directed_delivery d);
    void plan_finished(const std::shared_ptr<route_plan>& plan);
    void finish_plan(const std::shared_ptr<route_plan>& plan);
    void release_route(const message_ref& m, bool committed);
    // Runs fn(durable_router&) on worker `index`'s thread.
    template <typename Fn>
    void on_worker(std::size_t index, Fn&& fn) const;

    worker& home_;
    // QoS 2 deliveries planned and waiting for their commit, by message.
    std::unordered_map<const message*, std::vector<planned_delivery>> planned_;
};

}  // namespace strata::core
