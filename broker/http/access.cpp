#include "http/access.hpp"

#include <algorithm>
#include <unordered_map>

#include "auth/login_throttle.hpp"
#include "plugin/http_requests.hpp"
#include "reader.hpp"

namespace strata::http {

namespace {

// How long a plugin may take to answer for one request.
constexpr auto plugin_timeout = std::chrono::seconds(10);

auth_outcome refuse(unsigned status, std::string message) {
    auth_outcome o;
    o.refusal = error_response(status, std::move(message));
    return o;
}

// The topics one asker may read: the mount point's part of the tree, the ACL
// file's read rules, then the acl plugins (asked in one batch per query).
class acl_gate final : public storage::topic_gate {
public:
    acl_gate(std::string mount_point, std::optional<auth::client_acl> acl, plugin::http_requests* plugins,
             plugin::http_client client)
        : mount_point_(std::move(mount_point)), acl_(std::move(acl)), plugins_(plugins), client_(std::move(client)) {}

    void prepare(const std::vector<std::string_view>& topics) override {
        if (!plugins_) return;
        std::vector<std::string> ask;
        for (auto t : topics) {
            if (allowed_by_file(t) && !answers_.contains(std::string(t))) ask.emplace_back(t);
        }
        if (ask.empty()) return;
        const auto readable = plugins_->may_read(client_, ask, plugin_timeout);
        for (std::size_t i = 0; i < ask.size(); ++i) answers_[std::move(ask[i])] = readable[i];
    }

    bool visible(std::string_view topic) override {
        if (!allowed_by_file(topic)) return false;
        if (!plugins_) return true;
        auto it = answers_.find(std::string(topic));
        if (it == answers_.end()) {
            prepare({topic});
            it = answers_.find(std::string(topic));
        }
        return it != answers_.end() && it->second;
    }

private:
    bool allowed_by_file(std::string_view topic) const {
        return topic.starts_with(mount_point_) && (!acl_ || acl_->may_receive(topic));
    }

    std::string mount_point_;
    std::optional<auth::client_acl> acl_;
    plugin::http_requests* plugins_;  // null: no acl plugin
    plugin::http_client client_;
    std::unordered_map<std::string, bool> answers_;
};

}  // namespace

struct access_control::settings {
    std::shared_ptr<const auth::security> security;
    std::vector<std::string> admins;
};

access_control::access_control(auth::login_throttle& throttle, plugin::http_requests* plugins)
    : throttle_(throttle), plugins_(plugins), settings_(std::make_shared<settings>()) {}

access_control::~access_control() = default;

void access_control::configure(std::shared_ptr<const auth::security> security, const config::http_config& cfg) {
    auto s = std::make_shared<settings>();
    s->security = std::move(security);
    s->admins = cfg.admins;
    std::lock_guard lock(mutex_);
    settings_ = std::move(s);
}

std::shared_ptr<const access_control::settings> access_control::current() const {
    std::lock_guard lock(mutex_);
    return settings_;
}

auth_outcome access_control::verified(const std::string& user, const request_origin& origin, const settings& s) {
    identity who;
    who.anonymous = false;
    who.username = user;
    who.admin = std::find(s.admins.begin(), s.admins.end(), user) != s.admins.end();
    auth_outcome o;
    o.who = std::move(who);
    return o;
}

auth_outcome access_control::authenticate(const credentials& c, const request_origin& origin) {
    const auto s = current();
    // The certificate is the credential on these listeners, as for MQTT.
    if (!origin.certificate_user.empty()) return verified(origin.certificate_user, origin, *s);
    switch (c.type) {
        case credentials::kind::none:
            if (origin.allow_anonymous) {
                auth_outcome o;
                o.who = identity{};
                return o;
            }
            return refuse(401, "authentication required: HTTP Basic with a broker user, or a bearer token");
        case credentials::kind::malformed:
            return refuse(401, "malformed Authorization header: expected Basic base64(user:password) or Bearer TOKEN");
        case credentials::kind::basic:
        case credentials::kind::bearer: break;
    }
    const auto now = auth::login_throttle::clock::now();
    if (const auto blocked = throttle_.blocked_for(origin.address, now); blocked.count() > 0) {
        auto o = refuse(429, "too many failed logins from this address; try again later");
        o.retry_after = std::chrono::duration_cast<std::chrono::seconds>(blocked + std::chrono::milliseconds(999));
        return o;
    }
    std::optional<std::string> user;
    if (c.type == credentials::kind::bearer) {
        if (const auto* tokens = s->security ? s->security->http_tokens() : nullptr) user = tokens->user_of(c.token);
    } else {
        auto verdict = plugin::http_verdict::undecided;
        if (plugins_ && plugins_->authenticates()) {
            plugin::http_client client{c.username, true, c.password, true, origin.peer, origin.listener_port};
            verdict = plugins_->authenticate(client, plugin_timeout);
        }
        if (verdict == plugin::http_verdict::accepted) {
            user = c.username;
        } else if (verdict == plugin::http_verdict::undecided && s->security) {
            const auto& passwords = s->security->http().passwords;
            if (passwords && passwords->verify(c.username, c.password)) user = c.username;
        }
    }
    if (!user) {
        const auto block = throttle_.failed(origin.address, now);
        auto o = refuse(401, c.type == credentials::kind::bearer ? "unknown bearer token" : "bad username or password");
        o.block_started = block;
        return o;
    }
    throttle_.succeeded(origin.address);
    return verified(*user, origin, *s);
}

std::unique_ptr<storage::topic_gate> access_control::gate_for(const identity& who, const request_origin& origin) {
    const auto s = current();
    std::optional<auth::client_acl> acl;
    if (s->security && s->security->http().acl) {
        // An HTTP request has no client id: patterns' %c is the username.
        acl = s->security->http().acl->resolve(who.anonymous ? nullptr : &who.username, who.username);
    }
    plugin::http_requests* plugins = plugins_ && plugins_->checks_acl() ? plugins_ : nullptr;
    plugin::http_client client{who.username, !who.anonymous, {}, false, origin.peer, origin.listener_port};
    return std::make_unique<acl_gate>(origin.mount_point, std::move(acl), plugins, std::move(client));
}

}  // namespace strata::http
