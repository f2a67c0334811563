// The MQTT connection state machine, free of I/O: the transport hands it the
// bytes it read and writes out what it puts in output(); timers arrive as
// tick() calls from the worker. One connection lives on one worker thread,
// and sees the rest of the broker only through its broker_port.
//
// Lifecycle: awaiting_connect -> active -> closing (output is flushed, then
// the transport closes the socket and calls on_transport_closed()).
// A CONNECT whose session lives on another worker sets `migrating`: the
// transport moves the socket and the unread bytes to that worker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "codec/packets.hpp"
#include "protocol/broker_port.hpp"
#include "plugin/table.hpp"
#include "protocol/output_queue.hpp"
#include "protocol/packet_framer.hpp"
#include "session/session.hpp"
#include "topic/topic_trie.hpp"

namespace strata::plugin {
class message_draft;
}

namespace strata::protocol {

// What the connection needs from the socket side.
class transport {
public:
    virtual ~transport() = default;
    // output() has new bytes, or the connection started closing: write them
    // (once per event-loop turn is enough) and close if closing() is set.
    virtual void output_ready() = 0;
    // The username the transport vouches for (TLS listeners with
    // use_identity_as_username / use_subject_as_username): it replaces the
    // CONNECT's, and no password is checked. Null elsewhere; an empty name
    // (no usable certificate) is refused.
    virtual const std::string* certificate_username() const { return nullptr; }
    // Reads and processes, now and without waiting, what the socket has
    // already received (see connection::read_pending_input()).
    virtual void read_pending_input() {}
    // Moves the socket, this connection and its session to worker `target`
    // (connection::move_to); false when this transport cannot move.
    virtual bool move_to(std::size_t /*target*/) { return false; }
};

enum class connection_state { awaiting_connect, active, closing, migrating, closed };

// Settings of the listener a connection came in on; outlives its connections.
struct listener_settings {
    std::uint16_t port = 0;
    std::uint16_t index = 0;               // position in the configuration (per-listener security)
    std::string mount_point;               // prefix of every topic of these clients
    std::optional<bool> allow_anonymous;   // per_listener_settings; unset = global value
};

class connection final : public delivery_sink {
public:
    connection(broker_port& broker, transport& t, std::string peer, const listener_settings& listener);
    ~connection() override;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // ---- transport side ----
    // Processes received bytes (complete packets now, a partial one is kept).
    void on_input(std::span<const std::uint8_t> bytes);
    // The socket is gone (EOF, error, or closed after closing()).
    void on_transport_closed();
    // The transport reads again after the broker held input back (the
    // store's backpressure): the silence was the broker's, not the client's.
    void input_resumed() { last_packet_at_ = steady_clock::now(); }
    output_queue& output() { return out_; }
    const output_queue& output() const { return out_; }
    connection_state state() const { return state_; }
    bool closing() const { return state_ == connection_state::closing; }
    // With state() == migrating: the worker to move to and the bytes to replay there.
    std::size_t migrate_to() const { return migrate_to_; }
    std::vector<std::uint8_t> take_unread_input();
    // An established connection moving to another worker with its session
    // (core/session_placement.hpp): it leaves this worker's port, and joins
    // the other's on that worker's thread.
    void leave_worker();
    void join_worker(broker_port& broker);

    // ---- worker side ----
    // Periodic check of keep-alive and connect timeouts.
    void tick(time_point now);
    // Server-initiated close: DISCONNECT with `rc` in v5, then close. The will
    // is published unless `suppress_will`.
    void disconnect(codec::reason_code rc, bool suppress_will = false);
    // Detaches from the session without touching it (it was taken over).
    void release_session() { forget_session(); }
    session* attached_session() const { return session_; }
    // Whether the connection and its session could move to another worker
    // now: logged in, nothing waiting for a plugin, the other workers or a
    // timer, and the session holding no message (session::movable()).
    bool movable() const;
    // Asks the transport to move the connection and its session to worker
    // `target`, if both are movable; false if they stay.
    bool move_to(std::size_t target);
    // Before a new connection takes this one's session over: what this
    // client sent before (a DISCONNECT, acknowledgements) is processed first,
    // in the order it arrived. May detach the session or end it.
    void read_pending_input() { transport_.read_pending_input(); }
    // The session's while one is attached: the connection keeps its own
    // copy only before and after (client ids are often 20-40 bytes, and a
    // fleet's connections would each hold a third copy).
    const std::string& client_id() const { return session_ ? session_->client_id() : client_id_; }
    const std::string& peer() const { return peer_; }
    codec::protocol_version version() const { return version_; }
    std::size_t worker_slot = 0;  // index in the worker's connection list
    std::uint64_t id = 0;         // unique on its worker; completions find the connection by it

    // ---- delivery_sink (called by the session) ----
    bool send_publish(const message& m, std::uint8_t qos, bool retain, std::uint16_t packet_id, bool dup,
                      std::span<const std::uint32_t> subscription_ids) override;
    void send_pubrel(std::uint16_t packet_id) override;
    std::uint16_t client_receive_maximum() const override { return client_receive_maximum_; }

