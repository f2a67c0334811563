// The client role of the MQTT protocol layer, free of I/O like the server
// role (protocol::connection): bytes, timer ticks and the application's
// requests go in; packet bytes (output()) and events (client_handler) come
// out. It speaks MQTT 3.1, 3.1.1 and 5.0 and shares the codec and the
// framing (packet_framer) with the server role. Bridges are its first user.
//
// One object is one client session, across network connections: start()
// begins each connection with CONNECT, on_transport_closed() ends it, and
// what was in flight is sent again (DUP) after the next CONNACK. The caller
// owns the socket, the clock and the queue of messages waiting for room in
// the in-flight window.
//
// Behaviour a bridge peer expects (Mosquitto's bridge tests look at it):
// - the protocol level carries the bridge bit (0x80) when `bridge` is set
//   (MQTT 3.1 and 3.1.1; Mosquitto refuses it with MQTT 5);
// - acknowledgements for packet ids it does not know are ignored, not an error;
// - after a reconnect that resumes the session, unacknowledged PUBLISH go out
//   again with DUP set, and PUBREL for QoS 2 messages the server has received;
// - when the server has no session for us (session present 0, e.g. it was
//   restarted), every QoS 1/2 message not yet done is sent again as a new
//   PUBLISH, so that nothing is lost: at least once, also for QoS 2. The
//   inbound QoS 2 state of the old session is dropped then.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "codec/packets.hpp"
#include "protocol/packet_framer.hpp"
#include "session/packet_id_pool.hpp"

namespace strata::protocol {

using client_clock = std::chrono::steady_clock;

// What MQTT's encoding can carry.
namespace client_limits {
constexpr std::size_t max_string = 65535;             // a two-byte length prefix
constexpr std::uint32_t max_variable_int = 268435455;  // four bytes of Variable Byte Integer
// A topic we may publish on: not empty, not too long, no wildcards.
inline bool valid_topic(std::string_view t) {
    return !t.empty() && t.size() <= max_string && t.find_first_of("+#") == std::string_view::npos;
}
}  // namespace client_limits

struct client_will {
    std::string topic;
    std::string payload;
    std::uint8_t qos = 0;
    bool retain = false;
};

struct client_options {
    codec::protocol_version version = codec::protocol_version::v311;
    // The bridge bit in the protocol level (Mosquitto's try_private), MQTT
    // 3.1 and 3.1.1 only: Mosquitto then treats us as a bridge (it does not
    // send our own messages back to us).
    bool bridge = false;
    std::string client_id;
    bool clean_start = true;
    std::uint16_t keep_alive = 60;        // seconds; 0 = no PINGREQ
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<client_will> will;
    // MQTT 5 only.
    std::uint32_t session_expiry = 0;     // seconds
    std::uint16_t receive_maximum = 65535;  // QoS 1/2 messages the server may have in flight to us
    std::uint32_t maximum_packet_size = 0;  // largest packet we take (sent in MQTT 5); 0 = no limit
    std::uint16_t topic_alias_maximum = 0;  // aliases the server may use towards us
    // When set, inbound QoS 1/2 messages are acknowledged only by acknowledge()
    // (after the application has stored them); else as soon as they are handed over.
    bool manual_acks = false;
};

// Why `o` cannot be sent as it is (a string longer than MQTT can carry, a
// password without a username before MQTT 5, a Receive Maximum of 0, will
// QoS 3); nullopt when it can. A client with such options refuses to start.
std::optional<std::string> problem_with(const client_options& o);

// What the server said in CONNACK, with MQTT 5 limits (defaults when absent).
struct connack_info {
    bool session_present = false;
    std::uint8_t reason = 0;  // 0 = accepted; else the v5 reason code or v3 return code
    std::string assigned_client_id;
    std::string reason_string;
    std::uint16_t receive_maximum = 65535;
    std::uint8_t maximum_qos = 2;
    bool retain_available = true;
    std::uint32_t maximum_packet_size = 0;  // 0 = no limit
    std::optional<std::uint16_t> server_keep_alive;
    bool subscription_identifiers_available = true;
};

// Events of one client. Views in the arguments are valid during the call only.
class client_handler {
public:
    virtual ~client_handler() = default;
    // CONNACK arrived. With a non-zero reason the connection is closing.
    virtual void on_connack(const connack_info& info) = 0;
    // A PUBLISH from the server. QoS 2 messages are handed over once, however
    // often the server sends them before its PUBREL. With manual_acks, pass
    // `ack_token` to acknowledge() once the message is taken care of (a
    // token of an earlier session is ignored).
    virtual void on_message(const codec::publish_packet& p, std::uint64_t ack_token) = 0;
    // A QoS 1 or 2 message of ours is done: acknowledged (reason < 0x80) or
    // refused by the server. `token` is the one given to publish().
    virtual void on_published(std::uint64_t token, codec::reason_code reason) = 0;
    // SUBACK or UNSUBACK: one reason per filter (empty for a 3.1.1 UNSUBACK).
    virtual void on_subscribe_ack(codec::packet_type type, std::uint16_t packet_id,
                                  std::span<const std::uint8_t> reasons) = 0;
    // The connection is closing: the server's DISCONNECT, a protocol error of
    // the server's, a keep-alive timeout, or our own disconnect(). The caller
    // writes out output() and closes the socket. Every handler may call back
    // into the client, on_transport_closed() and start() included.
    virtual void on_closing(codec::reason_code reason, std::string_view why) = 0;
};

class client_connection {
public:
    enum class state { idle, connecting, connected, closing };
    // invalid: a topic that is empty, has wildcards or is longer than 65,535 bytes.
    enum class publish_result { sent, not_connected, window_full, too_large, invalid };

