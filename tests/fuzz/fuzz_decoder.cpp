// libFuzzer target over the packet decoders and the connection state machine.
//
// Input layout: byte 0 picks a protocol version for the stand-alone decoders
// and how the stream is split into reads (and, with its top bit, whether a
// slow consumer is disconnected rather than dropped); the rest is fed (a) to every
// decoder directly and (b) as a byte stream to a real protocol::connection on
// a real worker, prefixed with a valid CONNECT so that the fuzzer reaches the
// states after CONNECT as well as the CONNECT parser itself, and (c) as the
// server's side of the stream to a protocol::client_connection (the client
// role), after a CONNACK, with a message of its own in flight.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "codec/packets.hpp"
#include "config/broker_config.hpp"
#include "core/broker.hpp"
#include "core/logger.hpp"
#include "protocol/client_connection.hpp"
#include "protocol/connection.hpp"

namespace {

using namespace strata;

// The transport end of the harness: keeps what the connection writes, so
// that the output path (encoders, gather list) runs too.
class capture_transport final : public protocol::transport {
public:
    void output_ready() override { ready = true; }
    bool ready = false;
};

struct harness {
    harness() {
        auto cfg = std::make_shared<config::broker_config>();
        cfg->threads = 1;
        cfg->allow_anonymous = true;
        cfg->log.types = 0;  // quiet
        cfg->max_topic_alias = 4;
        cfg->max_inflight_messages = 3;
        cfg->max_inflight_bytes = 64;
        cfg->max_queued_messages = 8;
        cfg->max_queued_bytes = 256;
        // Small enough that a few messages delivered back within one read
        // reach it, so that the slow-consumer paths run too.
        cfg->max_client_output_bytes = 512;
        drop = cfg;
        auto d = std::make_shared<config::broker_config>(*cfg);
        d->slow_client = config::slow_client_action::disconnect;
        disconnect = d;
        log = std::make_unique<logger>(cfg->log);
    }
    std::shared_ptr<const config::broker_config> drop;
    std::shared_ptr<const config::broker_config> disconnect;
    std::unique_ptr<logger> log;
};

void decode_all(codec::bytes_view body, std::uint8_t flags, codec::protocol_version v) {
    codec::connect_packet connect;
    codec::decode_connect(body, connect);
    codec::connack_packet connack;
    codec::decode_connack(body, v, connack);
    codec::publish_packet publish;
    if (codec::decode_publish(body, flags & 0x0F, v, publish) == codec::reason_code::success) {
        codec::byte_buffer out;
        codec::encode_publish(out, v, publish);
    }
    codec::ack_packet ack;
    codec::decode_ack(body, codec::packet_type::pubrec, v, ack);
    codec::subscribe_packet subscribe;
    if (codec::decode_subscribe(body, v, subscribe) == codec::reason_code::success) {
        codec::byte_buffer out;
        codec::encode_subscribe(out, v, subscribe);
    }
    codec::subscribe_ack_packet suback;
    codec::decode_subscribe_ack(body, codec::packet_type::suback, v, suback);
    codec::unsubscribe_packet unsubscribe;
    codec::decode_unsubscribe(body, v, unsubscribe);
    codec::disconnect_packet disconnect;
    codec::decode_disconnect(body, v, disconnect);
    codec::auth_packet auth;
    codec::decode_auth(body, auth);
}

std::vector<std::uint8_t> connect_prefix(codec::protocol_version v) {
    codec::connect_packet c;
    c.version = v;
    c.clean_start = true;
    c.keep_alive = 60;
    c.client_id = "fuzz";
    c.props.topic_alias_maximum = 5;
    codec::byte_buffer out;
    codec::encode_connect(out, c);
    // A subscription, so that published messages are delivered back.
    codec::subscribe_packet s;
    s.packet_id = 1;
    s.subscriptions.push_back({"#", 2, false, false, 0});
    codec::encode_subscribe(out, v, s);
    return out;
}

// The client role's events: it acknowledges what it gets by hand now and
// then and publishes back, so that those paths run too.
struct client_events final : protocol::client_handler {
    void on_connack(const protocol::connack_info&) override {}
    void on_message(const codec::publish_packet& p, std::uint64_t token) override {
        if (!client || p.qos == 0) return;
        client->acknowledge(token);
        codec::publish_packet back;
        back.topic = "echo";
        back.qos = p.qos;
        client->publish(back, p.packet_id);
    }
    void on_published(std::uint64_t, codec::reason_code) override {}
    void on_subscribe_ack(codec::packet_type, std::uint16_t, std::span<const std::uint8_t>) override {}
    void on_closing(codec::reason_code, std::string_view) override {}
    protocol::client_connection* client = nullptr;
};

void run_client_role(std::span<const std::uint8_t> input, std::uint8_t mode, codec::protocol_version version) {
    protocol::client_options o;
    o.version = version;
    o.client_id = "fuzz";
    o.clean_start = false;
    o.manual_acks = mode & 0x40;
    o.topic_alias_maximum = 4;
    o.receive_maximum = 8;
    client_events events;
    protocol::client_connection client(o, events);
    events.client = &client;
    auto now = protocol::client_clock::time_point{} + std::chrono::hours(1);
    client.start(now);
    const auto connack = version == codec::protocol_version::v5 ? std::vector<std::uint8_t>{0x20, 0x03, 0x01, 0x00, 0x00}
                                                                : std::vector<std::uint8_t>{0x20, 0x02, 0x01, 0x00};
    if (mode & 0x08) client.on_input(connack, now);
    codec::publish_packet mine;
    mine.topic = "mine";
    mine.qos = 1 + (mode & 1);
    client.publish(mine, 1);
    const std::size_t chunk = 1 + (mode & 0x07) * 7;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        client.on_input(input.subspan(at, std::min(chunk, input.size() - at)), now);
        now += std::chrono::seconds(20);
        client.tick(now);
        client.take_output();
        if (client.current_state() == protocol::client_connection::state::closing) {
            // A new network connection resumes the session: resends run.
            client.on_transport_closed();
            client.start(now);
            client.on_input(connack, now);
        }
    }
    client.on_transport_closed();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static harness h;  // settings for the whole run; each input gets a fresh broker
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    const std::span<const std::uint8_t> input(data + 1, size - 1);
    const auto version = static_cast<codec::protocol_version>(3 + mode % 3);

    decode_all(input, mode >> 4, version);

    core::broker broker((mode & 0x80) ? h.disconnect : h.drop, *h.log);  // no threads: the worker is driven by hand
    auto& worker = broker.worker_at(0);
    capture_transport transport;
    {
        protocol::listener_settings listener;
        listener.port = 1883;
        protocol::connection conn(worker.port(), transport, "fuzz", listener);
        if (mode & 0x08) {
            const auto prefix = connect_prefix(version);
            conn.on_input(prefix);
        }
        // Feed the stream in chunks whose size the mode chooses, to exercise
        // packets that straddle reads.
        const std::size_t chunk = 1 + (mode & 0x07) * 7;
        for (std::size_t at = 0; at < input.size(); at += chunk) {
            conn.on_input(input.subspan(at, std::min(chunk, input.size() - at)));
            worker.io().poll();  // posted work, such as disconnecting a slow consumer
            worker.io().restart();
            conn.output().segments();
            conn.output().clear();
        }
        conn.on_transport_closed();
    }
    worker.io().poll();
    worker.io().restart();
    run_client_role(input, mode, version);
    return 0;
}
