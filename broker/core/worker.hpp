// A worker thread: one io_context, the connections and sessions homed on it,
// and its own routing state. Nothing here is shared with other workers except
// through posted, immutable messages:
//   - subscriptions of the sessions homed here (a local topic trie);
//   - which other workers have which filters (interest_index);
//   - shared-subscription groups this worker owns.
// A published message reaches the workers with a matching subscription
// (batched per event-loop turn), and each delivers it to its own subscribers,
// so routing takes no lock and payloads are shared, never copied, across
// threads. The retained messages are one copy in the broker
// (retained_messages.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "auth/security.hpp"
#include "codec/packets.hpp"
#include "config/broker_config.hpp"
#include "core/broker_stats.hpp"
#include "core/client_access.hpp"
#include "core/connection_registry.hpp"
#include "core/input_blocks.hpp"
#include "core/interest_index.hpp"
#include "core/persistence.hpp"
#include "core/publish_intake.hpp"
#include "core/session_timers.hpp"
#include "core/shared_groups.hpp"
#include "core/sys_topics.hpp"
#include "core/worker_port.hpp"
#include "plugin/worker_hooks.hpp"
#include "session/session.hpp"
#include "topic/topic_trie.hpp"

namespace strata {
class logger;
namespace protocol {
class connection;
}
}  // namespace strata

namespace strata::core {

class broker;
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

// A subscription as stored in the worker's trie: copies of what fan-out needs.
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
};

using protocol::attach_result;
using protocol::packet_scratch;

class worker final : public persistence_owner {
public:
    worker(broker& owner, std::size_t index, std::shared_ptr<const config::broker_config> cfg);
    ~worker() override;
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    boost::asio::io_context& io() { return *io_; }
    std::size_t index() const { return index_; }
    broker& owner() { return broker_; }
    logger& log();
    const config::broker_config& config() const { return *config_; }
    const delivery_limits& limits() const { return limits_; }
    worker_stats& stats() { return stats_; }
    packet_scratch& scratch() { return scratch_; }
    // What this worker's connections see of the broker (protocol/broker_port.hpp).
    protocol::broker_port& port() { return port_; }
    // Buffer that transports read into before handing bytes to a connection.
    std::vector<std::uint8_t>& read_scratch() { return read_scratch_; }
    // Read buffers of the connections that receive often (input_blocks.hpp).
    input_block_pool& input_blocks() { return input_blocks_; }
    // The transport whose input handler runs now, and how many flushes other
    // transports posted meanwhile: a reader that was the only one to produce
    // output writes it when its handler ends, without a turn of the event
    // loop (net/tcp_connection.cpp, "input_turn").
    struct input_turn {
        const void* reader = nullptr;
        std::uint32_t other_flushes = 0;
    };
    input_turn& turn() { return turn_; }
    // Messages for other workers or a store write set wait for the end of
    // this event-loop turn (schedule_flush).
    bool outboxes_pending() const { return flush_scheduled_; }
    // Buffer where TLS transports stage plaintext before encrypting it.
    std::vector<std::uint8_t>& write_scratch() { return write_scratch_; }
    // The gather list of the write a transport is making now. async_write
    // copies it, so one per worker serves every connection.
    std::vector<boost::asio::const_buffer>& iov_scratch() { return iov_scratch_; }
    // The plugin callbacks as this worker calls them (empty without plugins).
    plugin::worker_hooks& hooks() { return hooks_; }

    // Sizes the outboxes for the other workers (called once all exist).
    void set_peer_count(std::size_t n);

    // Runs the event loop on the calling thread until stop().
    void run();
    void stop();