    client_connection(client_options options, client_handler& handler);

    // ---- transport side ----
    // A new network connection: queues CONNECT.
    void start(client_clock::time_point now);
    void on_input(std::span<const std::uint8_t> bytes, client_clock::time_point now);
    // The socket is gone; what is in flight stays for the next start().
    void on_transport_closed();
    // Keep alive: PINGREQ when nothing was sent for keep_alive seconds, and
    // closing when the server has not answered one for keep_alive seconds, or
    // sent no CONNACK in that time. Call it about once a second: a send is
    // dated by the tick after it.
    void tick(client_clock::time_point now);
    bool has_output() const { return !out_.empty(); }
    // The bytes to write, in order; the caller swaps in an empty buffer.
    codec::byte_buffer take_output() { return std::exchange(out_, {}); }

    // ---- application side ----
    // QoS is lowered to the server's Maximum QoS, and retain dropped where
    // the server has none (MQTT 5); subscription identifiers and a topic
    // alias in `p` are not sent. At QoS 0 the token is ignored.
    publish_result publish(const codec::publish_packet& p, std::uint64_t token);
    // Returns the packet id, or 0 when not connected, out of ids, or a filter
    // or the identifier cannot be encoded.
    std::uint16_t subscribe(std::span<const codec::subscription_request> filters, std::uint32_t subscription_id = 0);
    std::uint16_t unsubscribe(std::span<const std::string_view> filters);
    // With manual_acks: the message of this token (on_message) has been taken care of.
    void acknowledge(std::uint64_t ack_token);
    // Normal disconnect (DISCONNECT with `reason`; 0x04 keeps the will in MQTT 5).
    void disconnect(codec::reason_code reason = codec::reason_code::success);

    state current_state() const { return state_; }
    const connack_info& server() const { return server_; }
    codec::protocol_version version() const { return options_.version; }
    // QoS 1/2 messages of ours not yet done, and whether one more fits.
    std::size_t in_flight() const { return outgoing_.size(); }
    bool window_open() const;

private:
    // One QoS 1/2 PUBLISH of ours, kept encoded to be sent again after a reconnect.
    struct outgoing {
        std::uint16_t packet_id = 0;
        std::uint8_t qos = 1;
        bool released = false;  // QoS 2: PUBREC received, PUBREL sent
        bool on_wire = false;   // sent on this network connection (false: waits for room in the window)
        std::uint64_t token = 0;
        codec::byte_buffer packet;
    };

