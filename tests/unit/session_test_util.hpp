// A delivery_sink that records what a session sends, and messages to feed
// it, for the session tests (test_session*.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "session/message.hpp"
#include "session/session.hpp"

namespace strata::test {

struct sent {
    enum kind_t { publish, pubrel } kind = publish;
    std::string topic;
    std::uint8_t qos = 0;
    bool retain = false;
    std::uint16_t packet_id = 0;
    bool dup = false;
    std::vector<std::uint32_t> ids;
};

class recording_sink final : public delivery_sink {
public:
    explicit recording_sink(std::uint16_t receive_maximum = 65535) : receive_maximum(receive_maximum) {}

    bool send_publish(const message& m, std::uint8_t qos, bool retain, std::uint16_t packet_id, bool dup,
                      std::span<const std::uint32_t> subscription_ids) override {
        if (refuse_big && std::string(m.topic()).starts_with("big/")) return false;  // "exceeds the client's maximum packet size"
        calls.push_back(sent{sent::publish, std::string(m.topic()), qos, retain, packet_id, dup,
                             {subscription_ids.begin(), subscription_ids.end()}});
        return true;
    }
    void send_pubrel(std::uint16_t packet_id) override { calls.push_back(sent{sent::pubrel, {}, 0, false, packet_id, false, {}}); }
    std::uint16_t client_receive_maximum() const override { return receive_maximum; }
    void acknowledge_stored(commit_wait_kind kind, std::uint16_t packet_id, bool stored, bool) override {
        acknowledged.push_back({kind, packet_id, stored});
    }

    std::vector<std::string> topics() const {
        std::vector<std::string> out;
        for (const auto& c : calls) {
            if (c.kind == sent::publish) out.push_back(c.topic);
        }
        return out;
    }

    std::uint16_t receive_maximum;
    bool refuse_big = true;
    std::vector<sent> calls;
    struct stored_ack {
        commit_wait_kind kind;
        std::uint16_t packet_id;
        bool stored;
    };
    std::vector<stored_ack> acknowledged;
};

inline mutable_message_ref msg(std::string_view topic, std::uint8_t qos = 1) {
    message::init in;
    in.topic = topic;
    in.payload = codec::as_bytes("payload");
    in.qos = qos;
    return mutable_message_ref(message::create(in));
}

using topics = std::vector<std::string>;


// A message whose payload has `size` bytes.
inline mutable_message_ref sized_msg(std::string_view topic, std::size_t size, std::uint8_t qos = 1) {
    const std::vector<std::uint8_t> payload(size, 'x');
    message::init in;
    in.topic = topic;
    in.payload = payload;
    in.qos = qos;
    return mutable_message_ref(message::create(in));
}

}  // namespace strata::test
