// The MQTT session (section 4.1): state that outlives a network connection.
// Holds subscriptions, outbound QoS 1/2 messages in flight and queued,
// inbound QoS 2 packet identifiers, the will, and expiry. A session lives on
// its home worker thread; at most one connection is attached at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "session/delivery_limits.hpp"
#include "session/message.hpp"
#include "session/packet_id_pool.hpp"
#include "session/ring_buffer.hpp"
#include "topic/topic_trie.hpp"

namespace strata {

namespace auth {
class acl_file;
class client_acl;
}  // namespace auth

// What a session needs from the connection that currently holds it.
// The acknowledgements that wait for the store: PUBACK of a QoS 1 PUBLISH,
// PUBREC of a QoS 2 PUBLISH, PUBCOMP of a PUBREL.
enum class commit_wait_kind : std::uint8_t { puback, pubrec, pubcomp };

class delivery_sink {
public:
    virtual ~delivery_sink() = default;
    // Encodes and queues one PUBLISH; false if it exceeds the client's Maximum
    // Packet Size and was dropped [MQTT-3.1.2-25].
    virtual bool send_publish(const message& m, std::uint8_t qos, bool retain, std::uint16_t packet_id, bool dup,
                              std::span<const std::uint32_t> subscription_ids) = 0;
    virtual void send_pubrel(std::uint16_t packet_id) = 0;
    // What the client sent (perhaps over an earlier connection of this
    // session) is taken: at once, or committed, or refused by the store
    // (`stored` false); the acknowledgement that waited for it goes out
    // (core/publish_intake.hpp, session::await_commit).
    // `no_subscribers`: the message matched no subscription (MQTT 5: 0x10).
    virtual void acknowledge_stored(commit_wait_kind kind, std::uint16_t packet_id, bool stored,
                                    bool no_subscribers) = 0;
    // The client's Receive Maximum (65535 when it set none).
    virtual std::uint16_t client_receive_maximum() const = 0;
};

struct subscription_options {
    std::uint8_t qos = 0;
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
};

// One subscription of a session, keyed by the filter string as subscribed.
struct subscription {
    std::string filter;           // as sent, "$share/g/f" included
    subscription_options options;
    std::uint32_t identifier = 0; // 0 = none
    bool shared = false;
    topic::trie_slot slot;        // position in the worker's trie (non-shared only)
};

// The shared-subscription group that picked a session for a message
// (shared_groups.hpp): `group '\0' filter`, shared rather than copied so that
// a delivery carries it without an allocation.
using shared_group_key = std::shared_ptr<const std::string>;

// A message on its way to this session.
struct pending_delivery {
    message_ref msg;
    std::uint8_t qos = 0;
    bool retain = false;
    std::vector<std::uint32_t> subscription_ids;
    std::uint64_t journal_seq = 0;  // its record in the store; 0 = not stored
    // Set when a shared group chose this session: if the session ends before
    // the message is acknowledged, another member gets it (section 4.8.2).
    // Not kept in the store: a delivery restored after a restart has none.
    shared_group_key shared_group;
};

class session;

// Where a persistent session records its deliveries when the store is on, so
// that queued and in-flight messages survive a crash.
class session_journal {
public:
    enum class state : std::uint8_t { queued = 0, in_flight = 1, released = 2 };
    virtual ~session_journal() = default;
    virtual void delivery_saved(const session& s, const pending_delivery& d, state st, std::uint16_t packet_id) = 0;
    virtual void delivery_removed(const session& s, std::uint64_t journal_seq) = 0;
    // Sends PUBREL for `packet_id` once the "released" state is durable, so
    // that a crash cannot turn it back into a resent PUBLISH (a duplicate).
    virtual void send_pubrel_when_durable(const session& s, std::uint16_t packet_id) = 0;
    // Sends the QoS 2 PUBLISH in flight as `packet_id` once its record (with
    // that packet id) is durable: after a crash it is resent with the same id,
    // which the receiver recognises, never with a new one.
    virtual void send_publish_when_durable(const session& s, std::uint16_t packet_id) = 0;
};

// A QoS 1/2 message sent and not yet fully acknowledged.
struct inflight_delivery {
    pending_delivery delivery;
    std::uint16_t packet_id = 0;
    bool released = false;  // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
    bool sent = false;      // the PUBLISH reached the connection at least once (DUP on resend)
    bool held = false;      // a journaled QoS 2 PUBLISH waiting for its record to be durable
    // Kept in flight from an earlier connection but not resent yet: the new
    // connection's window is smaller. Resent (DUP) as acknowledgements free it.
    bool parked = false;
    // Payload bytes, counted against max_inflight_bytes until the exchange
    // completes (kept when a released QoS 2 message lets go of its payload).
    std::uint32_t bytes = 0;
};

// Shared with shared-subscription owners on other threads, who prefer members that are online.
struct session_presence {
    std::atomic<bool> online{false};
};

class session {
public:
    session(std::string client_id, std::uint64_t id, const delivery_limits& limits);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    const std::string& client_id() const { return client_id_; }
    std::uint64_t id() const { return id_; }

