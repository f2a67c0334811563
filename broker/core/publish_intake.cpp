#include "core/publish_intake.hpp"

#include "core/worker.hpp"

namespace strata::core {

using codec::reason_code;

bool publish_intake::can_keep(std::uint8_t qos) const {
    const persistence* store = worker_.store();
    return qos == 0 || !store || store->writable();
}

void publish_intake::accept(session& s, std::uint8_t qos, std::uint16_t packet_id, const message::init& in) {
    persistence* store = worker_.store();
    const bool durable = store && store->durable_acks();
    if (qos == 2 && durable) {
        mutable_message_ref held(message::create(in));
        worker_.durable_routing().store_held(*held, s.client_id());
        if (s.journaled()) store->save_inbound(s, packet_id, held.get());
        s.inbound_add(packet_id, message_ref(held));
        s.await_commit(commit_wait_kind::pubrec, packet_id);
        store->after_stored(when_stored(s, commit_wait_kind::pubrec, packet_id));
        return;
    }
    if (qos == 2) {
        // PUBREC first, then the message goes on, as Mosquitto orders them;
        // so, as from Mosquitto, a PUBREC never says "no matching subscribers".
        s.inbound_add(packet_id);
        if (s.sink()) s.sink()->acknowledge_stored(commit_wait_kind::pubrec, packet_id, true, false);
        publish_now(s, in);
        return;
    }
    if (qos == 1 && durable) {
        // The acknowledgement promises the message survives a crash: it goes
        // out when the store has committed it and every delivery record.
        s.await_commit(commit_wait_kind::puback, packet_id);
        publish_now(s, in, when_stored(s, commit_wait_kind::puback, packet_id));
        if (!worker_.routing().last_publish_matched()) s.no_subscribers_for(commit_wait_kind::puback, packet_id);
        return;
    }
    publish_now(s, in);
    // MQTT 5 publishers hear of a message that matched no subscription, as from Mosquitto.
    if (qos == 1 && s.sink()) {
        s.sink()->acknowledge_stored(commit_wait_kind::puback, packet_id, true, !worker_.routing().last_publish_matched());
    }
}

void publish_intake::publish_now(session& s, const message::init& in, std::function<void(bool)> ack) {
    worker_.publish(message::create(in), s.client_id(), std::move(ack));
    worker_.placement().note_publish(s);
}

std::optional<reason_code> publish_intake::release(session& s, std::uint16_t packet_id) {
    const message_ref held = s.inbound_message(packet_id);
    const bool known = s.inbound_release(packet_id);
    persistence* store = worker_.store();
    if (held && store) {
        route_held(s, packet_id, held);  // PUBCOMP once its deliveries are durable
        return std::nullopt;
    }
    if (known && store && s.journaled()) {
        // PUBCOMP frees the id for the client: only once the store has forgotten it too.
        store->remove_inbound(s, packet_id);
        s.await_commit(commit_wait_kind::pubcomp, packet_id);
        store->after_commit(when_stored(s, commit_wait_kind::pubcomp, packet_id));
        return std::nullopt;
    }
    return known ? reason_code::success : reason_code::packet_identifier_not_found;
}

void publish_intake::route_held(session& s, std::uint16_t packet_id, const message_ref& held) {
    s.await_commit(commit_wait_kind::pubcomp, packet_id);
    worker_.durable_routing().route(
        held,
        [&w = worker_, sid = s.id(), packet_id] {
            // In the same write set as the delivery records: both or neither.
            // (A session that ended meanwhile took its records with it.)
            if (session* found = w.find_session(sid); found && found->journaled()) {
                w.store()->remove_inbound(*found, packet_id);
            }
        },
        [&w = worker_, sid = s.id(), packet_id, held, done = when_stored(s, commit_wait_kind::pubcomp, packet_id)](
            bool committed) {
            // Nothing was written: keep it held, the client sends PUBREL again.
            if (!committed) {
                if (session* again = w.find_session(sid)) again->inbound_add(packet_id, held);
            }
            done(committed);
        });
}

std::function<void(bool)> publish_intake::when_stored(const session& s, commit_wait_kind kind,
                                                      std::uint16_t packet_id) {
    return [&w = worker_, sid = s.id(), kind, packet_id](bool committed) {
        session* found = w.find_session(sid);
        if (!found) return;  // the session ended meanwhile: nobody waits for the answer
        const auto outcome = found->commit_done(kind, packet_id, committed);
        if (!outcome) return;  // another copy still waits
        if (kind == commit_wait_kind::pubrec && !outcome->stored) {
            // A refusing PUBREC ends the flow and frees the id for the client
            // (MQTT 5 section 4.3.3): the session and the store forget it too,
            // or a restart would take the next PUBLISH with this id for a resent one.
            found->inbound_release(packet_id);
            if (auto* store = w.store(); store && found->journaled()) store->remove_inbound(*found, packet_id);
        }
        if (found->sink()) found->sink()->acknowledge_stored(kind, packet_id, outcome->stored, outcome->no_subscribers);
    };
}

}  // namespace strata::core
