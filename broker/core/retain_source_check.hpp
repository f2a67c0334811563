// check_retain_source, as Mosquitto has it: before a retained message goes
// to a new subscriber, its publisher must still be allowed to write its topic
// (acl_file, then the plugins' `acl` write check, asked as that publisher).
// A reload that takes a client's write access away thus also withdraws what
// it retained, without deleting it: a later reload that grants it again
// brings it back.
//
// One check serves one SUBSCRIBE: a filter may match many retained messages,
// often from the same publisher, so the publisher's resolved ACL rules are
// kept while consecutive messages share a publisher.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "auth/acl_file.hpp"
#include "auth/security.hpp"
#include "config/broker_config.hpp"
#include "plugin/worker_hooks.hpp"
#include "session/message.hpp"

namespace strata::core {

class retain_source_check {
public:
    retain_source_check(const config::broker_config& cfg, const auth::security& security, plugin::worker_hooks& hooks)
        : cfg_(cfg), security_(security), hooks_(hooks) {}

    // Whether `m` may be sent: always when the check is off or the message
    // has no recorded publisher (the broker's own, or stored before strata
    // kept publishers).
    bool allows(const message& m);

private:
    bool acl_file_allows(const message_source& src, std::string_view topic);

    const config::broker_config& cfg_;
    const auth::security& security_;
    plugin::worker_hooks& hooks_;
    // The last publisher whose rules were resolved, and those rules.
    struct publisher {
        std::uint16_t listener = 0;
        bool has_username = false;
        std::string username;
        std::string client_id;
        bool is(const message_source& s) const {
            return listener == s.listener && has_username == s.has_username && username == s.username &&
                   client_id == s.client_id;
        }
    };
    publisher cached_for_;
    std::unique_ptr<auth::client_acl> cached_rules_;
};

}  // namespace strata::core
