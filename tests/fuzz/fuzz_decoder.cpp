// libFuzzer target over the packet decoders and the connection state machine.
//
// Input layout: byte 0 picks a protocol version for the stand-alone decoders
// and how the stream is split into reads (and, with its top bit, whether a
// slow consumer is disconnected rather than dropped); the rest is fed (a) to every
// decoder directly and (b) as a byte stream to a real protocol::connection on
// a real worker, prefixed with a valid CONNECT so that the fuzzer reaches the
// states after CONNECT as well as the CONNECT parser itself.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "codec/packets.hpp"
#include "config/broker_config.hpp"
#include "core/broker.hpp"
#include "core/logger.hpp"
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
        protocol::connection conn(worker, transport, "fuzz", listener);
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
    return 0;
}
