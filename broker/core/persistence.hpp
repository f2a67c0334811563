// What a worker asks of the durable store (storage/, when `storage rocksdb`
// is configured). One object per worker, used only on that worker's thread:
// writes collect in the current write set, which goes to the store's writer
// thread at the end of the event-loop turn (flush()); nothing here waits for
// the disk. Work that must follow a commit (acknowledgements that promise
// durability) is handed back to the worker as a completion.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "session/message.hpp"
#include "session/session.hpp"

namespace strata::core {

// What the store asks of the worker it serves, and no more: storage/ sees
// this, not the worker (docs/architecture.md, "Layers").
class persistence_owner {
public:
    virtual ~persistence_owner() = default;
    // The worker's index: a message's sequence number carries it, so two
    // workers never make the same key.
    virtual std::uint32_t worker_index() const = 0;
    // The current write set has something: flush it at the end of this turn.
    virtual void request_flush() = 0;
    // The session with this id, if it still lives on this worker (a
    // completion may find it gone, or taken over by a new connection).
    virtual session* find_session(std::uint64_t id) = 0;
};

class persistence : public session_journal {
public:
    ~persistence() override = default;

    // False while the store cannot write (disk full, I/O error).
    virtual bool writable() const = 0;
    // True while the writer has more waiting than it may (a stalled disk):
    // clients are not read until it catches up (worker::intake_paused).
    virtual bool backlogged() const = 0;
    // True when QoS 1/2 acknowledgements wait for the commit (durability wal or fsync).
    virtual bool durable_acks() const = 0;

    // A message accepted from a client, or a will: records where it is stored.
    // With `ack`, the acknowledgement waits for every worker's part of the
    // message (the message and the delivery records of their sessions) to be
    // committed, and `ack(true)` runs on this worker then (false on failure).
    virtual void store_message(message& m, std::string_view client_id, std::function<void(bool)> ack) = 0;
    // This worker has routed `m`: its delivery records are in the current set.
    virtual void routed(const message& m) = 0;
    // A retained message set or cleared (called once, by the publishing worker).
    virtual void retained(const message& m) = 0;

    // Persistent sessions: the session record (subscriptions, expiry) and
    // inbound QoS 2 packet ids awaiting PUBREL.
    virtual void save_session(const session& s, std::uint8_t protocol_version, std::uint64_t disconnected_us) = 0;
    virtual void remove_session(const session& s) = 0;
    // `held`: the QoS 2 message kept until PUBREL (its key is recorded, so a
    // restart still has it), or null.
    virtual void save_inbound(const session& s, std::uint16_t packet_id, const message* held) = 0;
    virtual void remove_inbound(const session& s, std::uint16_t packet_id) = 0;

    // Delivery records written ahead of a QoS 2 delivery: every worker encodes
    // the records of its sessions, and the publisher's worker writes them all
    // in one set, so that a crash leaves either all of them or none.
    using encoded_record = std::pair<std::string, std::string>;
    virtual encoded_record encode_planned(const session& s, const pending_delivery& d) = 0;
    // `m` is the message the records refer to: without history, its record
    // goes into the same set when no record has written it yet.
    virtual void write_planned(const message& m, const std::vector<encoded_record>& records) = 0;
    // A planned record whose session ended before the plan was committed:
    // it goes (the session's own removal came before it reached the store).
    virtual void remove_record(const std::string& key) = 0;

    // Runs `fn` on this worker once everything written so far is committed.
    // When the store has failed, the writer keeps these records (session
    // bookkeeping) for when it resumes, in order, and `fn` runs then already:
    // the broker goes on as the store will have it.
    virtual void after_commit(std::function<void(bool committed)> fn) = 0;
    // The same for work that promises the messages stored so far in this
    // turn (a PUBREC): `stored` is also false when the store refused them,
    // its disk being short of space.
    virtual void after_stored(std::function<void(bool stored)> fn) = 0;
    // Hands the current write set to the store.
    virtual void flush() = 0;
};

}  // namespace strata::core
