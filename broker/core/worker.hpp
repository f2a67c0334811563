// A worker thread: one io_context, and the connections and sessions homed on
// it. The worker owns them and composes the parts that do the work, each in
// its own file:
//   - connection_registry: the live connections;
//   - router: subscriptions, fan-out, shared groups, routing by interest and
//     the batched hand-off to other workers (router.hpp);
//   - durable_router: QoS 2 planned and committed with the store on;
//   - publish_intake and client_access: what a client's packets may do and
//     which durability path they take;
//   - session_timers: will delays and session expiry.
// Nothing here is shared with other workers except through posted, immutable
// messages; the retained messages are one copy in the broker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
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
#include "core/durable_router.hpp"
#include "core/input_blocks.hpp"
#include "core/persistence.hpp"
#include "core/publish_intake.hpp"
#include "core/router.hpp"
#include "core/session_placement.hpp"
#include "core/session_timers.hpp"
#include "core/sys_topics.hpp"
#include "core/worker_port.hpp"
#include "plugin/worker_hooks.hpp"
#include "session/session.hpp"

namespace strata {
class logger;
namespace protocol {
class connection;
}
}  // namespace strata

namespace strata::core {

class broker;

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
    std::span<std::uint8_t> read_scratch() { return {read_scratch_.get(), read_scratch_size}; }
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
    void set_peer_count(std::size_t n) { router_.set_peer_count(n); }

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
    // Moving a session to another worker with its connection
    // (session_placement.hpp): taken out of this worker, on its thread; then
    // adopted by the other, on that one's.
    std::unique_ptr<session> take_session(session& s);
    session& adopt_session(std::unique_ptr<session> moved);
    // Whether a connection with this client id awaits its plugins here.
    bool authenticating(const std::string& client_id) const { return authenticating_.contains(client_id); }
    // A connection holding the registry's claim on `client_id` awaits its
    // plugins' verdict; ended (accepted: the session now exists) or not, the
    // claim is released when nothing on this worker holds the id any more.
    void begin_authentication(const std::string& client_id) { ++authenticating_[client_id]; }
    void end_authentication(const std::string& client_id);
    // A CONNECT refused after its client id was claimed for this worker: the
    // id is free again unless a session or an authentication here holds it.
    void release_unused_claim(const std::string& client_id);

    // ---- publishing ----
    // Publishes a message accepted from a client (or a will): to the store,
    // then to the router. With the store on, `ack` (QoS 1/2 of a client) runs
    // once the message is durable (see persistence::store_message).
    void publish(message* m, std::string_view client_id = {}, std::function<void(bool)> ack = {});

    // Subscriptions and fan-out (router.hpp).
    router& routing() { return router_; }
    // QoS 2 with the store on (durable_router.hpp).
    durable_router& durable_routing() { return durable_; }
    // What a client publishes, by QoS and durability (publish_intake.hpp).
    publish_intake& intake() { return intake_; }
    // What a client may do: log in, publish, subscribe (client_access.hpp).
    client_access& access() { return access_; }
    // Moving publishers next to their subscribers (session_placement.hpp).
    session_placement& placement() { return placement_; }

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

    // ---- the end of each event-loop turn ----
    // Posts the messages collected for other workers and the store's write
    // set (normally at the end of each event-loop turn; called directly
    // during shutdown).
    void flush_outboxes();
    // Asks for flush_outboxes() at the end of the current event-loop turn.
    void request_flush() override { schedule_flush(); }
    std::uint32_t worker_index() const override { return static_cast<std::uint32_t>(index_); }

private:
    void schedule_flush();
    void end_session(session& s, bool release_client_id);
    // A session of this worker: in both maps and counted (new_session gives
    // it a fresh id, unique in this process).
    session& register_session(std::unique_ptr<session> s);
    session& new_session(const std::string& client_id);
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

    // Not zeroed: a page of it becomes resident only once a read reaches it
    // (zeroing made all 64 KB resident in every worker).
    static constexpr std::size_t read_scratch_size = 64 * 1024;
    std::unique_ptr<std::uint8_t[]> read_scratch_ = std::make_unique_for_overwrite<std::uint8_t[]>(read_scratch_size);
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

    router router_{*this};
    durable_router durable_{*this};
    session_placement placement_{*this};
    session_timers timers_;

    sys_topics sys_;  // used by worker 0 only
    plugin::worker_hooks hooks_;
    std::unordered_map<std::string, std::uint32_t> authenticating_;  // client id -> connections awaiting plugins
    bool flush_scheduled_ = false;

    std::vector<std::function<void()>> paused_readers_;  // see when_intake_resumes
};

}  // namespace strata::core
