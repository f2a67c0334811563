#include "core/retain_source_check.hpp"

namespace strata::core {

bool retain_source_check::allows(const message& m) {
    if (!cfg_.check_retain_source || !m.has_source()) return true;
    const message_source src = m.source();
    if (security_.any_acl() && !acl_file_allows(src, m.topic())) return false;
    if (!hooks_.wants(STRATA_EVENT_ACL)) return true;
    // The publisher as plugins see an offline client: connection 0, no
    // address, no listener port; protocol 0, as it may never have been online
    // in this process (plugins/hooks.hpp, strata_client).
    plugin::client_view publisher;
    publisher.client_id = src.client_id;
    publisher.username = src.username;
    publisher.has_username = src.has_username;
    publisher.protocol_version = 0;
    return hooks_.acl(publisher, STRATA_ACCESS_WRITE, m.topic(), {}, m.qos(), true, m.payload()) ==
           codec::reason_code::success;
}

bool retain_source_check::acl_file_allows(const message_source& src, std::string_view topic) {
    const auto& acl = security_.for_listener(src.listener).acl;
    if (!acl) return true;
    if (!cached_rules_ || !cached_for_.is(src)) {
        cached_for_ = {src.listener, src.has_username, std::string(src.username), std::string(src.client_id)};
        cached_rules_ = std::make_unique<auth::client_acl>(
            acl->resolve(src.has_username ? &cached_for_.username : nullptr, src.client_id));
    }
    return cached_rules_->may_publish(topic);
}

}  // namespace strata::core