    // ---- configuration ----
    void apply_config(std::shared_ptr<const config::broker_config> cfg);
    // The password and ACL files in force (replaced on SIGHUP).
    // New password and ACL files (start-up, SIGHUP). A reload that takes read
    // access away applies to messages already queued too: they are dropped.
    void apply_security(std::shared_ptr<const auth::security> s);
    const auth::security& security() const { return *security_; }
    // The ACL rules of a session's client (null: its listener has no ACL
    // file); resolved on first use after a connect or a reload.
    const auth::client_acl* acl_of(session& s);
    // Whether a session may receive a message: core/delivery_filter.hpp.

    // ---- persistence (nullptr when the store is off) ----
    void set_persistence(std::unique_ptr<persistence> p) { persistence_ = std::move(p); }
    persistence* store() const { return persistence_.get(); }
    // Rebuilds a persistent session from the store (before the threads start);
    // the caller adds subscriptions and deliveries, then sets its journal.
    session& restore_session(const std::string& client_id, std::uint32_t expiry_interval,
                             std::uint64_t disconnected_us, std::uint8_t protocol_version);

    // ---- connections (called by protocol::connection) ----
    void add_connection(protocol::connection* c) { connections_.add(c); }
    void remove_connection(protocol::connection* c) { connections_.remove(c); }
    std::size_t connection_count() const { return connections_.size(); }
    protocol::connection* find_connection(std::uint64_t id) { return connections_.find(id); }
    session* find_session(std::uint64_t id) override;

    // Binds a connection to the session of `client_id` on this worker, taking
    // over a live connection and creating or discarding the session as the
    // clean-start flag says.
    attach_result attach(protocol::connection& c, const std::string& client_id, bool clean_start);
    // The connection has set the session's expiry: a persistent session is
    // recorded in the store (when it is on), a session that stopped being
    // persistent is removed from it.
    void session_started(session& s);
    // The connection holding `s` is gone: publish or schedule the will,
    // end the session or schedule its expiry.
    void detach(session& s, bool publish_will_now);
    // A new client identifier, unique in this process.
    std::string make_client_id();
    // A connection holding the registry's claim on `client_id` awaits its
    // plugins' verdict; ended (accepted: the session now exists) or not, the
    // claim is released when nothing on this worker holds the id any more.
    void begin_authentication(const std::string& client_id) { ++authenticating_[client_id]; }
    void end_authentication(const std::string& client_id);
    // A CONNECT refused after its client id was claimed for this worker: the
    // id is free again unless a session or an authentication here holds it.
    void release_unused_claim(const std::string& client_id);

    // ---- routing ----
    // Publishes a message accepted from a client (or a will): the retained
    // store, local delivery, shared groups owned here, and the other workers
    // with a matching subscription.
    // With the store on, the message is stored; `ack` (QoS 1/2 of a client)
    // then runs once it is durable (see persistence::store_message).
    void publish(message* m, std::string_view client_id = {}, std::function<void(bool)> ack = {});

    // What a client publishes, by QoS and durability (publish_intake.hpp).
    publish_intake& intake() { return intake_; }
    // What a client may do: log in, publish, subscribe (client_access.hpp).
    client_access& access() { return access_; }

    // ---- QoS 2 with the store on (durable_route.cpp) ----
    // Stores a QoS 2 message received from a client; it is routed only at
    // PUBREL, with route_durably().
    void store_held(message& m, std::string_view client_id);
    // Routes a held QoS 2 message so that its deliveries become durable
    // together: every worker plans the deliveries of its sessions, the
    // records are committed in one write set (with what `before_commit` adds),
    // `done(committed)` runs, and only then do subscribers receive it.
    void route_durably(const message_ref& m, std::function<void()> before_commit, std::function<void(bool)> done);
    // Adds or replaces a subscription of `s`; returns true if it is new.
    bool subscribe(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier);
    // Removes a subscription; false if it did not exist.
    bool unsubscribe(session& s, std::string_view filter);
    // Sends the retained messages matching a new subscription.
    void send_retained(session& s, std::string_view filter, const subscription_options& o, std::uint32_t identifier);
    // Runs `then` once every other worker routes by the subscriptions made so
    // far (at once when nothing changed): a SUBACK waits for this
    // (interest_routing.cpp).
    void when_interest_visible(std::function<void()> then);
    bool interest_pending() const { return !pending_interest_.empty(); }
    // Whether the last publish() from a client found a subscriber: a local
    // one, a shared group owned here, or another worker's (for MQTT 5's 0x10,
    // No matching subscribers). True when it could not tell.
    bool last_publish_matched() const { return last_publish_matched_; }

