#include "restore.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <unordered_map>

#include "core/broker.hpp"
#include "core/worker.hpp"
#include "topic/topic_name.hpp"
#include "worker_store.hpp"

namespace strata::storage {

namespace {

// The store does not record which shared group chose a session for a
// delivery. After a restart it is taken to be the session's shared
// subscription that matches the topic, when none of its own subscriptions
// does, so that the delivery still goes to another member if the session
// ends (section 4.8.2).
shared_group_key shared_group_for(const session& s, std::string_view topic) {
    shared_group_key found;
    for (const auto& [text, sub] : s.subscriptions()) {
        topic::subscription_filter f;
        if (!topic::parse_subscription_filter(sub.filter, f) || !topic::matches(f.filter, topic)) continue;
        if (!f.shared) return {};
        if (!found) found = std::make_shared<const std::string>(core::shared_groups::key_of(f.group, f.filter));
    }
    return found;
}


// A message whose arrival was `age_us` ago, for message expiry.
void set_age(message& m, std::uint64_t age_us) {
    m.set_received_at(steady_clock::now() - std::chrono::microseconds(age_us));
}

mutable_message_ref make_message(std::string_view topic, const message_record& r, std::uint64_t ts_us,
                                 message::store_location at) {
    message::init in;
    in.topic = topic;
    in.payload = {reinterpret_cast<const std::uint8_t*>(r.payload.data()), r.payload.size()};
    in.forwarded_properties = {reinterpret_cast<const std::uint8_t*>(r.properties.data()), r.properties.size()};
    in.qos = r.qos;
    in.retain = r.retain;
    in.has_expiry = r.has_expiry;
    in.expiry_interval = r.expiry_interval;
    const message_source source{r.client_id, r.username, r.has_username, r.listener};
    if (r.has_source) in.source = &source;
    mutable_message_ref m(message::create(in));
    const auto now = now_us();
    set_age(*m, now > ts_us ? now - ts_us : 0);
    m->set_stored_at(at);
    return m;
}

subscription_options options_of(std::uint8_t b) {
    subscription_options o;
    o.qos = b & 0x03;
    o.no_local = b & 0x04;
    o.retain_as_published = b & 0x08;
    o.retain_handling = (b >> 4) & 0x03;
    return o;
}

}  // namespace

mutable_message_ref load_message(store& s, const message_key& key) {
    std::string value;
    char k[message_key_size];
    encode_message_key(key, k);
    if (!s.db().Get(rocksdb::ReadOptions(), s.messages(), rocksdb::Slice(k, message_key_size), &value).ok()) return nullptr;
    message_record r;
    const std::string topic = s.topic_name(key.topic_id);
    if (topic.empty() || !decode_message(value, r)) return nullptr;
    return make_message(topic, r, key.ts_us, message::store_location{key.topic_id, key.ts_us, key.seq});
}

namespace {

// The messages sessions refer to, each loaded once and shared by every
// session that has it: without history, a message's record is deleted when
// its last holder lets go, so two copies would delete it under each other.
class message_cache {
public:
    explicit message_cache(store& s) : store_(s) {}