    // ---- connection attachment ----
    bool online() const { return sink_ != nullptr; }
    delivery_sink* sink() const { return sink_; }
    void attach(delivery_sink* sink);
    void detach();
    // Created when first asked for (only shared-subscription members need it).
    const std::shared_ptr<session_presence>& presence();

    // ---- outbound delivery ----
    // Sends now, or queues (bounded) when offline or the in-flight window is full.
    // `journal_seq`: a record the store already holds for this delivery (see
    // reserve_journal_seq), else 0.
    // `group`: the shared group that chose this session, if one did.
    void deliver(const message_ref& m, std::uint8_t qos, bool retain, std::span<const std::uint32_t> subscription_ids,
                 std::uint64_t journal_seq = 0, shared_group_key group = {});
    // When the session ends: the deliveries a shared group chose it for that
    // the client has not acknowledged (queued, or in flight and not yet
    // PUBREC'd), taken out for the group to give to another member.
    std::vector<pending_delivery> take_shared_deliveries();
    // Removes the queued (not yet sent) deliveries whose message `drop`
    // returns true for, with their store records; returns how many.
    template <typename Predicate>
    std::size_t drop_queued_if(Predicate&& drop) {
        std::size_t dropped = 0;
        for (std::size_t n = queue_.size(); n > 0; --n) {
            pending_delivery d = pop_queued();
            if (drop(*d.msg)) {
                unjournal(d);
                ++dropped;
            } else {
                push_queued(std::move(d));  // the order is kept: every entry goes round once
            }
        }
        return dropped;
    }
    // A sequence number for a delivery record written ahead of the delivery.
    std::uint64_t reserve_journal_seq() { return next_journal_seq_++; }
    // Sends a journaled QoS 2 PUBLISH held until its record was durable.
    void send_held(std::uint16_t packet_id);
    // After a reconnect with a kept session: resend in-flight PUBLISH with DUP
    // and PUBREL for released ones [MQTT-4.4.0-1], then send queued messages.
    // Only as many PUBLISHes as the new window allows go out now; the others
    // follow, in order and before any queued message, as acknowledgements come.
    void resend_inflight();
    // Moves queued messages into the in-flight window while there is room.
    void pump();
    // What the client owes for an outgoing packet id: an acknowledgement of
    // another kind is a protocol error (connection::handle_ack).
    enum class awaiting : std::uint8_t { nothing, puback, pubrec, pubcomp };
    awaiting awaiting_for(std::uint16_t packet_id) const {
        const auto i = find_inflight(packet_id);
        if (i == inflight_.size()) return awaiting::nothing;
        const auto& d = inflight_[i];
        if (d.delivery.qos == 1) return awaiting::puback;
        return d.released ? awaiting::pubcomp : awaiting::pubrec;
    }
    // Acknowledgements from the client; false when the packet id is unknown.
    bool on_puback(std::uint16_t packet_id);
    bool on_pubrec(std::uint16_t packet_id, bool failed);
    bool on_pubcomp(std::uint16_t packet_id);

    std::size_t inflight_count() const { return inflight_.size(); }
    // In flight but waiting for room in the window to be resent (see parked).
    std::size_t parked_count() const { return parked_; }
    std::size_t queued_count() const { return queue_.size(); }
    // Payload bytes in flight (parked ones included) and queued.
    std::uint64_t inflight_bytes() const { return inflight_bytes_; }
    std::uint64_t queued_bytes() const { return queued_bytes_; }
    std::uint64_t dropped_count() const { return dropped_; }