    // ---- backpressure ----
    // True while the store's writer is behind its bound: transports read no
    // client input (TCP pushes back on the publishers) and keep-alive is not
    // held against clients the broker is not reading.
    bool intake_paused() const { return persistence_ && persistence_->backlogged(); }
    // A transport that stopped reading: `resume` runs (on this thread) once
    // the store has caught up (resume_intake).
    void when_intake_resumes(std::function<void()> resume) { paused_readers_.push_back(std::move(resume)); }
    // Posted by the store's writer when its queue has drained.
    void resume_intake();

    // ---- periodic work ----
    void tick();

    // ---- shutdown ----
    // Publishes the wills of every connected client and of sessions waiting
    // for their will delay (the server is going away).
    void publish_all_wills();
    // Sends DISCONNECT (server shutting down) to every connection and closes it.
    void disconnect_all();

    // ---- cross-worker inbox (runs on this worker's thread) ----
    void receive(std::vector<message_ref> broadcast, std::vector<directed_delivery> directed);
    void receive_shared_add(std::string group, std::string filter, shared_member member);
    void receive_shared_remove(std::string group, std::string filter, std::uint64_t session_id);
    void apply_interest(const std::vector<interest_change>& changes);
    // Start-up (before the threads run): the interest changes restored
    // sessions made, for the broker to apply to every worker at once.
    std::vector<interest_change> take_pending_interest() { return std::exchange(pending_interest_, {}); }
    // Posts the messages collected for other workers and the store's write
    // set (normally at the end of each event-loop turn; called directly
    // during shutdown).
    void flush_outboxes();
    // Asks for flush_outboxes() at the end of the current event-loop turn.
    void request_flush() override { schedule_flush(); }
    std::uint32_t worker_index() const override { return static_cast<std::uint32_t>(index_); }

private:
    struct outbox {
        std::vector<message_ref> broadcast;
        std::vector<directed_delivery> directed;
    };
    struct delivery_plan {
        session* target = nullptr;
        std::uint8_t qos = 0;
        bool retain = false;
        std::vector<std::uint32_t> ids;
    };

    void distribute(const message_ref& m);  // to this worker's subscribers and the interested workers
    // The other workers `m` must reach (remote_targets_): those with a
    // matching subscription. Returns whether there are any.
    bool find_remote_targets(const message& m);
    // Records one subscription more or fewer on `filter` for `target`.
    void note_interest(std::string_view filter, std::size_t target, bool add);
    void post_pending_interest(const std::function<void()>* ack);
    void route_one(const message_ref& m);
    void route_local(const message_ref& m);
    void match_local(const message_ref& m);  // fills plans_ for m
    void plan_route(const std::shared_ptr<route_plan>& plan);
    // A shared group's pick (d.msg is the plan's message); one that left is
    // replaced by another member, in the same plan.
    void plan_directed(const std::shared_ptr<route_plan>& plan, const directed_delivery& d);
    void replan_shared(const std::shared_ptr<route_plan>& plan, const directed_delivery& d);
    void plan_one(route_plan& plan, session& s, std::uint8_t qos, bool retain, std::span<const std::uint32_t> ids,
                  shared_group_key group = {});
    void plan_for_member(const std::shared_ptr<route_plan>& plan, const shared_member& member,
                         const shared_group_key& group, std::uint8_t reroutes);
    void plan_finished(const std::shared_ptr<route_plan>& plan);
    void finish_plan(const std::shared_ptr<route_plan>& plan);
    void release_route(const message_ref& m, bool committed);
    void route_shared(const message_ref& m);
    void deliver_directed(const directed_delivery& d);
    // The member a shared message was handed to has left: its group's owner
    // picks another (section 4.8.2). reroute_shared runs on the owner.
    void bounce_shared(const directed_delivery& d);
    void reroute_shared(const directed_delivery& d);
    void hand_to_member(const message_ref& m, const shared_member& member, const shared_group_key& group_key,
                        std::uint8_t reroutes, bool part_of_commit);
    // A session ends with deliveries its shared groups chose it for, not yet
    // acknowledged: each goes to another member (section 4.8.2).
    void hand_on_shared(session& s);
    void schedule_flush();
    std::size_t shared_owner(std::string_view group, std::string_view filter) const;
    void end_session(session& s, bool release_client_id);
    void remove_subscription(session& s, subscription& sub);
    void route(const message_ref& m);
    void publish_will(session& s);
    void schedule(session& s, time_point due);
    void run_timers(time_point now);
    void start_tick_timer();

