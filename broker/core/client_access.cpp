#include "core/client_access.hpp"

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"

namespace strata::core {

using codec::reason_code;

std::chrono::milliseconds client_access::login_blocked_for(const std::string& address) const {
    return worker_.owner().login_throttle().blocked_for(address, std::chrono::steady_clock::now());
}

reason_code client_access::check_password(std::uint16_t listener, bool anonymous_allowed, const std::string& address,
                                          const codec::connect_packet& p) {
    const auto& passwords = worker_.security().for_listener(listener).passwords;
    if (!p.has_username || !passwords) {
        // Without a username, or without a password file, the client is anonymous.
        return anonymous_allowed ? reason_code::success : reason_code::not_authorized;
    }
    auto& throttle = worker_.owner().login_throttle();
    if (passwords->verify(p.username, p.has_password ? codec::as_chars(p.password) : std::string_view{})) {
        throttle.succeeded(address);
        return reason_code::success;
    }
    const auto blocked = throttle.failed(address, std::chrono::steady_clock::now());
    // Mosquitto 2.0 answers a wrong password with "not authorized" (3.1.1: 5), not "bad username or password".
    if (blocked.count() > 0) {
        worker_.log().warning("Failed login for user '", p.username, "' from ", address,
                              "; further connections from this address are refused for ", blocked.count(), " ms.");
    } else {
        worker_.log().notice("Failed login for user '", p.username, "' from ", address, ".");
    }
    return reason_code::not_authorized;
}

reason_code client_access::may_publish(session& s, const plugin::client_view& who, std::string_view topic,
                                              const codec::publish_packet& p, const plugin::message_draft*& rewritten,
                                              std::string& reason) {
    if (worker_.security().any_acl()) {
        if (const auto* acl = worker_.acl_of(s); acl && !acl->may_publish(topic)) return reason_code::not_authorized;
    }
    // Plugins (acl write, message_in) may refuse the message or rewrite it.
    if (worker_.hooks().inspects_publish()) return worker_.hooks().check_publish(who, topic, p, rewritten, reason);
    return reason_code::success;
}

bool client_access::may_publish_will(std::uint16_t listener, const std::string* username,
                                            const std::string& client_id, std::string_view topic) const {
    const auto& acl = worker_.security().for_listener(listener).acl;
    if (!acl) return true;
    return acl->resolve(username, client_id).may_publish(topic);
}

reason_code client_access::may_subscribe(session& s, const plugin::client_view& who, std::string_view raw_filter,
                                                std::string_view mounted_filter, std::string_view mount_point,
                                                const topic::subscription_filter& f, subscription_options& o,
                                                std::uint32_t identifier) {
    if (worker_.security().any_acl()) {
        const auto* acl = worker_.acl_of(s);
        if (acl && !acl->may_subscribe(mounted_filter)) {
            worker_.log().log(config::log_subscribe, "Client ", s.client_id(), " subscription to '", raw_filter,
                              "' denied by the ACL file.");
            return reason_code::not_authorized;
        }
    }
    if (worker_.hooks().inspects_subscribe()) {
        // Plugins (acl subscribe, subscribe) may refuse the filter or lower its QoS.
        const auto refused = worker_.hooks().check_subscribe(who, mount_point, f, o, identifier);
        if (refused != reason_code::success) {
            worker_.log().log(config::log_subscribe, "Client ", s.client_id(), " subscription to '", raw_filter,
                              "' refused by a plugin.");
            return refused;
        }
    }
    return reason_code::success;
}

reason_code client_access::may_unsubscribe(const plugin::client_view& who, std::string_view mount_point,
                                                  const topic::subscription_filter& f) {
    // Plugins (acl unsubscribe, unsubscribe) may keep the subscription.
    if (worker_.hooks().inspects_unsubscribe()) return worker_.hooks().check_unsubscribe(who, mount_point, f);
    return reason_code::success;
}

}  // namespace strata::core