    // ---- persistence ----
    // Which life of this client id the session is: its delivery records
    // carry it in the top bits of their sequence, so that a record an ended
    // session still had on its way to the store (another worker planning a
    // QoS 2 delivery to it) is never taken for one of a later session with
    // the same client id. Set once, when the session is made or restored.
    static constexpr int incarnation_shift = 40;
    void set_incarnation(std::uint32_t incarnation) {
        incarnation_ = incarnation & 0xFFFFFF;
        next_journal_seq_ = (std::uint64_t{incarnation_} << incarnation_shift) | 1;
    }
    std::uint32_t incarnation() const { return incarnation_; }
    static std::uint32_t incarnation_of(std::uint64_t journal_seq) {
        return static_cast<std::uint32_t>(journal_seq >> incarnation_shift);
    }
    void set_journal(session_journal* j) { journal_ = j; }
    bool journaled() const { return journal_ != nullptr; }
    // Restored from the store at start-up (offline, before any delivery).
    void restore_in_flight(pending_delivery d, std::uint16_t packet_id, bool released);
    void restore_queued(pending_delivery d);

    // ---- inbound QoS 2 (packet ids received, PUBREL pending) ----
    // With the store on, the message waits here until PUBREL (the spec's
    // "method A"), so that it reaches subscribers only once; without it, the
    // message was routed at PUBLISH and only the id is kept ("method B").
    bool inbound_pending(std::uint16_t packet_id) const {
        return inbound_qos2_ && inbound_qos2_->contains(packet_id);
    }
    void inbound_add(std::uint16_t packet_id, message_ref held = {}) {
        if (!inbound_qos2_) inbound_qos2_ = std::make_unique<inbound_map>();
        inbound_qos2_->emplace(packet_id, std::move(held));
    }
    // The held message of `packet_id` (null for method B or an unknown id).
    message_ref inbound_message(std::uint16_t packet_id) const {
        if (!inbound_qos2_) return {};
        auto it = inbound_qos2_->find(packet_id);
        return it == inbound_qos2_->end() ? message_ref{} : it->second;
    }
    bool inbound_release(std::uint16_t packet_id) { return inbound_qos2_ && inbound_qos2_->erase(packet_id) > 0; }
    std::size_t inbound_count() const { return inbound_qos2_ ? inbound_qos2_->size() : 0; }

    // ---- acknowledgements that wait for the store ----
    // They belong to the session and packet id, not to a connection: a client
    // that reconnects and resends before the commit gets its PUBACK, PUBREC
    // or PUBCOMP when the commit is done, over whichever connection it has then.
    void await_commit(commit_wait_kind kind, std::uint16_t packet_id);
    // Whether an acknowledgement of this kind for `packet_id` waits for the store.
    bool awaiting_commit(commit_wait_kind kind, std::uint16_t packet_id) const;
    // QoS 1 messages waiting (QoS 2 ones are counted by inbound_count()).
    std::size_t awaiting_pubacks() const { return awaiting_pubacks_; }
    // One copy's commit is done; the outcome (stored: every copy was) once
    // the last copy is, else nullopt. A QoS 1 message resent before its
    // commit is a new message under MQTT's rules, stored again: its one
    // PUBACK waits for both.
    struct commit_outcome {
        bool stored = false;          // every copy was
        bool no_subscribers = false;  // no copy matched a subscription (see no_subscribers_for)
    };
    std::optional<commit_outcome> commit_done(commit_wait_kind kind, std::uint16_t packet_id, bool stored);
    // The message awaiting this commit matched no subscription.
    void no_subscribers_for(commit_wait_kind kind, std::uint16_t packet_id);

    // ---- subscriptions (managed by the worker) ----
    using subscription_map =
        std::unordered_map<std::string, subscription, topic::transparent_string_hash, std::equal_to<>>;
    // Made on first use: many devices never subscribe, and an empty map
    // would cost every session 56 bytes.
    subscription_map& subscriptions() {
        if (!subscriptions_) {
            subscriptions_ = std::make_unique<subscription_map>();
            // libstdc++ gives a map 13 buckets at its first insert; most
            // sessions have one or two subscriptions (88 bytes less each).
            subscriptions_->reserve(1);
        }
        return *subscriptions_;
    }
    const subscription_map& subscriptions() const;
    bool has_subscriptions() const { return subscriptions_ && !subscriptions_->empty(); }

    // ---- moving to another worker (core/session_placement.hpp) ----
    // Nothing routes to it and nothing of it waits for anyone: no
    // subscription, no message in flight, queued or held, no acknowledgement
    // waiting for the store. Such a session moves with its connection
    // without anything in transit to it.
    bool movable() const;
    // Its new worker's delivery limits (same configuration, that worker's counters).
    void use_limits(const delivery_limits& limits) { limits_ = &limits; }