    broker& broker_;
    std::size_t index_;
    // Destroyed first (see ~worker): pending handlers own connections, whose
    // destructors still touch the worker.
    std::unique_ptr<boost::asio::io_context> io_;
    std::optional<boost::asio::steady_timer> tick_timer_;
    std::shared_ptr<const config::broker_config> config_;
    std::shared_ptr<const auth::security> security_;
    delivery_limits limits_;
    worker_stats stats_;

    std::vector<std::uint8_t> read_scratch_ = std::vector<std::uint8_t>(64 * 1024);
    std::vector<std::uint8_t> write_scratch_;
    std::vector<boost::asio::const_buffer> iov_scratch_;
    input_block_pool input_blocks_;
    input_turn turn_;
    packet_scratch scratch_;
    connection_registry connections_;
    std::unique_ptr<persistence> persistence_;
    publish_intake intake_{*this};
    client_access access_{*this};
    worker_port port_{*this};
    // Keyed by a view of each session's own client id (one copy of it, not two).
    std::unordered_map<std::string_view, std::unique_ptr<session>> sessions_;
    std::unordered_map<std::uint64_t, session*> sessions_by_id_;
    std::uint64_t next_session_number_ = 1;
    std::mt19937_64 client_id_random_{std::random_device{}()};

    topic::topic_trie<subscriber_entry> subscriptions_;
    shared_groups shared_;
    session_timers timers_;

    sys_topics sys_;  // used by worker 0 only
    plugin::worker_hooks hooks_;
    std::unordered_map<std::string, std::uint32_t> authenticating_;  // client id -> connections awaiting plugins
    std::vector<outbox> outboxes_;
    bool flush_scheduled_ = false;

    // Routing by interest (interest_routing.cpp): the other workers' filters,
    // and this worker's changes not yet posted to them.
    std::optional<interest_index> interest_;
    std::vector<interest_change> pending_interest_;
    std::vector<std::uint32_t> remote_targets_;  // scratch of find_remote_targets()
    bool last_publish_matched_ = true;
    std::uint64_t local_matches_ = 0;  // messages route_local/route_shared found a subscriber for

    // Messages published while a fan-out is running (e.g. a will sent because
    // a delivery closed a connection) wait here instead of re-entering it.
    bool routing_ = false;
    std::vector<message_ref> deferred_routes_;

    std::vector<std::function<void()>> paused_readers_;  // see when_intake_resumes

    // QoS 2 deliveries planned and waiting for their commit, by message.
    std::unordered_map<const message*, std::vector<planned_delivery>> planned_;

    // Fan-out scratch, reused for every message.
    std::uint64_t match_stamp_ = 0;
    std::vector<delivery_plan> plans_;
    std::size_t plan_count_ = 0;
};

}  // namespace strata::core