    message_ref get(const message_key& key) {
        std::string encoded = encode_message_key(key);
        if (auto it = loaded_.find(encoded); it != loaded_.end()) return it->second;
        auto m = load_message(store_, key);
        if (m && !store_.options().keep_history) m->kept_by(store_.releases());
        message_ref shared(std::move(m));
        loaded_.emplace(std::move(encoded), shared);
        return shared;
    }
    // Every key asked for, found or not (what the store must keep).
    std::vector<std::string> keys() const {
        std::vector<std::string> out;
        out.reserve(loaded_.size());
        for (const auto& [k, m] : loaded_) out.push_back(k);
        return out;
    }

private:
    store& store_;
    std::unordered_map<std::string, message_ref> loaded_;
};

}  // namespace

namespace {

// Delivery records of sessions that ended: of a client id without a session,
// or of another incarnation than its session's. They are what a QoS 2 plan
// committed after its target session's removal left behind (the running
// broker deletes them itself, unless it crashed first).
std::uint64_t remove_ended_sessions_records(store& s, const std::unordered_map<std::string, std::uint32_t>& sessions) {
    std::unique_ptr<rocksdb::Iterator> d(s.db().NewIterator(rocksdb::ReadOptions(), s.sessions()));
    rocksdb::WriteBatch batch;
    std::uint64_t removed = 0;
    for (d->Seek("d"); d->Valid() && d->key().starts_with("d"); d->Next()) {
        const auto key = d->key().ToStringView();
        const auto end = key.find('\0', 1);
        if (end == std::string_view::npos || key.size() != end + 9) continue;
        const auto it = sessions.find(std::string(key.substr(1, end - 1)));
        if (it != sessions.end() && session::incarnation_of(get_u64(key.data() + end + 1)) == it->second) continue;
        batch.Delete(s.sessions(), d->key());
        ++removed;
    }
    if (removed > 0 && !s.db().Write(rocksdb::WriteOptions(), &batch).ok()) return 0;
    return removed;
}

}  // namespace

restore_report restore_into(store& s, core::broker& b) {
    restore_report report;
    message_cache messages(s);
    std::unordered_map<std::string, std::uint32_t> sessions_kept;  // client id -> incarnation
    const auto workers = static_cast<std::uint32_t>(b.worker_count());
    for (std::size_t i = 0; i < b.worker_count(); ++i) {
        b.worker_at(i).set_persistence(std::make_unique<worker_store>(s, b.worker_at(i)));
    }

    // Retained messages: into the broker's one copy (core/retained_messages).
    std::uint64_t highest_order = 0;
    std::unique_ptr<rocksdb::Iterator> r(s.db().NewIterator(rocksdb::ReadOptions(), s.retained()));
    for (r->SeekToFirst(); r->Valid(); r->Next()) {
        retained_record rec;
        if (!decode_retained(r->value().ToStringView(), rec)) {
            report.warnings.push_back("unreadable retained message for topic '" + r->key().ToString() + "' skipped");
            continue;
        }
        auto m = make_message(r->key().ToStringView(), rec.message, rec.ts_us, {});
        m->set_retain_order(rec.order);
        highest_order = std::max(highest_order, rec.order);
        if (m->expired(steady_clock::now())) continue;
        const message_ref shared(std::move(m));
        b.retained().apply(shared);
        ++report.retained;
    }
    b.raise_retain_order(highest_order);

    // Sessions, with their deliveries ('d') and inbound packet ids ('q').
    std::unique_ptr<rocksdb::Iterator> it(s.db().NewIterator(rocksdb::ReadOptions(), s.sessions()));
    for (it->Seek("s"); it->Valid() && it->key().starts_with("s"); it->Next()) {
        const std::string client_id = it->key().ToString().substr(1);
        session_record rec;
        if (!decode_session(it->value().ToStringView(), rec)) {
            report.warnings.push_back("unreadable session of client '" + client_id + "' skipped");
            continue;
        }
        const std::size_t home = b.registry().claim(client_id, std::hash<std::string>{}(client_id) % workers);
        core::worker& w = b.worker_at(home);
        session& sess = w.restore_session(client_id, rec.expiry_interval, rec.disconnected_us, rec.protocol_version);
        sess.set_incarnation(rec.incarnation);
        sessions_kept[client_id] = rec.incarnation;
        sess.has_username = rec.has_username;
        sess.username = rec.username;
        sess.listener = rec.listener;
        for (const auto& sub : rec.subscriptions) w.routing().subscribe(sess, sub.filter, options_of(sub.options), sub.identifier);

        std::unique_ptr<rocksdb::Iterator> d(s.db().NewIterator(rocksdb::ReadOptions(), s.sessions()));
        const std::string deliveries = delivery_prefix(client_id);
        for (d->Seek(deliveries); d->Valid() && d->key().starts_with(deliveries); d->Next()) {
            delivery_record dr;
            if (d->key().size() != deliveries.size() + 8 || !decode_delivery(d->value().ToStringView(), dr)) {
                report.warnings.push_back("unreadable delivery of client '" + client_id + "' skipped");
                continue;
            }
            pending_delivery pd;
            pd.qos = dr.qos;
            pd.retain = dr.retain;
            pd.subscription_ids = dr.subscription_ids;
            pd.journal_seq = get_u64(d->key().data() + deliveries.size());
            // Another life of this client id left it (see session::set_incarnation).
            if (session::incarnation_of(pd.journal_seq) != rec.incarnation) continue;
            if (dr.state != delivery_state::released) {
                pd.msg = messages.get(dr.message);
                if (!pd.msg) {
                    report.warnings.push_back("a message queued for client '" + client_id +
                                              "' is no longer in the store (retention?) and is skipped");
                    continue;
                }
            }
            if (pd.msg && sess.has_subscriptions()) pd.shared_group = shared_group_for(sess, pd.msg->topic());
            if (dr.state == delivery_state::queued) sess.restore_queued(std::move(pd));
            else sess.restore_in_flight(std::move(pd), dr.packet_id, dr.state == delivery_state::released);
            ++report.deliveries;
        }
        const std::string inbound = inbound_prefix(client_id);
        for (d->Seek(inbound); d->Valid() && d->key().starts_with(inbound); d->Next()) {
            if (d->key().size() != inbound.size() + 2) continue;
            // A QoS 2 message received but not yet released by PUBREL is held again.
            message_ref held;
            message_key k;
            if (decode_message_key(d->value().ToStringView(), k)) held = messages.get(k);
            sess.inbound_add(get_u16(d->key().data() + inbound.size()), std::move(held));
        }
        sess.set_journal(w.store());
        ++report.sessions;
    }
    b.share_restored_interest();
    report.ended_sessions_records = remove_ended_sessions_records(s, sessions_kept);
    // Without history, records no session refers to are what a crash left
    // between a session's last use of a message and the message's deletion.
    if (!s.options().keep_history) report.unreferenced_removed = s.remove_unreferenced(messages.keys());
    return report;
}

}  // namespace strata::storage