    // Username of the last connection and the listener it came through
    // (below), for ACL and plugin checks of deliveries while the client is
    // away; kept in the store.
    std::string username;
    // The ACL file's rules for this client, resolved from `acl_source` (the
    // file in force when they were made; a reload replaces it). See worker::acl_of.
    std::shared_ptr<const auth::acl_file> acl_source;
    std::unique_ptr<auth::client_acl> acl;

    // ---- will and expiry (managed by the worker) ----
    mutable_message_ref will;
    std::uint32_t will_delay = 0;
    std::uint32_t expiry_interval = 0;  // seconds; 0xFFFFFFFF = never
    time_point will_at{};               // while offline: when the delayed will is due
    time_point expire_at{};             // while offline: when the session ends (max() = never)
    std::uint64_t timer_generation = 0; // bumped on attach/detach: invalidates scheduled timers

    // ---- fan-out bookkeeping (routing scratch, see worker) ----
    std::uint64_t match_stamp = 0;
    std::uint32_t match_index = 0;

    // (The small fields sit together, which keeps the session 16 bytes smaller.)
    // MQTT level of the last connection (3, 4 or 5), kept in the store.
    std::uint8_t protocol_version = 4;
    bool has_username = false;
    std::uint16_t listener = 0;
    // Where this client's messages went, for core/session_placement.hpp: the
    // one other worker its last `placement_streak` messages all went to.
    std::uint8_t placement_target = 0;
    std::uint8_t placement_streak = 0;

private:
    std::uint32_t window() const;
    // Whether one more message may go in flight: fewer than window() and,
    // with max_inflight_bytes, fewer bytes than that (parked ones do not count).
    bool window_has_room(std::size_t active, std::uint64_t active_bytes) const;
    bool window_has_room() const { return window_has_room(inflight_.size() - parked_, inflight_bytes_ - parked_bytes_); }
    // Every change to inflight_ and queue_ goes through these, which keep the byte counts.
    void push_inflight(inflight_delivery d);
    void erase_inflight(std::size_t index);
    void set_parked(inflight_delivery& d, bool parked);
    void push_queued(pending_delivery d);
    pending_delivery pop_queued();
    bool send_inflight(inflight_delivery& d, bool dup);
    bool start_inflight(inflight_delivery& d);
    bool resend_parked();
    std::uint64_t journal_seq_for(const message& m, std::uint64_t planned);
    void enqueue(const message_ref& m, std::uint8_t qos, bool retain, std::span<const std::uint32_t> ids,
                 std::uint64_t journal_seq, shared_group_key group);
    void complete(std::size_t index);
    std::size_t find_inflight(std::uint16_t packet_id) const;
    void journal(const pending_delivery& d, session_journal::state st, std::uint16_t packet_id);
    void unjournal(const pending_delivery& d);

    std::string client_id_;
    std::uint64_t id_;
    const delivery_limits* limits_;  // its worker's
    delivery_sink* sink_ = nullptr;
    std::shared_ptr<session_presence> presence_;
    std::unique_ptr<subscription_map> subscriptions_;
    ring_buffer<inflight_delivery> inflight_;  // in send order
    std::uint32_t parked_ = 0;       // entries of inflight_ with `parked` set
    std::uint32_t parked_from_ = 0;  // no parked entry sits before this index
    std::uint64_t inflight_bytes_ = 0;  // payload bytes of inflight_
    std::uint64_t parked_bytes_ = 0;    // of its parked entries
    ring_buffer<pending_delivery> queue_;
    std::uint64_t queued_bytes_ = 0;    // payload bytes of queue_
    packet_id_pool packet_ids_;
    // The two maps below are made on first use and kept: most sessions never
    // receive QoS 2 or wait for the store, and an empty map still costs 56
    // bytes in every session (idle connections are budgeted in bytes).
    using inbound_map = std::unordered_map<std::uint16_t, message_ref>;
    std::unique_ptr<inbound_map> inbound_qos2_;
    struct commit_wait {
        std::uint16_t copies = 0;     // still waiting
        std::uint16_t received = 0;   // all told
        std::uint16_t unmatched = 0;  // of those, matching no subscription
        bool refused = false;
    };
    // Keyed by kind and packet id: (kind << 16) | packet id.
    std::unique_ptr<std::unordered_map<std::uint32_t, commit_wait>> awaiting_commit_;
    std::uint64_t dropped_ = 0;
    session_journal* journal_ = nullptr;
    std::uint64_t next_journal_seq_ = 1;
    std::uint32_t awaiting_pubacks_ = 0;  // at most 65,535 packet ids wait
    std::uint32_t incarnation_ = 0;
};

}  // namespace strata
