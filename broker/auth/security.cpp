#include "auth/security.hpp"

#include <map>

namespace strata::auth {

std::shared_ptr<const security> security::load(const config::broker_config& cfg, std::string& error) {
    auto s = std::make_shared<security>();
    std::map<std::string, std::shared_ptr<const password_file>> passwords;
    std::map<std::string, std::shared_ptr<const acl_file>> acls;
    const auto password_file_at = [&](const std::string& path) -> std::shared_ptr<const password_file> {
        if (path.empty()) return nullptr;
        auto& slot = passwords[path];
        if (!slot && error.empty()) slot = password_file::load(path, error, s->warnings_);
        return slot;
    };
    const auto acl_file_at = [&](const std::string& path) -> std::shared_ptr<const acl_file> {
        if (path.empty()) return nullptr;
        auto& slot = acls[path];
        if (!slot && error.empty()) slot = acl_file::load(path, error);
        return slot;
    };
    for (const auto& l : cfg.listeners) {
        listener_security ls;
        ls.passwords = password_file_at(l.password_file.value_or(cfg.password_file));
        ls.acl = acl_file_at(l.acl_file.value_or(cfg.acl_file));
        s->any_acl_ = s->any_acl_ || ls.acl;
        s->listeners_.push_back(std::move(ls));
    }
    if (s->listeners_.empty()) {
        s->listeners_.push_back({password_file_at(cfg.password_file), acl_file_at(cfg.acl_file)});
        s->any_acl_ = s->listeners_.front().acl != nullptr;
    }
    s->http_ = cfg.per_listener_settings ? s->listeners_.front()
                                         : listener_security{password_file_at(cfg.password_file), acl_file_at(cfg.acl_file)};
    if (!cfg.http.token_file.empty() && error.empty()) s->http_tokens_ = token_file::load(cfg.http.token_file, error);
    if (!error.empty()) return nullptr;
    return s;
}

std::shared_ptr<const security> security::none() {
    auto s = std::make_shared<security>();
    s->listeners_.emplace_back();
    return s;
}

}  // namespace strata::auth
