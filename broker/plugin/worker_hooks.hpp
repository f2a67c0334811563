// The plugin callbacks as one worker calls them: the worker's copy of the
// registration table, the event structs and scratch it reuses, and one
// function per hook point of the broker. Used only on the worker's thread, so
// nothing here takes a lock. Each hook point first tests whether the event has
// any callback (an empty() test on the table): with no plugin the broker does
// no other work and allocates nothing.
//
// Connection-level events that may be deferred (auth_basic, auth_extended,
// connect) are driven by the connection itself (protocol/auth_handler.cpp);
// this class has the rest.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec/packets.hpp"
#include "plugin/table.hpp"
#include "session/message.hpp"
#include "session/session.hpp"
#include "topic/topic_name.hpp"

namespace strata {
class logger;
}

namespace strata::plugin {

// A message_in rewrite: the event's views start on the received PUBLISH, and
// what a plugin changes through host->message_set_*() is copied here (copy on
// write, field by field); the views then point at the copies, so the next
// plugin sees the rewritten message.
class message_draft {
public:
    void start(strata_event_message& ev, const codec::properties& received);
    bool modified() const { return topic_set_ || payload_set_ || properties_set_; }
    // Puts what the plugins changed into `in` (forwarded properties re-encoded
    // into `forwarded`, which `in` then points at).
    void apply(message::init& in, codec::byte_buffer& forwarded) const;

    // host->message_set_*() (STRATA_OK or STRATA_ERROR).
    int set_topic(std::string_view topic);
    int set_payload(std::span<const std::uint8_t> payload);
    int add_user_property(std::string_view key, std::string_view value);
    int clear_user_properties();
    int set_string_property(int property, const strata_str* value);

private:
    void own_properties();
    void point_event_at_properties();

    strata_event_message* ev_ = nullptr;
    const codec::properties* received_ = nullptr;
    std::string topic_;
    bool topic_set_ = false;
    std::vector<std::uint8_t> payload_;
    bool payload_set_ = false;
    bool properties_set_ = false;
    std::optional<std::string> content_type_;
    std::optional<std::string> response_topic_;
    std::optional<std::string> correlation_data_;
    std::vector<std::pair<std::string, std::string>> user_properties_;
    std::vector<strata_user_property> user_property_views_;
};

// The event struct of message_in, with the draft the setters write to. The C
// struct comes first, so the pointer a plugin passes back converts to this.
struct message_in_event {
    strata_event_message c;
    message_draft* draft;
};

class worker_hooks {
public:
    worker_hooks(std::uint32_t worker, logger& log);

    // Installs a newer table (on the worker's thread; an older one is ignored).
    void set_table(std::shared_ptr<const table> t);
    const std::shared_ptr<const table>& snapshot() const { return table_; }
    bool wants(int event) const { return table_->wants(event); }
    std::uint32_t worker() const { return worker_; }
    logger& log() { return log_; }

    // ---- the tests hook points make before doing any work ----
    bool inspects_publish() const { return wants(STRATA_EVENT_ACL) || wants(STRATA_EVENT_MESSAGE_IN); }
    bool inspects_delivery() const { return wants(STRATA_EVENT_ACL) || wants(STRATA_EVENT_MESSAGE_OUT); }
    bool inspects_subscribe() const { return wants(STRATA_EVENT_ACL) || wants(STRATA_EVENT_SUBSCRIBE); }
    bool inspects_unsubscribe() const { return wants(STRATA_EVENT_ACL) || wants(STRATA_EVENT_UNSUBSCRIBE); }

    // acl: success, or the reason to refuse with (reason string, if a plugin
    // gave one, in `reason_string` when it is not null).
    codec::reason_code acl(const client_view& c, std::uint32_t access, std::string_view topic, std::string_view group,
                           std::uint8_t qos, bool retain, std::span<const std::uint8_t> payload,
                           std::string* reason_string = nullptr);

    // A PUBLISH from a client to (mounted) `topic`: acl write, then message_in.
    // Returns success or the refusal; on success `rewritten` is the draft when
    // a plugin changed the message, else null.
    codec::reason_code check_publish(const client_view& c, std::string_view topic, const codec::publish_packet& p,
                                     const message_draft*& rewritten, std::string& reason_string);

    // Delivery of one message to subscribers: prepare_delivery(m) once, then
    // allow_delivery() per subscriber (acl read, then message_out).
    void prepare_delivery(const message& m);
    bool allow_delivery(const session& subscriber, std::uint8_t qos, bool retain);

    // One SUBSCRIBE filter (acl subscribe, then subscribe, which may lower
    // o.qos) / one UNSUBSCRIBE filter (acl unsubscribe, then unsubscribe).
    // Plugins see the filter without $share/GROUP/, behind the listener's mount point.
    codec::reason_code check_subscribe(const client_view& c, std::string_view mount_point,
                                       const topic::subscription_filter& f, subscription_options& o,
                                       std::uint32_t identifier);
    codec::reason_code check_unsubscribe(const client_view& c, std::string_view mount_point,
                                         const topic::subscription_filter& f);

    void disconnected(const client_view& c, bool accepted, bool client_initiated, std::uint8_t reason);

    // From the worker's 250 ms tick: the tick event at most once a second.
    void tick(time_point now) {
        if (wants(STRATA_EVENT_TICK)) run_tick(now);
    }

    // Logs a result an event does not accept (it counts as STRATA_ERROR).
    void log_bad_result(const registration& r, int event, int result);

private:
    void run_tick(time_point now);

    std::uint32_t worker_;
    logger& log_;
    std::shared_ptr<const table> table_;
    time_point last_tick_{};

    // Reused for every call (no allocation once warm).
    message_draft draft_;
    message_in_event message_in_{};
    std::vector<strata_user_property> user_property_views_;
    strata_event_message delivery_{};  // message_out, prepared once per message
    const message* delivery_message_ = nullptr;
    codec::byte_buffer delivery_property_bytes_;
    codec::properties delivery_properties_;
    std::vector<strata_user_property> delivery_property_views_;
};

// Builds the event view of a session (its connection's when it is online).
client_view view_of(const session& s);

// The reason code a plugin gave for a refusal, or the event's default (a
// refusal needs a code of 0x80 or above).
inline codec::reason_code refusal(std::uint8_t given, codec::reason_code fallback) {
    return given >= 0x80 ? static_cast<codec::reason_code>(given) : fallback;
}

}  // namespace strata::plugin