    // The broker took (or the store committed, or refused) what this
    // session's client sent: its PUBACK, PUBREC or PUBCOMP now (or the refusal).
    void acknowledge_stored(commit_wait_kind kind, std::uint16_t packet_id, bool stored, bool no_subscribers) override;

    // ---- plugin side (auth_handler.cpp) ----
    // A deferred plugin decision arrives (host->resume, posted to this worker).
    void resume(std::uint32_t sequence, plugin::answer a);
    // This client as plugin events show it.
    plugin::client_view plugin_client() const;

private:
    // Packet handlers (one file per packet family).
    void handle_packet(const codec::fixed_header& h, codec::bytes_view body);
    void handle_connect(codec::bytes_view body);
    void handle_publish(std::uint8_t flags, codec::bytes_view body);
    void handle_ack(codec::packet_type type, codec::bytes_view body);
    void handle_subscribe(codec::bytes_view body);
    // A retained-message request of a SUBSCRIBE, sent after its SUBACK.
    struct retained_request {
        std::string filter;
        subscription_options options;
    };
    // The SUBACK and what follows it, once every worker routes by the new
    // subscriptions; input that arrived meanwhile is read then.
    void complete_subscribe(const codec::subscribe_ack_packet& ack, const std::vector<retained_request>& retained,
                            std::uint32_t identifier);
    void send_suback(const codec::subscribe_ack_packet& ack, const std::vector<retained_request>& retained,
                     std::uint32_t identifier);
    void handle_unsubscribe(codec::bytes_view body);
    void handle_disconnect(codec::bytes_view body);
    void handle_auth(codec::bytes_view body);

    // CONNECT helpers
    // Decodes CONNECT and applies what the transport vouches for (the username of a certificate).
    codec::reason_code read_connect(codec::bytes_view body, codec::connect_packet& p) const;
    codec::reason_code check_connect(const codec::connect_packet& p);
    bool anonymous_allowed() const;
    // Password file, certificate identity or anonymous access: success or not_authorized.
    codec::reason_code check_credentials(const codec::connect_packet& p);
    // The address is blocked after failed logins: "not authorized" goes out
    // after `delay`, so the back-off delays the answer without changing it.
    void refuse_connect_later(std::chrono::milliseconds delay);
    // Whether the ACL file lets this client publish its will.
    bool will_allowed_by_acl(const codec::connect_packet& p) const;
    void refuse_connect(codec::reason_code rc, std::string_view why, std::string_view reason_string = {});
    void accept_connect(const codec::connect_packet& p, bool assigned_id);
    // Queues a CONNACK within the client's Maximum Packet Size, which covers
    // it too [MQTT-3.1.2-24]: without its Reason String and User Properties
    // when that makes it fit; false (nothing queued) when it cannot fit.
    bool queue_connack(codec::connack_packet& ack);
    // This client as the ACLs know it, kept with its retained messages (check_retain_source).
    message_source publisher() const;
    // A topic or filter of this client's as the broker sees it: behind its
    // listener's mount_point (the client never sees the prefix).
    std::string mounted(std::string_view topic) const {
        std::string out;
        out.reserve(mount_point().size() + topic.size());
        out += mount_point();
        out += topic;
        return out;
    }
    mutable_message_ref make_will(const codec::connect_packet& p);

    // PUBLISH from the client, step by step (publish_handler.cpp). Each step
    // that refuses has answered the client (or is closing the connection) and
    // returns false.
    // Decodes, and checks what makes the packet itself wrong (a protocol violation).
    bool decode_publish_checked(std::uint8_t flags, codec::bytes_view body, codec::publish_packet& p);
    bool resolve_topic_alias(codec::publish_packet& p);
    // A QoS 2 PUBLISH whose packet id is still in flight: acknowledged again, not delivered again.
    void answer_qos2_resend(std::uint16_t packet_id);
    // Receive Maximum, memory_limit and a store that cannot write.
    bool room_for_publish(const codec::publish_packet& p);
    // What the broker does not take (bad UTF-8, message_size_limit, $SYS and
    // $share topics); its QoS flow still completes with this reason code.
    codec::reason_code broker_verdict(const codec::publish_packet& p) const;
    // The ACL file's write check, then the plugins' (which may rewrite the message).
    bool authorize_publish(const codec::publish_packet& p, std::string_view topic,
                           const plugin::message_draft*& rewritten);
    // Hands the message to the broker (core/publish_intake.hpp: one of three
    // paths); its acknowledgement comes back through acknowledge_stored().
    void pass_on(const codec::publish_packet& p, const message::init& in);
    void acknowledge_publish(std::uint8_t qos, std::uint16_t packet_id, codec::reason_code rc);
    void send_ack(codec::packet_type type, std::uint16_t packet_id, codec::reason_code rc);
    // False (and the connection closing) for an acknowledgement of the wrong kind.
    bool ack_fits_flow(codec::packet_type type, std::uint16_t packet_id);

