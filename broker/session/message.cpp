#include "session/message.hpp"

#include <new>

namespace strata {

message* message::create(const init& in) {
    const std::size_t source_size = in.source ? in.source->client_id.size() + in.source->username.size() : 0;
    const std::size_t tail = in.topic.size() + in.forwarded_properties.size() + in.payload.size() + source_size;
    void* raw = ::operator new(sizeof(message) + tail);
    auto* m = new (raw) message();
    m->topic_size_ = static_cast<std::uint32_t>(in.topic.size());
    m->properties_size_ = static_cast<std::uint32_t>(in.forwarded_properties.size());
    m->payload_size_ = static_cast<std::uint32_t>(in.payload.size());
    m->qos_ = in.qos;
    m->retain_ = in.retain;
    m->origin_session_ = in.origin_session;
    m->has_expiry_ = in.has_expiry;
    m->expiry_interval_ = in.expiry_interval;
    m->received_at_ = steady_clock::now();
    char* p = m->data_;
    if (!in.topic.empty()) std::memcpy(p, in.topic.data(), in.topic.size());
    p += in.topic.size();
    if (!in.forwarded_properties.empty()) std::memcpy(p, in.forwarded_properties.data(), in.forwarded_properties.size());
    p += in.forwarded_properties.size();
    if (!in.payload.empty()) std::memcpy(p, in.payload.data(), in.payload.size());
    p += in.payload.size();
    if (in.source) {
        // Client ids and usernames are MQTT strings: at most 65,535 bytes.
        const auto& src = *in.source;
        m->has_source_ = true;
        m->source_id_size_ = static_cast<std::uint16_t>(src.client_id.size());
        m->source_name_size_ = static_cast<std::uint16_t>(src.username.size());
        m->source_has_username_ = src.has_username;
        m->source_listener_ = src.listener;
        if (!src.client_id.empty()) std::memcpy(p, src.client_id.data(), src.client_id.size());
        p += src.client_id.size();
        if (!src.username.empty()) std::memcpy(p, src.username.data(), src.username.size());
    }
    return m;
}

void message::destroy(const message* m) {
    if (m->release_ && m->record_.load(std::memory_order_acquire) == record_state::written) {
        m->release_->released(m->stored_at_.topic_id, m->stored_at_.ts_us, m->stored_at_.seq);
    }
    m->~message();
    ::operator delete(const_cast<message*>(m));
}

std::uint32_t message::remaining_expiry(time_point now) const {
    const auto deadline = received_at_ + std::chrono::seconds(expiry_interval_);
    if (now >= deadline) return 0;
    const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - now).count();
    return static_cast<std::uint32_t>(left);
}

void encode_forwarded_properties(const codec::properties& in, codec::byte_buffer& out) {
    codec::properties fwd;
    fwd.payload_format_indicator = in.payload_format_indicator;
    fwd.content_type = in.content_type;
    fwd.response_topic = in.response_topic;
    fwd.correlation_data = in.correlation_data;
    fwd.user_properties = in.user_properties;
    const std::size_t start = out.size();
    codec::byte_writer w(out);
    codec::write_properties(w, fwd);
    // Drop the length prefix: the forwarded block is spliced into each outgoing PUBLISH.
    std::uint32_t len = 0;
    std::size_t prefix = 0;
    codec::decode_varint(codec::bytes_view(out).subspan(start), len, prefix);
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(start), out.begin() + static_cast<std::ptrdiff_t>(start + prefix));
}

}  // namespace strata
