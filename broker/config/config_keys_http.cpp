// The HTTP face's keys: strata's own, in Mosquitto's line syntax. An
// `http_listener PORT [ADDRESS]` line starts a block; the listener keys after
// it (TLS, anonymous access, mount point) configure that listener, as
// Mosquitto's listener keys follow a `listener` line. Who may do what is
// global: the broker's password and ACL files, plus tokens and admins.
// docs/http-api.md explains the model; configuration.md lists the keys.
#include <algorithm>
#include <set>

#include "config/config_keys.hpp"

namespace strata::config {

namespace {

using result = std::optional<std::string>;
constexpr result ok = std::nullopt;

constexpr std::string_view no_block = "must come after an 'http_listener PORT [ADDRESS]' line";
// http_mount_point's word for "the whole tree".
constexpr std::string_view no_mount_point = "none";

http_listener_config* current(apply_context& c) {
    return c.cfg.http.listeners.empty() ? nullptr : &c.cfg.http.listeners.back();
}

// A file key of the current block: checked readable, then stored in the field `member` picks.
result set_file(apply_context& c, const key_value& v, std::string tls_config::*member) {
    auto* h = current(c);
    if (!h) return std::string(no_block);
    if (auto e = unreadable_file(v.text)) return e;
    h->tls.*member = std::string(v.text);
    return ok;
}

result set_text(apply_context& c, const key_value& v, std::string tls_config::*member) {
    auto* h = current(c);
    if (!h) return std::string(no_block);
    h->tls.*member = std::string(v.text);
    return ok;
}

result set_flag(apply_context& c, const key_value& v, bool tls_config::*member) {
    auto* h = current(c);
    if (!h) return std::string(no_block);
    h->tls.*member = v.flag;
    return ok;
}

constexpr key_spec table[] = {
    {.name = "http_listener", .kind = value_kind::words, .syntax = "PORT [ADDRESS]", .section = key_section::http,
     .doc = "Serves the HTTP API (docs/http-api.md) on PORT (0 = ephemeral). Without ADDRESS it listens on the "
            "loopback interface only (127.0.0.1 and ::1), unlike an MQTT `listener`: the API reads and deletes "
            "stored data, so exposing it is a decision the conf must state, with an address such as `0.0.0.0` "
            "or a host's own. Repeatable; each line starts a block, and the `http_*` listener keys after it "
            "apply to it. Every request needs a user (HTTP Basic against `password_file` and the auth plugins, "
            "or a bearer token from `http_token_file`) unless `http_allow_anonymous` is true. Needs the history "
            "of messages (`storage rocksdb`). SIGHUP opens added lines, closes removed ones and keeps the "
            "sockets of lines whose address and port did not change (docs/http-api.md, \"Reloading\").",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.words.size() > 2) return "expected PORT [ADDRESS], got '" + std::string(v.text) + "'";
         const auto port = parse_integer(v.words[0]);
         if (!port || *port < 0 || *port > 65535) {
             return "expected a port from 0 to 65535, got '" + std::string(v.words[0]) + "'";
         }
         http_listener_config h;
         h.port = static_cast<std::uint16_t>(*port);
         if (v.words.size() > 1) h.bind_address = std::string(v.words[1]);
         h.defined_at = std::string(c.at);
         c.cfg.http.listeners.push_back(std::move(h));
         return ok;
     }},
    {.name = "http_allow_anonymous", .kind = value_kind::boolean, .scope = key_scope::http_listener_block, .section = key_section::http,
     .default_text = "false",
     .doc = "true: requests without credentials are served, as the ACL file's anonymous client "
            "(its `topic` lines before any `user` line; everything when there is no `acl_file`). Requests "
            "with credentials are still checked, and wrong ones refused. Deleting needs an `http_admin` "
            "user all the same.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* h = current(c);
         if (!h) return std::string(no_block);
         h->allow_anonymous = v.flag;
         return ok;
     }},
    {.name = "http_mount_point", .syntax = "TOPIC_PREFIX | none", .scope = key_scope::http_listener_block, .section = key_section::http,
     .default_text = "(the MQTT listeners' mount_point)",
     .doc = "The part of the topic tree this HTTP listener shows: topic filters in requests get "
            "the prefix, topics in answers lose it, and topics outside it do not exist for the API, as for the "
            "MQTT clients of a listener with that `mount_point`. By default the `mount_point` every MQTT "
            "listener shares (none when they have none); when MQTT listeners have different ones, start-up "
            "asks for this key. `none`: the whole tree.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* h = current(c);
         if (!h) return std::string(no_block);
         if (v.text.find_first_of("+#") != std::string_view::npos) {
             return "must not contain the wildcards + or #, got '" + std::string(v.text) + "'";
         }
         h->mount_point = v.text == no_mount_point ? std::string() : std::string(v.text);
         return ok;
     }},
    {.name = "http_certfile", .syntax = "PATH", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "PEM file with the server certificate (and chain): the listener speaks HTTPS only. "
            "Needs `http_keyfile`. The TLS settings are those of MQTT listeners (docs/security.md).",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_file(c, v, &tls_config::certfile); }},
    {.name = "http_keyfile", .syntax = "PATH", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "PEM file with the private key of `http_certfile`.",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_file(c, v, &tls_config::keyfile); }},
    {.name = "http_cafile", .syntax = "PATH", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "CA certificates that client certificates must be signed by.",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_file(c, v, &tls_config::cafile); }},
    {.name = "http_capath", .syntax = "DIRECTORY", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "Directory of CA certificates in OpenSSL's hashed layout, as `http_cafile`.",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_text(c, v, &tls_config::capath); }},
    {.name = "http_crlfile", .syntax = "PATH", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "PEM revocation list for client certificates.",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_file(c, v, &tls_config::crlfile); }},
    {.name = "http_require_certificate", .kind = value_kind::boolean, .scope = key_scope::http_listener_block, .section = key_section::http,
     .default_text = "false",
     .doc = "true: clients must present a certificate signed by `http_cafile`/`http_capath`, or "
            "the TLS handshake fails. The certificate alone does not name a user unless "
            "`http_use_identity_as_username` is true.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_flag(c, v, &tls_config::require_certificate);
     }},
    {.name = "http_use_identity_as_username", .kind = value_kind::boolean, .scope = key_scope::http_listener_block, .section = key_section::http,
     .default_text = "false",
     .doc = "true: the Common Name of the client certificate is the request's user (for ACLs "
            "and `http_admin`), and no password is asked for. Needs `http_require_certificate true`.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_flag(c, v, &tls_config::use_identity_as_username);
     }},
    {.name = "http_tls_version", .kind = value_kind::choice, .choices = tls_versions, .scope = key_scope::http_listener_block, .section = key_section::http,
     .default_text = "tlsv1.2",
     .doc = "The oldest TLS version accepted; TLS 1.3 is always offered.",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_text(c, v, &tls_config::min_version); }},
    {.name = "http_ciphers", .syntax = "CIPHER_LIST", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "OpenSSL cipher list for TLS 1.2 and older; default: OpenSSL's.",
     .apply = [](apply_context& c, const key_value& v) -> result { return set_text(c, v, &tls_config::ciphers); }},
    {.name = "http_ciphers_tls1.3", .syntax = "SUITES", .scope = key_scope::http_listener_block, .section = key_section::http,
     .doc = "TLS 1.3 cipher suites, colon-separated; default: OpenSSL's.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_text(c, v, &tls_config::ciphersuites);
     }},
    {.name = "http_token_file", .syntax = "PATH", .section = key_section::http,
     .doc = "Bearer tokens for scripts and dashboards (`Authorization: Bearer TOKEN`): one `USER:HASH` line "
            "per token, where HASH is the token's SHA-256, so a copy of the file does not give the tokens away. "
            "`strata token add FILE USER` makes a token, appends its line and prints it once. A token acts as "
            "its user (ACLs, `http_admin`). Re-read on SIGHUP.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable_file(v.text)) return e;
         c.cfg.http.token_file = std::string(v.text);
         return ok;
     }},
    {.name = "http_admin", .syntax = "USER", .section = key_section::http,
     .doc = "A user who may delete stored messages and use the admin endpoints (docs/http-api.md). "
            "Repeatable, one user per line. Other users get 403 there.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.http.admins.emplace_back(v.text);
         return ok;
     }},
    {.name = "http_allowed_hosts", .kind = value_kind::words, .syntax = "NAME [NAME...]",
     .section = key_section::http, .default_text = "(localhost and IP addresses)",
     .doc = "Host names requests may name in their `Host` header, besides `localhost` and IP addresses (the "
            "names a proxy or users reach the API by). Any other name is refused with 421: a web page that "
            "rebinds its own DNS name to this machine cannot read the API through a browser. Repeatable.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         for (const auto& w : v.words) c.cfg.http.allowed_hosts.emplace_back(w);
         return ok;
     }},
    {.name = "http_cors_origin", .syntax = "ORIGIN", .section = key_section::http,
     .doc = "An origin (`https://dashboard.example.com`) whose web pages may call the API from a browser "
            "(CORS; credentials are the browser's to send). Repeatable. Without it, no cross-origin request is "
            "allowed, and one that would change data is refused with 403.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.text.find("://") == std::string_view::npos || v.text.back() == '/') {
             return "expected an origin such as https://host or http://host:port (no path), got '" +
                    std::string(v.text) + "'";
         }
         c.cfg.http.cors_origins.emplace_back(v.text);
         return ok;
     }},
};

}  // namespace

