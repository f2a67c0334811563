// An application message as the broker routes it: created once when a PUBLISH
// (or a will) is accepted, immutable once shared, and reference-counted so
// that every subscriber, queue and worker thread shares one copy of the topic,
// payload and forwarded properties. Topic, properties and payload live in the
// same allocation as the header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include <boost/intrusive_ptr.hpp>

#include "codec/packets.hpp"

namespace strata {

// Tracks the commit of one message when its publisher's acknowledgement
// waits for the store: every worker that routed the message (and any worker
// that received a shared-subscription copy) commits its part; `done` runs on
// the publisher's worker when the last part is committed.
struct commit_token {
    std::atomic<int> remaining{0};
    std::atomic<bool> failed{false};
    std::uint32_t worker = 0;
    std::function<void(bool committed)> done;
};

class message;

// Told when a message the store keeps only while sessions need it is gone from
// memory (persistence without history): no queue, in-flight window or held
// QoS 2 packet refers to it any more, so its record may go. Called on
// whichever thread drops the last reference.
class message_release {
public:
    virtual void released(std::uint64_t topic_id, std::uint64_t ts_us, std::uint32_t seq) = 0;

protected:
    ~message_release() = default;
};

using steady_clock = std::chrono::steady_clock;
using time_point = steady_clock::time_point;

// Who published a message, as the ACLs know a client: kept with retained
// messages so that `check_retain_source` can ask, when the message is sent to
// a new subscriber, whether its publisher may still write to its topic.
struct message_source {
    std::string_view client_id;
    std::string_view username;
    bool has_username = false;
    std::uint16_t listener = 0;  // index of the listener the publisher connected through
};

class message {
public:
    struct init {
        std::string_view topic;
        std::span<const std::uint8_t> payload;
        std::span<const std::uint8_t> forwarded_properties;  // encoded v5 properties (no length prefix)
        std::uint8_t qos = 0;
        bool retain = false;
        std::uint64_t origin_session = 0;  // for No Local; 0 = broker-internal
        std::uint32_t expiry_interval = 0; // seconds; 0 = never expires
        bool has_expiry = false;
        // Kept in the message's own allocation when set (retained messages
        // and retained wills, whatever check_retain_source says, so that
        // turning it on by SIGHUP covers them); nothing is kept otherwise.
        const message_source* source = nullptr;
    };

    // Allocates the message with its data in one block; refcount starts at 0.
    static message* create(const init& in);

    std::string_view topic() const { return {data_, topic_size_}; }
    std::span<const std::uint8_t> forwarded_properties() const {
        return {reinterpret_cast<const std::uint8_t*>(data_) + topic_size_, properties_size_};
    }
    std::span<const std::uint8_t> payload() const {
        return {reinterpret_cast<const std::uint8_t*>(data_) + topic_size_ + properties_size_, payload_size_};
    }
    std::uint8_t qos() const { return qos_; }
    bool retain() const { return retain_; }
    std::uint64_t origin_session() const { return origin_session_; }
    // The publisher, when init::source was set.
    bool has_source() const { return has_source_; }
    message_source source() const {
        const char* at = data_ + topic_size_ + properties_size_ + payload_size_;
        return {{at, source_id_size_}, {at + source_id_size_, source_name_size_}, source_has_username_, source_listener_};
    }

    // Time the broker accepted the message; set again when a will is published.
    time_point received_at() const { return received_at_; }
    void set_received_at(time_point t) { received_at_ = t; }

    bool has_expiry() const { return has_expiry_; }
    std::uint32_t expiry_interval() const { return expiry_interval_; }
    bool expired(time_point now) const { return has_expiry_ && now >= received_at_ + std::chrono::seconds(expiry_interval_); }
    // Seconds left, rounded up so that a message is never forwarded with 0 [MQTT-3.3.2-6].
    std::uint32_t remaining_expiry(time_point now) const;

    // Global order of retained messages (the newest wins in the retained store).
    std::uint64_t retain_order() const { return retain_order_; }
    void set_retain_order(std::uint64_t o) { retain_order_ = o; }

    // Where the store keeps this message (set before the message is shared);
    // store_topic_id 0 = not stored.
    struct store_location {
        std::uint64_t topic_id = 0;
        std::uint64_t ts_us = 0;
        std::uint32_t seq = 0;
    };
    const store_location& stored_at() const { return stored_at_; }
    void set_stored_at(const store_location& l) { stored_at_ = l; }
    // Persistence without history: the record is written by the first
    // session record that refers to the message (claim_record() says which),
    // and `release` hears when the message is gone. Set before it is shared.
    void keep_on_demand(message_release* release) {
        release_ = release;
        record_.store(record_state::on_demand, std::memory_order_relaxed);
    }
    // True exactly once, for the caller that writes the record; false when
    // it is written already, or the message is not kept on demand.
    bool claim_record() const {
        auto expected = record_state::on_demand;
        return record_.load(std::memory_order_relaxed) == record_state::on_demand &&
               record_.compare_exchange_strong(expected, record_state::written, std::memory_order_acq_rel);
    }
    // A message restored from the store: its record exists.
    void kept_by(message_release* release) {
        release_ = release;
        record_.store(record_state::written, std::memory_order_relaxed);
    }
    // Set when the publisher's acknowledgement waits for every worker's commit.
    const std::shared_ptr<commit_token>& commit() const { return commit_; }
    void set_commit(std::shared_ptr<commit_token> t) { commit_ = std::move(t); }

    friend void intrusive_ptr_add_ref(const message* m) { m->refs_.fetch_add(1, std::memory_order_relaxed); }
    friend void intrusive_ptr_release(const message* m) {
        if (m->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(m);
    }

private:
    message() = default;
    static void destroy(const message* m);

    mutable std::atomic<std::uint32_t> refs_{0};
    std::uint32_t topic_size_ = 0;
    std::uint32_t properties_size_ = 0;
    std::uint32_t payload_size_ = 0;
    std::uint32_t expiry_interval_ = 0;
    enum class record_state : std::uint8_t { not_kept, on_demand, written };

    std::uint8_t qos_ = 0;
    bool retain_ = false;
    bool has_expiry_ = false;
    mutable std::atomic<record_state> record_{record_state::not_kept};
    // The source's strings follow the payload in data_.
    std::uint16_t source_id_size_ = 0;
    std::uint16_t source_name_size_ = 0;
    std::uint16_t source_listener_ = 0;
    bool has_source_ = false;
    bool source_has_username_ = false;
    message_release* release_ = nullptr;
    std::uint64_t origin_session_ = 0;
    std::uint64_t retain_order_ = 0;
    store_location stored_at_;
    std::shared_ptr<commit_token> commit_;
    time_point received_at_{};
    char data_[1];  // topic, properties, payload and the source's strings follow (flexible tail)
};

using message_ref = boost::intrusive_ptr<const message>;
using mutable_message_ref = boost::intrusive_ptr<message>;

// Encodes the properties of an incoming PUBLISH or will that are forwarded
// unchanged to subscribers (section 3.3.2.3): payload format indicator,
// content type, response topic, correlation data and user properties, in
// that order, user properties in their original order [MQTT-3.3.2-17].
void encode_forwarded_properties(const codec::properties& in, codec::byte_buffer& out);

}  // namespace strata
