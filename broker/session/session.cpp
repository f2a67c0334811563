#include "session/session.hpp"

#include "auth/acl_file.hpp"

#include <algorithm>

namespace strata {

namespace {

std::uint32_t payload_bytes(const pending_delivery& d) {
    return d.msg ? static_cast<std::uint32_t>(d.msg->payload().size()) : 0;
}

}  // namespace

session::~session() = default;

session::session(std::string client_id, std::uint64_t id, const delivery_limits& limits)
    : client_id_(std::move(client_id)), id_(id), limits_(&limits) {}

const std::shared_ptr<session_presence>& session::presence() {
    if (!presence_) {
        presence_ = std::make_shared<session_presence>();
        presence_->online.store(sink_ != nullptr, std::memory_order_relaxed);
    }
    return presence_;
}

void session::attach(delivery_sink* sink) {
    sink_ = sink;
    if (presence_) presence_->online.store(true, std::memory_order_relaxed);
}

void session::detach() {
    sink_ = nullptr;
    if (presence_) presence_->online.store(false, std::memory_order_relaxed);
    if (inflight_.empty()) packet_ids_.shrink();
    // The next connection decides afresh what fits in its window.
    if (parked_ > 0) {
        for (std::size_t i = parked_from_; i < inflight_.size(); ++i) inflight_[i].parked = false;
        parked_ = 0;
        parked_bytes_ = 0;
    }
}

std::uint32_t session::window() const {
    std::uint32_t w = sink_ ? sink_->client_receive_maximum() : 65535;
    if (limits_->max_inflight_messages != 0) w = std::min<std::uint32_t>(w, limits_->max_inflight_messages);
    return w;
}

bool session::movable() const {
    return !has_subscriptions() && inflight_.empty() && queue_.empty() && (!inbound_qos2_ || inbound_qos2_->empty()) &&
           (!awaiting_commit_ || awaiting_commit_->empty()) && awaiting_pubacks_ == 0;
}

bool session::window_has_room(std::size_t active, std::uint64_t active_bytes) const {
    if (active >= window()) return false;
    return limits_->max_inflight_bytes == 0 || active_bytes < limits_->max_inflight_bytes;
}

void session::push_inflight(inflight_delivery d) {
    d.bytes = payload_bytes(d.delivery);
    inflight_bytes_ += d.bytes;
    inflight_.push_back(std::move(d));
}

void session::erase_inflight(std::size_t index) {
    set_parked(inflight_[index], false);
    inflight_bytes_ -= inflight_[index].bytes;
    inflight_.erase(index);
}

void session::set_parked(inflight_delivery& d, bool parked) {
    if (d.parked == parked) return;
    d.parked = parked;
    if (parked) {
        ++parked_;
        parked_bytes_ += d.bytes;
    } else {
        --parked_;
        parked_bytes_ -= d.bytes;
    }
}

void session::push_queued(pending_delivery d) {
    queued_bytes_ += payload_bytes(d);
    queue_.push_back(std::move(d));
}

pending_delivery session::pop_queued() {
    pending_delivery d = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= payload_bytes(d);
    return d;
}

// Records a delivery in the store (persistent sessions, stored messages only).
void session::journal(const pending_delivery& d, session_journal::state st, std::uint16_t packet_id) {
    if (journal_ && d.journal_seq != 0) journal_->delivery_saved(*this, d, st, packet_id);
}

void session::unjournal(const pending_delivery& d) {
    if (journal_ && d.journal_seq != 0) journal_->delivery_removed(*this, d.journal_seq);
}

bool session::send_inflight(inflight_delivery& d, bool dup) {
    const auto& p = d.delivery;
    const bool resend = dup && d.sent;
    d.sent = true;
    return sink_->send_publish(*p.msg, p.qos, p.retain, d.packet_id, resend, p.subscription_ids);
}

// Puts a delivery in flight: a journaled QoS 2 PUBLISH goes out only once its
// record is durable; everything else now. False: too large for the client.
bool session::start_inflight(inflight_delivery& d) {
    journal(d.delivery, session_journal::state::in_flight, d.packet_id);
    if (journal_ && d.delivery.journal_seq != 0 && d.delivery.qos == 2) {
        d.held = true;
        journal_->send_publish_when_durable(*this, d.packet_id);
        return true;
    }
    return send_inflight(d, false);
}

void session::send_held(std::uint16_t packet_id) {
    const auto i = find_inflight(packet_id);
    if (i == inflight_.size() || !inflight_[i].held) return;
    inflight_[i].held = false;
    if (!sink_) return;               // offline: resent at the next connection
    if (inflight_[i].parked) return;  // resent when the window has room
    if (!send_inflight(inflight_[i], false)) complete(i);  // too large: as if delivered [MQTT-3.1.2-25]
}

std::uint64_t session::journal_seq_for(const message& m, std::uint64_t planned) {
    if (planned != 0) return planned;
    return journal_ && m.stored_at().topic_id != 0 ? next_journal_seq_++ : 0;
}

void session::deliver(const message_ref& m, std::uint8_t qos, bool retain, std::span<const std::uint32_t> ids,
                      std::uint64_t journal_seq, shared_group_key group) {
    if (qos == 0) {
        if (sink_) {
            sink_->send_publish(*m, 0, retain, 0, false, ids);
            if (journal_seq != 0) journal_->delivery_removed(*this, journal_seq);
        } else if (limits_->queue_qos0_messages) {
            enqueue(m, 0, retain, ids, journal_seq, std::move(group));
        } else if (journal_seq != 0) {
            journal_->delivery_removed(*this, journal_seq);
        }
        return;
    }
    // Messages wait behind older queued (or parked) ones so that order is kept [MQTT-4.6.0-6].
    if (sink_ && queue_.empty() && parked_ == 0 && window_has_room()) {
        const auto id = packet_ids_.allocate();
        inflight_delivery d{pending_delivery{m, qos, retain, {ids.begin(), ids.end()}, journal_seq_for(*m, journal_seq),
                                             std::move(group)},
                            id, false, false, false};
        if (start_inflight(d)) {
            push_inflight(std::move(d));
        } else {
            unjournal(d.delivery);
            packet_ids_.release(id);  // too large for this client: as if delivered
        }
        return;
    }
    enqueue(m, qos, retain, ids, journal_seq, std::move(group));
}

void session::enqueue(const message_ref& m, std::uint8_t qos, bool retain, std::span<const std::uint32_t> ids,
                      std::uint64_t journal_seq, shared_group_key group) {
    // Whichever limit is reached first, or memory_limit (Mosquitto's rules); a queue with room
    // for bytes takes a message of any size, so one large message is not refused forever.
    const bool over_memory = limits_->over_memory_limit && limits_->over_memory_limit->load(std::memory_order_relaxed);
    if (over_memory || (limits_->max_queued_messages != 0 && queue_.size() >= limits_->max_queued_messages) ||
        (limits_->max_queued_bytes != 0 && queued_bytes_ >= limits_->max_queued_bytes)) {
        ++dropped_;
        if (auto* counter = limits_->dropped_messages) {
            counter->store(counter->load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        }
        if (journal_seq != 0) journal_->delivery_removed(*this, journal_seq);
        return;
    }
    pending_delivery d{m, qos, retain, {ids.begin(), ids.end()}, journal_seq_for(*m, journal_seq), std::move(group)};
    journal(d, session_journal::state::queued, 0);
    push_queued(std::move(d));
}

void session::pump() {
    if (!sink_) return;
    if (parked_ > 0 && !resend_parked()) return;  // the older in-flight messages first
    const auto now = steady_clock::now();
    while (!queue_.empty()) {
        auto& next = queue_.front();
        if (next.msg->expired(now)) {  // [MQTT-3.3.2-5]
            unjournal(next);
            pop_queued();
            continue;
        }
        if (next.qos == 0) {
            sink_->send_publish(*next.msg, 0, next.retain, 0, false, next.subscription_ids);
            unjournal(next);
            pop_queued();
            continue;
        }
        if (!window_has_room()) return;
        const auto id = packet_ids_.allocate();
        inflight_delivery d{pop_queued(), id, false, false, false};
        if (start_inflight(d)) {
            push_inflight(std::move(d));
        } else {
            unjournal(d.delivery);
            packet_ids_.release(id);
        }
    }
}

// The window of a new connection may be smaller than the one the in-flight
// messages were sent in: the client's Receive Maximum bounds the QoS 1/2
// PUBLISHes without PUBACK or PUBCOMP [MQTT-3.3.4-7], and the send quota starts
// afresh with each connection [MQTT-4.9.0-3]. A released QoS 2 message still
// waits for its PUBCOMP, so it takes a place in the window; its PUBREL is
// resent at once all the same ([MQTT-4.4.0-1]; a PUBREL is no PUBLISH and the
// client needs it to finish). The unreleased ones fill what room is left, in
// their order; the rest stay in flight, parked, with their packet ids.
void session::resend_inflight() {
    if (!sink_) return;
    // What takes a place in the window before any PUBLISH is resent.
    std::size_t active = 0;
    std::uint64_t active_bytes = 0;
    for (std::size_t i = 0; i < inflight_.size(); ++i) {
        if (!inflight_[i].released) continue;
        ++active;
        active_bytes += inflight_[i].bytes;
    }
    // Once one message is parked every later one is too (the room only
    // shrinks as the loop goes), so order is kept.
    for (std::size_t i = 0; i < inflight_.size(); ++i) {
        auto& d = inflight_[i];
        if (d.released) {
            sink_->send_pubrel(d.packet_id);
        } else if (!window_has_room(active, active_bytes)) {
            if (parked_ == 0) parked_from_ = static_cast<std::uint32_t>(i);
            set_parked(d, true);
        } else if (d.held || send_inflight(d, true)) {  // a held one: send_held() sends it once it is durable
            ++active;
            active_bytes += d.bytes;
        } else {
            // Too large for the new connection: discarded as if delivered [MQTT-3.1.2-25].
            unjournal(d.delivery);
            packet_ids_.release(d.packet_id);
            erase_inflight(i--);
        }
    }
    pump();
}

// Resends parked in-flight messages, oldest first, while the window has room;
// true once none is left. Parked entries are found from parked_from_ on, so
// each is looked at once however many acknowledgements it takes.
bool session::resend_parked() {
    while (parked_ > 0 && window_has_room()) {
        while (!inflight_[parked_from_].parked) ++parked_from_;
        auto& d = inflight_[parked_from_];
        set_parked(d, false);
        if (d.held || send_inflight(d, true)) {  // a held one goes out from send_held()
            ++parked_from_;
            continue;
        }
        // Too large for this connection: discarded as if delivered [MQTT-3.1.2-25].
        unjournal(d.delivery);
        packet_ids_.release(d.packet_id);
        erase_inflight(parked_from_);  // the next entry now sits at parked_from_
    }
    return parked_ == 0;
}

std::size_t session::find_inflight(std::uint16_t packet_id) const {
    // Acknowledgements usually come in order, so the search ends at the front.
    return inflight_.find_if([&](const inflight_delivery& d) { return d.packet_id == packet_id; });
}

void session::complete(std::size_t index) {
    // The client may acknowledge a parked message it got on the earlier
    // connection (erase_inflight unparks it).
    if (index < parked_from_) --parked_from_;
    unjournal(inflight_[index].delivery);
    packet_ids_.release(inflight_[index].packet_id);
    erase_inflight(index);
    pump();
}

bool session::on_puback(std::uint16_t packet_id) {
    const auto i = find_inflight(packet_id);
    if (i == inflight_.size() || inflight_[i].delivery.qos != 1) return false;
    complete(i);
    return true;
}

bool session::on_pubrec(std::uint16_t packet_id, bool failed) {
    const auto i = find_inflight(packet_id);
    if (i == inflight_.size() || inflight_[i].delivery.qos != 2) return false;
    if (failed) {  // a PUBREC with an error reason code ends the exchange (section 4.3.3)
        complete(i);
        return true;
    }
    auto& d = inflight_[i];
    const bool first = !d.released;
    d.released = true;
    set_parked(d, false);  // a PUBREC for what the earlier connection delivered: no resend needed
    if (journal_ && d.delivery.journal_seq != 0) {
        if (first) journal_->delivery_saved(*this, d.delivery, session_journal::state::released, packet_id);
        d.delivery.msg.reset();  // the message itself is no longer needed
        journal_->send_pubrel_when_durable(*this, packet_id);
        return true;
    }
    d.delivery.msg.reset();
    if (sink_) sink_->send_pubrel(packet_id);
    return true;
}

bool session::on_pubcomp(std::uint16_t packet_id) {
    const auto i = find_inflight(packet_id);
    if (i == inflight_.size() || !inflight_[i].released) return false;
    complete(i);
    return true;
}

void session::restore_in_flight(pending_delivery d, std::uint16_t packet_id, bool released) {
    next_journal_seq_ = std::max(next_journal_seq_, d.journal_seq + 1);
    packet_ids_.reserve(packet_id);
    // It may have reached the client before the crash: resent with DUP.
    push_inflight(inflight_delivery{std::move(d), packet_id, released, true, false});
}

void session::restore_queued(pending_delivery d) {
    next_journal_seq_ = std::max(next_journal_seq_, d.journal_seq + 1);
    push_queued(std::move(d));
}

std::vector<pending_delivery> session::take_shared_deliveries() {
    std::vector<pending_delivery> taken;
    // A released QoS 2 message reached the client (it sent PUBREC): not handed on.
    for (std::size_t i = 0; i < inflight_.size(); ++i) {
        auto& d = inflight_[i];
        if (!d.released && d.delivery.shared_group) taken.push_back(std::move(d.delivery));
    }
    for (std::size_t i = 0; i < queue_.size(); ++i) {
        if (queue_[i].shared_group) taken.push_back(std::move(queue_[i]));
    }
    // The moved-from entries are left for the destructor: the session ends now.
    return taken;
}

namespace {

std::uint32_t commit_key(commit_wait_kind kind, std::uint16_t packet_id) {
    return (static_cast<std::uint32_t>(kind) << 16) | packet_id;
}

}  // namespace

void session::await_commit(commit_wait_kind kind, std::uint16_t packet_id) {
    if (!awaiting_commit_) awaiting_commit_ = std::make_unique<std::unordered_map<std::uint32_t, commit_wait>>();
    auto& w = (*awaiting_commit_)[commit_key(kind, packet_id)];
    ++w.copies;
    ++w.received;
    if (kind == commit_wait_kind::puback) ++awaiting_pubacks_;
}

bool session::awaiting_commit(commit_wait_kind kind, std::uint16_t packet_id) const {
    return awaiting_commit_ && awaiting_commit_->contains(commit_key(kind, packet_id));
}

void session::no_subscribers_for(commit_wait_kind kind, std::uint16_t packet_id) {
    if (!awaiting_commit_) return;
    const auto it = awaiting_commit_->find(commit_key(kind, packet_id));
    if (it != awaiting_commit_->end()) ++it->second.unmatched;
}

std::optional<session::commit_outcome> session::commit_done(commit_wait_kind kind, std::uint16_t packet_id,
                                                            bool stored) {
    if (!awaiting_commit_) return std::nullopt;
    const auto it = awaiting_commit_->find(commit_key(kind, packet_id));
    if (it == awaiting_commit_->end()) return std::nullopt;
    if (kind == commit_wait_kind::puback && awaiting_pubacks_ > 0) --awaiting_pubacks_;
    it->second.refused = it->second.refused || !stored;
    if (--it->second.copies > 0) return std::nullopt;
    const commit_outcome outcome{!it->second.refused, it->second.unmatched == it->second.received};
    awaiting_commit_->erase(it);
    return outcome;
}

const session::subscription_map& session::subscriptions() const {
    static const subscription_map none;  // an immutable constant, not state
    return subscriptions_ ? *subscriptions_ : none;
}

}  // namespace strata