std::span<const key_spec> http_keys() { return table; }

std::optional<std::string> finish_http(broker_config& cfg) {
    std::set<std::string> mount_points;
    for (const auto& l : cfg.listeners) mount_points.insert(l.mount_point);
    for (auto& h : cfg.http.listeners) {
        const auto& t = h.tls;
        if (t.enabled() && (t.certfile.empty() || t.keyfile.empty())) {
            return h.defined_at + ": http_listener: HTTPS needs both http_certfile and http_keyfile";
        }
        if (!t.enabled() && (!t.cafile.empty() || !t.capath.empty() || t.require_certificate)) {
            return h.defined_at + ": http_listener: client certificates need HTTPS (http_certfile, http_keyfile)";
        }
        if (t.use_identity_as_username && !t.require_certificate) {
            return h.defined_at + ": http_listener: http_use_identity_as_username needs http_require_certificate true";
        }
        if (h.mount_point) continue;
        if (mount_points.size() > 1) {
            std::string list;
            for (const auto& m : mount_points) list += (list.empty() ? "" : ", ") + (m.empty() ? "none" : "'" + m + "'");
            return h.defined_at + ": http_listener: the MQTT listeners have different mount points (" + list +
                   "); say which part of the tree this listener shows with http_mount_point PREFIX (or none)";
        }
        h.mount_point = mount_points.empty() ? std::string() : *mount_points.begin();
    }
    return std::nullopt;
}

}  // namespace strata::config
