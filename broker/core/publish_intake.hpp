// The durability glue of what a client publishes: which of three paths an
// accepted PUBLISH takes, by its QoS and by whether the store makes
// acknowledgements durable, and the acknowledgements that wait for the
// store's commits. The protocol layer hands a message over and hears back
// through the session's delivery_sink (acknowledge_stored), at once or after
// a commit, whichever connection the session has by then; it never touches
// the store itself.
//
// The three paths of a PUBLISH (store on with `storage_durability` that
// acknowledges durably, else the last):
//   - QoS 2: held until PUBREL, stored now; PUBREC once stored; at PUBREL the
//     message is routed so that its deliveries are committed together
//     (durable_router.cpp), and PUBCOMP follows that commit;
//   - QoS 1: routed now; PUBACK once the message and its delivery records are
//     committed;
//   - otherwise: acknowledged and routed at once (QoS 2: PUBREC first, then
//     routed, as Mosquitto orders them).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "codec/reason_code.hpp"
#include "session/message.hpp"
#include "session/session.hpp"

namespace strata::core {

class worker;

class publish_intake {
public:
    explicit publish_intake(worker& w) : worker_(w) {}

    // False when a QoS 1/2 message could not be kept now (the store cannot
    // write: disk full or failing); it is then refused, not taken.
    bool can_keep(std::uint8_t qos) const;
    // A client's message, checked and authorized: routed or held, and its
    // acknowledgement sent through s.sink() (QoS 1/2).
    void accept(session& s, std::uint8_t qos, std::uint16_t packet_id, const message::init& in);
    // PUBREL of `packet_id`. Returns the PUBCOMP's reason code when it goes
    // out now, nullopt when it follows a commit (through s.sink()).
    std::optional<codec::reason_code> release(session& s, std::uint16_t packet_id);

private:
    // Publishes a client's message now (worker::publish), and tells the
    // placement where it went.
    void publish_now(session& s, const message::init& in, std::function<void(bool)> ack = {});
    void route_held(session& s, std::uint16_t packet_id, const message_ref& held);
    // The completion of a commit an acknowledgement waits for: it goes to
    // the session (by id), whichever connection it has by then.
    std::function<void(bool)> when_stored(const session& s, commit_wait_kind kind, std::uint16_t packet_id);

    worker& worker_;
};

}  // namespace strata::core