    // Slow consumers (output_limit.cpp): whether a QoS 0 PUBLISH of
    // `packet_bytes` fits under max_client_output_bytes; if not, it is dropped
    // or the client is disconnected, as slow_client_action says.
    bool output_has_room(std::uint32_t packet_bytes);
    void disconnect_slow_client();
    void log_slow_drops() const;
    // memory_limit (core/memory_guard.hpp): true while the heap is over it;
    // the message is then dropped and the client disconnected (0x97), as Mosquitto.
    bool over_memory_limit();

    // SUBSCRIBE and UNSUBSCRIBE: false (and the connection closing) for a
    // filter that makes the packet malformed (subscribe_handler.cpp).
    bool filter_well_formed(std::string_view filter);
    // Closes because of a protocol violation: DISCONNECT with the reason in
    // v5, a plain close in 3.1.1 [MQTT-4.13.1-1].
    void protocol_violation(codec::reason_code rc, std::string_view what);
    void begin_close();
    // The session is no longer this connection's: the client id is copied back.
    void forget_session();

    // Plugins (auth_handler.cpp): the authentication chain of CONNECT and AUTH,
    // the connect and disconnect events, refusals of PUBLISH.
    struct plugin_state;
    void start_authentication(codec::bytes_view connect_body, bool assigned_id);
    void run_authentication(plugin::answer* late);
    plugin::answer ask_plugin(const codec::connect_packet* p);
    bool take_answer(plugin::answer a, const codec::connect_packet& p);
    bool chain_exhausted(const codec::connect_packet& p);
    bool authenticated(const codec::connect_packet& p);
    void refuse_authentication(const plugin::answer& a, codec::reason_code fallback);
    void finish_authentication(const codec::connect_packet& p);
    void send_auth(codec::reason_code rc, std::span<const std::uint8_t> data, std::string_view reason_string);
    void refuse_publish(const codec::publish_packet& p, codec::reason_code rc, std::string_view reason_string);
    // A decision is deferred: further packets wait (held in input_).
    bool paused() const;
    // Why the connection ends, for the disconnect event.
    void note_close(codec::reason_code rc, bool client_initiated);
    void plugin_closing();
    void notify_transport();
    bool wants_problem_information() const { return request_problem_information_; }

    broker_port* broker_;  // the worker's; another one after move_to()
    transport& transport_;
    std::string peer_;
    const listener_settings& listener_;
    const std::string& mount_point() const { return listener_.mount_point; }
    // (The small fields sit together: every connection is 24 bytes smaller.)
    connection_state state_ = connection_state::awaiting_connect;
    std::uint16_t migrate_to_ = 0;  // a worker index
    // Negotiated at CONNECT.
    codec::protocol_version version_ = codec::protocol_version::v311;

    // Input: bytes of a packet not complete yet (empty most of the time, so an
    // idle connection holds no read buffer).
    packet_framer input_;
    output_queue out_;

    std::string client_id_;  // until the CONNACK is encoded, and after the session (client_id())
    session* session_ = nullptr;
    std::uint16_t keep_alive_ = 0;          // effective seconds; 0 = none
    std::uint16_t client_receive_maximum_ = 65535;
    std::uint32_t client_maximum_packet_size_ = 0;  // 0 = no limit
    std::uint16_t client_topic_alias_maximum_ = 0;
    bool request_problem_information_ = true;
    std::uint16_t server_receive_maximum_ = 65535;
    std::uint16_t server_topic_alias_maximum_ = 0;
    std::uint32_t connect_session_expiry_ = 0;  // as the client asked in CONNECT
    bool will_suppressed_ = false;          // normal DISCONNECT received or will already handled
    // An MQTT 3.1/3.1.1 bridge (the bridge bit of CONNECT's protocol level):
    // as in Mosquitto, its subscriptions do not send its own messages back
    // (No Local) and keep the retain flag (Retain As Published), so that a
    // topic bridged both ways does not loop.
    bool bridge_ = false;
    bool refusal_pending_ = false;          // CONNECT from a blocked address: refused after a delay
    bool awaiting_interest_ = false;        // a SUBACK waits for the other workers (complete_subscribe)
    bool slow_disconnect_posted_ = false;   // slow_client_action or memory_limit disconnect: on its way
    std::uint32_t slow_drops_ = 0;          // QoS 0 messages dropped: the client did not read fast enough

    // Topic aliases (MQTT 5): client -> broker (index = alias) and broker ->
    // client. Made when a client first uses them, as most never do: the two
    // empty containers would cost every connection 80 bytes.
    struct topic_aliases {
        std::vector<std::string> inbound;
        std::unordered_map<std::string, std::uint16_t, topic::transparent_string_hash, std::equal_to<>> outbound;
    };
    topic_aliases& aliases() {
        if (!aliases_) aliases_ = std::make_unique<topic_aliases>();
        return *aliases_;
    }
    std::unique_ptr<topic_aliases> aliases_;

    time_point created_at_;
    time_point last_packet_at_;
    // Only when plugins take part in connections (else null: 8 bytes per connection).
    std::unique_ptr<plugin_state> plugin_;
};

}  // namespace strata::protocol
