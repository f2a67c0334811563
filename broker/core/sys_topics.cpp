#include "core/sys_topics.hpp"

#include "core/broker.hpp"
#include "core/worker.hpp"

namespace strata::core {

void sys_topics::tick(broker& b, worker& publisher, time_point now) {
    const auto interval = publisher.config().sys_interval;
    if (interval == 0 || now < next_due_) return;
    next_due_ = now + std::chrono::seconds(interval);

    std::uint64_t connected = 0, sessions = 0, received = 0, sent = 0, dropped = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0, subscriptions = 0;
    for (std::size_t i = 0; i < b.worker_count(); ++i) {
        const auto& s = b.worker_at(i).stats();
        connected += s.clients_connected.load(std::memory_order_relaxed);
        sessions += s.sessions.load(std::memory_order_relaxed);
        received += s.messages_received.load(std::memory_order_relaxed);
        sent += s.messages_sent.load(std::memory_order_relaxed);
        dropped += s.messages_dropped.load(std::memory_order_relaxed);
        bytes_in += s.bytes_received.load(std::memory_order_relaxed);
        bytes_out += s.bytes_sent.load(std::memory_order_relaxed);
        subscriptions += s.subscriptions.load(std::memory_order_relaxed);
    }
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - b.started_at()).count();
    auto n = [](std::uint64_t v) { return std::to_string(v); };
    static const std::string version = std::string("strata version ").append(STRATA_VERSION);
    publish_if_changed(publisher, "$SYS/broker/version", version);
    publish_if_changed(publisher, "$SYS/broker/uptime", std::to_string(uptime) + " seconds");
    publish_if_changed(publisher, "$SYS/broker/clients/connected", n(connected));
    publish_if_changed(publisher, "$SYS/broker/clients/active", n(connected));
    publish_if_changed(publisher, "$SYS/broker/clients/total", n(sessions));
    publish_if_changed(publisher, "$SYS/broker/clients/disconnected", n(sessions >= connected ? sessions - connected : 0));
    publish_if_changed(publisher, "$SYS/broker/messages/received", n(received));
    publish_if_changed(publisher, "$SYS/broker/messages/sent", n(sent));
    publish_if_changed(publisher, "$SYS/broker/publish/messages/dropped", n(dropped));
    publish_if_changed(publisher, "$SYS/broker/bytes/received", n(bytes_in));
    publish_if_changed(publisher, "$SYS/broker/bytes/sent", n(bytes_out));
    publish_if_changed(publisher, "$SYS/broker/subscriptions/count", n(subscriptions));
    publish_if_changed(publisher, "$SYS/broker/retained messages/count",
                       n(publisher.stats().retained_messages.load(std::memory_order_relaxed)));
    if (const auto& extra = b.extra_sys_topics()) {
        for (const auto& [topic, value] : extra()) publish_if_changed(publisher, topic, value);
    }
}

void sys_topics::publish_if_changed(worker& publisher, const std::string& topic, const std::string& value) {
    auto& last = last_values_[topic];
    if (last == value) return;
    last = value;
    message::init in;
    in.topic = topic;
    in.payload = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(value.data()), value.size());
    in.retain = true;
    publisher.publish(message::create(in));
}

}  // namespace strata::core
