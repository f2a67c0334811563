// Whether a subscriber may receive a message: the ACL file's read check, then
// the plugins' `acl` read and `message_out` events (docs/plugins.md). One
// filter per message, built once per message (the plugins' view of it is
// made once), asked once per subscriber. Every delivery passes one: the local
// fan-out, a shared group's member, durable planning, and retained messages
// sent on a new subscription.
#pragma once

#include <cstdint>

#include "auth/security.hpp"
#include "core/worker.hpp"
#include "plugin/worker_hooks.hpp"

namespace strata::core {

class delivery_filter {
public:
    delivery_filter(worker& w, const message& m)
        : worker_(w), message_(m), acl_(w.security().any_acl()), inspected_(w.hooks().inspects_delivery()) {
        if (inspected_) w.hooks().prepare_delivery(m);
    }

    // `qos` and `retain` as the subscriber would get them.
    bool allows(session& s, std::uint8_t qos, bool retain) const {
        if (acl_) {
            const auto* acl = worker_.acl_of(s);
            if (acl && !acl->may_receive(message_.topic())) return false;
        }
        return !inspected_ || worker_.hooks().allow_delivery(s, qos, retain);
    }

private:
    worker& worker_;
    const message& message_;
    const bool acl_;
    const bool inspected_;
};

}  // namespace strata::core