    void handle_packet(const codec::fixed_header& h, codec::bytes_view body);
    void handle_connack(codec::bytes_view body);
    void handle_publish(std::uint8_t flags, codec::bytes_view body);
    void handle_ack(codec::packet_type type, codec::bytes_view body);
    void handle_subscribe_ack(codec::packet_type type, codec::bytes_view body);
    void handle_disconnect(codec::bytes_view body);
    bool resolve_topic_alias(codec::publish_packet& p);
    // Sends what is not on this network connection yet, within the window.
    void send_waiting();
    void send_outgoing(outgoing& o);
    // Why the server of this connection cannot take `o` as it was encoded
    // (its limits may differ from the last one's); success when it can.
    codec::reason_code unfit_for_server(const outgoing& o) const;
    void send_ack(codec::packet_type type, std::uint16_t packet_id,
                  codec::reason_code reason = codec::reason_code::success);
    std::deque<outgoing>::iterator find_outgoing(std::uint16_t packet_id);
    // Ends `it` and tells the handler (which may call back in: no iterator
    // into outgoing_ survives this call).
    void finish_outgoing(std::deque<outgoing>::iterator it, codec::reason_code reason);
    // The server has no session for us: what was in flight starts over.
    void session_lost();
    void acknowledge(std::uint8_t qos, std::uint16_t packet_id);
    // Closes because the server broke the protocol (DISCONNECT with the reason in MQTT 5).
    void server_violation(codec::reason_code reason, std::string_view what);
    void begin_close(codec::reason_code reason, std::string_view why);
    bool v5() const { return options_.version == codec::protocol_version::v5; }
    // An acknowledgement token: the session, the QoS and the packet id.
    static std::uint64_t make_token(std::uint32_t epoch, std::uint8_t qos, std::uint16_t packet_id) {
        return (std::uint64_t{epoch} << 24) | (std::uint64_t{qos} << 16) | packet_id;
    }
    // Output goes through here, so that tick() knows something was sent.
    codec::byte_buffer& queue() {
        sent_since_tick_ = true;
        return out_;
    }
    std::chrono::seconds keep_alive() const;

    client_options options_;
    client_handler& handler_;
    state state_ = state::idle;
    connack_info server_;
    packet_framer input_;
    codec::byte_buffer out_;
    packet_id_pool ids_;
    std::deque<outgoing> outgoing_;  // in the order sent; a window of at most Receive Maximum
    // QoS 1/2 messages from the server that it counts against our Receive
    // Maximum: QoS 1 until PUBACK, QoS 2 until PUBCOMP.
    enum class inbound_state : std::uint8_t {
        qos1_unacknowledged,  // manual_acks: waiting for acknowledge()
        qos2_unacknowledged,  // handed over; PUBREC waits for acknowledge()
        qos2_received,        // PUBREC sent; waiting for PUBREL
    };
    std::unordered_map<std::uint16_t, inbound_state> inbound_;
    struct pending_request {
        std::uint16_t packet_id = 0;
        codec::packet_type ack = codec::packet_type::suback;  // the acknowledgement it waits for
        std::size_t filters = 0;
    };
    std::vector<pending_request> pending_requests_;  // SUBSCRIBE / UNSUBSCRIBE awaiting their ack
    std::vector<std::string> inbound_aliases_;          // index = topic alias the server set
    client_clock::time_point started_at_{};
    client_clock::time_point last_sent_{};
    std::optional<client_clock::time_point> ping_sent_;
    bool sent_since_tick_ = false;
    std::optional<std::string> options_problem_;
    // Changes with each network connection: a handler that called
    // on_transport_closed() or start() ends the reading of the old input.
    std::uint64_t transport_generation_ = 0;
    // Changes with each new session: acknowledgement tokens of older ones are void.
    std::uint32_t session_epoch_ = 0;
};

}  // namespace strata::protocol
