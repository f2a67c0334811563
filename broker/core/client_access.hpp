// What a client may do, as the protocol layer asks it: log in with the
// listener's password file (or anonymously), publish and subscribe (the ACL
// file first, then the plugins, which may rewrite a message or lower a
// granted QoS). The other direction, whether a subscriber may receive a
// message, is core/delivery_filter.hpp; plugins that authenticate take part
// through protocol/auth_handler.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/packets.hpp"
#include "plugin/table.hpp"
#include "session/session.hpp"
#include "topic/topic_name.hpp"

namespace strata::plugin {
class message_draft;
}

namespace strata::core {

class worker;

class client_access {
public:
    explicit client_access(worker& w) : worker_(w) {}

    // The back-off after failed logins from `address` (auth/login_throttle.hpp):
    // how long its CONNECTs are still refused; 0 when they are not.
    std::chrono::milliseconds login_blocked_for(const std::string& address) const;
    // The listener's password file, or anonymous access when the client gave
    // no username or there is no password file: success or not_authorized.
    // Failed logins are counted per address, and logged.
    codec::reason_code check_password(std::uint16_t listener, bool anonymous_allowed, const std::string& address,
                                      const codec::connect_packet& p);

    // A PUBLISH of `s`'s client on `topic` (behind its mount point): success,
    // or the refusal (the ACL file: not_authorized; a plugin: its code, with
    // its reason in `reason`). When a plugin rewrote the message, `rewritten`
    // is its draft.
    codec::reason_code may_publish(session& s, const plugin::client_view& who, std::string_view topic,
                                   const codec::publish_packet& p, const plugin::message_draft*& rewritten,
                                   std::string& reason);
    // A will at CONNECT, before the session exists: the ACL file of the
    // listener, resolved for this username and client id.
    bool may_publish_will(std::uint16_t listener, const std::string* username, const std::string& client_id,
                          std::string_view topic) const;
    // One SUBSCRIBE filter: `mounted_filter` against the ACL file, then the
    // plugins, which see `f` behind `mount_point` and may lower `o.qos`.
    // success, or the refusal (logged with `raw_filter`, as the client wrote it).
    codec::reason_code may_subscribe(session& s, const plugin::client_view& who, std::string_view raw_filter,
                                     std::string_view mounted_filter, std::string_view mount_point,
                                     const topic::subscription_filter& f, subscription_options& o,
                                     std::uint32_t identifier);
    // One UNSUBSCRIBE filter (plugins only: the ACL file has no unsubscribe rule).
    codec::reason_code may_unsubscribe(const plugin::client_view& who, std::string_view mount_point,
                                       const topic::subscription_filter& f);

private:
    worker& worker_;
};

}  // namespace strata::core
