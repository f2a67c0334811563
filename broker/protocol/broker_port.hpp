// Everything a server-role connection (protocol/connection.hpp) asks of the
// rest of the broker, and all it sees of it: log in, authorize, sessions,
// publish, subscribe, deferred work and the environment. core::worker_port
// implements it on a worker; the protocol layer's unit tests implement it in
// memory (tests/unit/fake_broker_port.hpp), with no broker behind it.
//
// Every call is made on the connection's own thread. Work that must not run
// inside the current handler (it would close a connection under a fan-out
// that holds its session) goes through defer() or after(), and finds its
// connection again by id with find_connection(): it may be gone by then.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "codec/packets.hpp"
#include "config/broker_config.hpp"
#include "core/broker_stats.hpp"
#include "plugin/table.hpp"
#include "session/session.hpp"
#include "topic/topic_name.hpp"

namespace strata {
class logger;
}
namespace strata::plugin {
class message_draft;
class worker_hooks;
}  // namespace strata::plugin

namespace strata::protocol {

class connection;

// Decoding scratch shared by the connections of one thread (packets are
// handled one at a time), so that an idle connection does not carry it.
struct packet_scratch {
    codec::publish_packet publish;
    codec::ack_packet ack;
    codec::byte_buffer forwarded_properties;
};

// Result of attaching a connection to a session (CONNECT).
struct attach_result {
    session* s = nullptr;
    bool session_present = false;
};

class broker_port {
public:
    virtual ~broker_port() = default;

    // ---- environment ----
    // The worker this port serves (connection and session ids carry it).
    virtual std::uint32_t worker_index() const = 0;
    virtual const config::broker_config& config() const = 0;
    virtual logger& log() = 0;
    virtual core::worker_stats& stats() = 0;
    // The plugin callbacks (empty without plugins).
    virtual plugin::worker_hooks& hooks() = 0;
    virtual packet_scratch& scratch() = 0;
    // Runs `work` on this thread once the current handler has returned, or
    // after `delay`.
    virtual void defer(std::function<void()> work) = 0;
    virtual void after(std::chrono::milliseconds delay, std::function<void()> work) = 0;

    // ---- connections ----
    virtual void add_connection(connection* c) = 0;
    virtual void remove_connection(connection* c) = 0;
    virtual connection* find_connection(std::uint64_t id) = 0;

    // ---- load ----
    // The store's writer is behind: client input is not read, so keep-alive
    // is not held against clients.
    virtual bool intake_paused() const = 0;
    // The heap is over memory_limit (core/memory_guard.hpp).
    virtual bool memory_over_limit() const = 0;

    // ---- logging in (core/client_access.hpp) ----
    // How long CONNECTs from `address` are still refused after failed logins; 0: not.
    virtual std::chrono::milliseconds login_blocked_for(const std::string& address) const = 0;
    // The listener's password file, or anonymous access: success or not_authorized.
    virtual codec::reason_code check_password(std::uint16_t listener, bool anonymous_allowed,
                                              const std::string& address, const codec::connect_packet& p) = 0;
    // Whether the listener's ACL file lets this client publish its will.
    virtual bool may_publish_will(std::uint16_t listener, const std::string* username, const std::string& client_id,
                                  std::string_view topic) const = 0;

    // ---- sessions ----
    // A new client identifier, unique in this process.
    virtual std::string make_client_id() = 0;
    // Claims `client_id` for this worker unless another holds it; returns the
    // worker that holds it (another one: the connection migrates there).
    virtual std::uint32_t claim_client_id(const std::string& client_id) = 0;
    // A refused CONNECT: the claim goes unless something here still holds the id.
    virtual void release_unused_claim(const std::string& client_id) = 0;
    // A connection with the claim awaits its plugins' verdict (auth_handler.cpp).
    virtual void begin_authentication(const std::string& client_id) = 0;
    virtual void end_authentication(const std::string& client_id) = 0;
    // Binds `c` to the session of `client_id`, taking over a live connection
    // and creating or discarding the session as `clean_start` says.
    virtual attach_result attach(connection& c, const std::string& client_id, bool clean_start) = 0;
    // The connection has set the session's expiry and will: it is recorded.
    virtual void session_started(session& s) = 0;
    // The connection holding `s` is gone: its will and its expiry follow.
    virtual void detach(session& s, bool publish_will_now) = 0;

    // ---- publishing (core/publish_intake.hpp, core/client_access.hpp) ----
    // A PUBLISH on `topic` (behind the mount point): success, or the refusal
    // with the plugin's reason in `reason`; `rewritten` is a plugin's draft.
    virtual codec::reason_code may_publish(session& s, const plugin::client_view& who, std::string_view topic,
                                           const codec::publish_packet& p, const plugin::message_draft*& rewritten,
                                           std::string& reason) = 0;
    // False when a QoS 1/2 message cannot be kept now (the store cannot write).
    virtual bool can_keep(std::uint8_t qos) const = 0;
    // A checked, authorized message: routed or held; its acknowledgement
    // comes back through the session's sink (acknowledge_stored).
    virtual void accept_publish(session& s, std::uint8_t qos, std::uint16_t packet_id, const message::init& in) = 0;
    // PUBREL: the PUBCOMP's reason code now, or nullopt when it follows a commit.
    virtual std::optional<codec::reason_code> release_publish(session& s, std::uint16_t packet_id) = 0;

    // ---- subscribing ----
    // One filter against the ACL file and the plugins (which may lower `o.qos`).
    virtual codec::reason_code may_subscribe(session& s, const plugin::client_view& who, std::string_view raw_filter,
                                             std::string_view mounted_filter, std::string_view mount_point,
                                             const topic::subscription_filter& f, subscription_options& o,
                                             std::uint32_t identifier) = 0;
    virtual codec::reason_code may_unsubscribe(const plugin::client_view& who, std::string_view mount_point,
                                               const topic::subscription_filter& f) = 0;
    // Adds or replaces a subscription; true if it is new.
    virtual bool subscribe(session& s, std::string_view filter, const subscription_options& o,
                           std::uint32_t identifier) = 0;
    // False if it did not exist.
    virtual bool unsubscribe(session& s, std::string_view filter) = 0;
    // Sends the retained messages matching a new subscription.
    virtual void send_retained(session& s, std::string_view filter, const subscription_options& o,
                               std::uint32_t identifier) = 0;
    // Whether subscriptions made here are not yet routed by every worker; a
    // SUBACK then waits for when_interest_visible().
    virtual bool interest_pending() const = 0;
    virtual void when_interest_visible(std::function<void()> then) = 0;
};

}  // namespace strata::protocol
