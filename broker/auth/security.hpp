// The password and ACL files in force, per listener (with
// per_listener_settings, each listener has its own; otherwise all share the
// global ones). Loaded from the configuration at start-up and on SIGHUP, off
// the worker threads, then handed to every worker as one immutable object.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/acl_file.hpp"
#include "auth/password_file.hpp"
#include "auth/token_file.hpp"
#include "config/broker_config.hpp"

namespace strata::auth {

struct listener_security {
    std::shared_ptr<const password_file> passwords;  // null: no password_file
    std::shared_ptr<const acl_file> acl;             // null: no acl_file, everything allowed
};

class security {
public:
    // Loads every file the configuration names (each path once); on failure
    // returns null and sets `error`.
    static std::shared_ptr<const security> load(const config::broker_config& cfg, std::string& error);
    // No password or ACL file anywhere.
    static std::shared_ptr<const security> none();

    // The files of listener `index` (cfg.listeners order).
    const listener_security& for_listener(std::size_t index) const {
        return index < listeners_.size() ? listeners_[index] : listeners_.front();
    }
    // What was skipped in the files ("path:line: reason"), for the log.
    const std::vector<std::string>& warnings() const { return warnings_; }
    // Whether any listener has an ACL file (else delivery needs no check).
    bool any_acl() const { return any_acl_; }

    // The HTTP API's: the global password and ACL files (with
    // per_listener_settings, those of the first listener), and the tokens.
    const listener_security& http() const { return http_; }
    const token_file* http_tokens() const { return http_tokens_.get(); }

private:
    std::vector<listener_security> listeners_;  // never empty
    bool any_acl_ = false;
    listener_security http_;
    std::shared_ptr<const token_file> http_tokens_;  // null: no http_token_file
    std::vector<std::string> warnings_;
};

}  // namespace strata::auth
