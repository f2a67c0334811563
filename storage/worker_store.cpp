#include "worker_store.hpp"

namespace strata::storage {

namespace {

// Cached topic ids per worker; the cache is dropped when it grows past this.
constexpr std::size_t topic_cache_limit = 100'000;

std::string_view as_view(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

message_record record_of(const message& m, std::string_view client_id) {
    message_record r;
    r.qos = m.qos();
    r.retain = m.retain();
    r.has_expiry = m.has_expiry();
    r.expiry_interval = m.expiry_interval();
    r.client_id = client_id;
    r.properties = as_view(m.forwarded_properties());
    r.payload = as_view(m.payload());
    return r;
}

std::uint8_t options_byte(const subscription_options& o) {
    return static_cast<std::uint8_t>(o.qos | (o.no_local ? 0x04 : 0) | (o.retain_as_published ? 0x08 : 0) |
                                     (o.retain_handling << 4));
}

}  // namespace

worker_store::worker_store(store& s, core::persistence_owner& owner)
    : store_(s), owner_(owner), worker_index_(owner.worker_index()) {}

write_set& worker_store::current() {
    if (!set_) {
        set_ = std::make_unique<write_set>();
        owner_.request_flush();
    }
    return *set_;
}

std::uint64_t worker_store::topic_id(std::string_view topic) {
    if (auto it = topic_ids_.find(topic); it != topic_ids_.end()) return it->second;
    if (topic_ids_.size() >= topic_cache_limit) topic_ids_.clear();
    const std::uint64_t id = store_.topic_id(topic);
    topic_ids_.emplace(std::string(topic), id);
    return id;
}

void worker_store::store_message(message& m, std::string_view client_id, std::function<void(bool)> ack) {
    message::store_location at;
    at.topic_id = topic_id(m.topic());
    at.ts_us = now_us();
    // Unique per worker; the worker index keeps workers apart.
    at.seq = (worker_index_ << 24) | (next_seq_++ & 0x00FFFFFF);
    m.set_stored_at(at);
    if (store_.options().keep_history) {
        put_message(m, client_id);
    } else {
        m.keep_on_demand(store_.releases());
    }
    if (ack) {
        auto token = std::make_shared<commit_token>();
        // Set by the worker's distribute(): one part per worker that routes the message.
        token->remaining.store(0, std::memory_order_relaxed);
        token->worker = worker_index_;
        token->done = std::move(ack);
        current().message_tokens.push_back(token);
        m.set_commit(std::move(token));
    }
}

void worker_store::put_message(const message& m, std::string_view client_id) {
    const auto& at = m.stored_at();
    char key[message_key_size];
    encode_message_key(message_key{at.topic_id, at.ts_us, at.seq}, key);
    value_.clear();
    encode_message(value_, record_of(m, client_id));
    auto& set = current();
    set.batch.Put(store_.messages(), rocksdb::Slice(key, message_key_size), value_);
    set.messages.push_back({at.topic_id, at.ts_us, at.seq});
}

void worker_store::routed(const message& m) { current().parts.push_back(m.commit()); }

void worker_store::retained(const message& m) {
    write_set::retained_update u;
    u.topic = std::string(m.topic());
    u.order = m.retain_order();
    if (!m.payload().empty()) {
        retained_record r;
        r.order = m.retain_order();
        r.ts_us = m.stored_at().ts_us;
        if (m.has_source()) {
            const auto src = m.source();
            r.message = record_of(m, src.client_id);
            r.message.has_source = true;
            r.message.has_username = src.has_username;
            r.message.username = src.username;
            r.message.listener = src.listener;
        } else {
            r.message = record_of(m, {});
        }
        encode_retained(u.value, r);
    }
    current().retained.push_back(std::move(u));
}

void worker_store::save_session(const session& s, std::uint8_t protocol_version, std::uint64_t disconnected_us) {
    session_record r;
    r.protocol_version = protocol_version;
    r.expiry_interval = s.expiry_interval;
    r.disconnected_us = disconnected_us;
    for (const auto& [filter, sub] : s.subscriptions()) {
        r.subscriptions.push_back({filter, options_byte(sub.options), sub.identifier});
    }
    r.has_username = s.has_username;
    r.username = s.username;
    r.listener = s.listener;
    r.incarnation = s.incarnation();
    current().batch.Put(store_.sessions(), session_key(s.client_id()), encode_session(r));
}

void worker_store::remove_session(const session& s) {
    auto& set = current();
    set.batch.Delete(store_.sessions(), session_key(s.client_id()));
    const auto deliveries = delivery_prefix(s.client_id());
    set.batch.DeleteRange(store_.sessions(), deliveries, prefix_end(deliveries));
    const auto inbound = inbound_prefix(s.client_id());
    set.batch.DeleteRange(store_.sessions(), inbound, prefix_end(inbound));
}

void worker_store::save_inbound(const session& s, std::uint16_t packet_id, const message* held) {
    std::string value;
    if (held) ensure_record(*held);
    if (held && held->stored_at().topic_id != 0) {
        const auto& at = held->stored_at();
        value = encode_message_key(message_key{at.topic_id, at.ts_us, at.seq});
    }
    current().batch.Put(store_.sessions(), inbound_key(s.client_id(), packet_id), value);
}

core::persistence::encoded_record worker_store::encode_planned(const session& s, const pending_delivery& d) {
    delivery_record r;
    r.state = delivery_state::queued;
    r.qos = d.qos;
    r.retain = d.retain;
    r.subscription_ids = d.subscription_ids;
    const auto& at = d.msg->stored_at();
    r.message = message_key{at.topic_id, at.ts_us, at.seq};
    return {delivery_key(s.client_id(), d.journal_seq), encode_delivery(r)};
}

void worker_store::write_planned(const message& m, const std::vector<encoded_record>& records) {
    if (!records.empty()) ensure_record(m);
    auto& set = current();
    for (const auto& [key, value] : records) set.batch.Put(store_.sessions(), key, value);
}

void worker_store::remove_inbound(const session& s, std::uint16_t packet_id) {
    current().batch.Delete(store_.sessions(), inbound_key(s.client_id(), packet_id));
}

void worker_store::after_commit(std::function<void(bool)> fn) {
    current().completions.push_back(completion{worker_index_, std::move(fn), false});
}

void worker_store::after_stored(std::function<void(bool)> fn) {
    current().completions.push_back(completion{worker_index_, std::move(fn), true});
}

void worker_store::flush() {
    if (set_ && !set_->empty()) store_.submit(std::move(set_));
    set_.reset();
}

void worker_store::delivery_saved(const session& s, const pending_delivery& d, state st, std::uint16_t packet_id) {
    delivery_record r;
    r.state = static_cast<delivery_state>(st);
    r.packet_id = packet_id;
    r.qos = d.qos;
    r.retain = d.retain;
    r.subscription_ids = d.subscription_ids;
    if (d.msg) {
        ensure_record(*d.msg);
        const auto& at = d.msg->stored_at();
        r.message = message_key{at.topic_id, at.ts_us, at.seq};
    }
    current().batch.Put(store_.sessions(), delivery_key(s.client_id(), d.journal_seq), encode_delivery(r));
}

void worker_store::remove_record(const std::string& key) { current().batch.Delete(store_.sessions(), key); }

void worker_store::delivery_removed(const session& s, std::uint64_t journal_seq) {
    current().batch.Delete(store_.sessions(), delivery_key(s.client_id(), journal_seq));
}

void worker_store::send_publish_when_durable(const session& s, std::uint16_t packet_id) {
    after_commit([&w = owner_, id = s.id(), packet_id](bool) {
        if (session* target = w.find_session(id)) target->send_held(packet_id);
    });
}

void worker_store::send_pubrel_when_durable(const session& s, std::uint16_t packet_id) {
    after_commit([&w = owner_, id = s.id(), packet_id](bool) {
        if (session* target = w.find_session(id); target && target->sink()) target->sink()->send_pubrel(packet_id);
    });
}

}  // namespace strata::storage
