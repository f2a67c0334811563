// Who may use the HTTP API, and which topics they see: the broker's own
// users and ACLs, as for an MQTT client.
//  - Authentication: a client certificate (http_use_identity_as_username),
//    a bearer token (http_token_file), or HTTP Basic checked by the auth
//    plugins and then the password file, with the failed-login back-off MQTT
//    clients get (one table: failures over HTTP count for MQTT too). Without
//    credentials, anonymous only where http_allow_anonymous says so. A name
//    that nothing verified is never taken on trust.
//  - Authorization: the ACL file's read rules for that user (%u and %c both
//    the username), then the acl plugins, on every topic an answer would
//    show; the listener's mount point bounds the tree; http_admin users may
//    delete.
// Runs on the HTTP query threads (password hashing and plugin round trips
// never touch the I/O thread). Settings are swapped whole on SIGHUP.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/security.hpp"
#include "config/broker_config.hpp"
#include "http/request.hpp"
#include "http/request_checks.hpp"

namespace strata::auth {
class login_throttle;
}
namespace strata::plugin {
class http_requests;
}
namespace strata::storage {
class topic_gate;
}

namespace strata::http {

// Where a request came from.
struct request_origin {
    std::string address;           // the peer's IP address (the back-off's key)
    std::string peer;              // "address:port"
    std::uint16_t listener_port = 0;
    bool allow_anonymous = false;  // the listener's http_allow_anonymous
    std::string mount_point;       // the listener's
    std::string certificate_user;  // the client certificate's CN with http_use_identity_as_username
};

struct identity {
    bool anonymous = true;
    std::string username;  // verified; empty when anonymous
    bool admin = false;
};

// An identity, or the answer that refuses the request (401, 429, 503).
struct auth_outcome {
    std::optional<identity> who;
    api_response refusal;
    std::chrono::seconds retry_after{0};  // 429: when to try again
    std::chrono::milliseconds block_started{0};  // this failure blocked the address for so long
};

class access_control {
public:
    // `plugins` may be null (no plugin host).
    access_control(auth::login_throttle& throttle, plugin::http_requests* plugins);
    ~access_control();

    // The files and settings in force (start-up, SIGHUP).
    void configure(std::shared_ptr<const auth::security> security, const config::http_config& cfg);

    auth_outcome authenticate(const credentials& c, const request_origin& origin);
    // The topics `who` may read, as a gate for the reader (never null).
    std::unique_ptr<storage::topic_gate> gate_for(const identity& who, const request_origin& origin);

private:
    struct settings;
    std::shared_ptr<const settings> current() const;
    auth_outcome verified(const std::string& user, const request_origin& origin, const settings& s);

    auth::login_throttle& throttle_;
    plugin::http_requests* plugins_;
    mutable std::mutex mutex_;
    std::shared_ptr<const settings> settings_;
};

}  // namespace strata::http
