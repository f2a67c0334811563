// The MQTT listeners' keys: a `listener PORT [ADDRESS]` line starts a block
// and the keys after it (TLS, WebSockets, limits, mount point) apply to that
// listener, as in Mosquitto 2.0; `port` and `bind_address` are the default
// listener's. Semantics follow man mosquitto.conf; where strata differs, the
// row's doc says so.
#include <limits>

#include "config/config_keys.hpp"

namespace strata::config {

namespace {

using result = std::optional<std::string>;
constexpr result ok = std::nullopt;

constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

constexpr key_choice socket_domains[] = {{"ipv4"}, {"ipv6"}};
constexpr key_choice protocols[] = {{"mqtt"}, {"websockets"}};

constexpr key_spec table[] = {
    // ---- Listeners ----
    {.name = "listener", .kind = value_kind::words, .syntax = "PORT [ADDRESS]", .section = key_section::listeners,
     .doc = "Starts a listener block: listen on PORT (0 = an ephemeral port chosen by the kernel, strata only) on "
            "ADDRESS (an IP address or host name; default: every interface). Following listener keys apply to it. "
            "Without any listener, `port` or `bind_address`, strata listens on 1883 on the loopback interface only.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.words.size() > 2) return "expected PORT [ADDRESS], got '" + std::string(v.text) + "'";
         const auto port = parse_integer(v.words[0]);
         if (!port || *port < 0 || *port > 65535) {
             return "expected a port from 0 to 65535, got '" + std::string(v.words[0]) + "'";
         }
         const std::string_view address = v.words.size() > 1 ? v.words[1] : std::string_view{};
         if (address.find('/') != std::string_view::npos) {
             return "Unix socket listeners are not supported yet (" + std::string(release_name(release::later)) + ")";
         }
         return c.parser.open_listener(static_cast<std::uint16_t>(*port), address);
     }},
    {.name = "port", .kind = value_kind::integer, .min = 0, .max = 65535, .section = key_section::listeners,
     .default_text = "1883",
     .doc = "Deprecated (use `listener`): the port of the default listener, which listens on every interface "
            "unless `bind_address` is set. Listener keys before the first `listener` line apply to it.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.parser.default_listener().port = static_cast<std::uint16_t>(v.number);
         return ok;
     }},
    {.name = "bind_address", .syntax = "ADDRESS", .section = key_section::listeners,
     .doc = "Deprecated (use `listener PORT ADDRESS`): the address the default listener binds to (port 1883 "
            "unless `port` says otherwise).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.parser.default_listener().bind_address = std::string(v.text);
         return ok;
     }},
    {.name = "socket_domain", .kind = value_kind::choice, .choices = socket_domains, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "(both)",
     .doc = "Listen on IPv4 only or IPv6 only; by default both.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->domain = v.choice == 0 ? socket_domain::ipv4 : socket_domain::ipv6;
         return ok;
     }},
    {.name = "protocol", .kind = value_kind::choice, .choices = protocols, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "mqtt",
     .doc = "The protocol of the listener: `mqtt` (MQTT over TCP) or `websockets` (MQTT over WebSocket, on any "
            "path, subprotocol `mqtt`; see docs/security.md). With `certfile` either one runs over TLS.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->protocol = v.choice == 0 ? listener_protocol::mqtt : listener_protocol::websockets;
         return ok;
     }},
    {.name = "max_connections", .kind = value_kind::integer, .min = -1, .max = int32_max,
     .scope = key_scope::listener, .section = key_section::listeners, .default_text = "-1",
     .doc = "The most clients connected to this listener at once; -1 = unlimited.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->max_connections = static_cast<int>(v.number);
         return ok;
     }},
    {.name = "max_connection_rate", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .scope = key_scope::listener, .section = key_section::listeners, .default_text = "0",
     .doc = "strata only: new connections a second this listener accepts, with bursts of up to that many after a "
            "quiet second (a token bucket). A connection beyond the rate is closed as soon as it is accepted, "
            "before anything is read from it; refusals are logged at most once a second, with their count. "
            "Clients already connected are not affected. 0 = no limit.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->max_connection_rate = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "mount_point", .syntax = "TOPIC_PREFIX", .scope = key_scope::listener_block,
     .section = key_section::listeners,
     .doc = "Prefix added to every topic of the clients of this listener (and removed from what they receive), "
            "so they only see their part of the tree. Must not contain + or #.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.text.find_first_of("+#") != std::string_view::npos) {
             return "must not contain the wildcards + or #, got '" + std::string(v.text) + "'";
         }
         c.listener->mount_point = std::string(v.text);
         return ok;
     }},
    {.name = "max_qos", .kind = value_kind::integer, .min = 0, .max = 2, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "2",
     .doc = "The highest QoS clients may use (MQTT 5 clients are told in CONNACK; publishing above it "
            "disconnects).",
     .one_value_for_all_listeners = true, .alias = "maximum_qos",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_qos = static_cast<std::uint8_t>(v.number);
         return ok;
     }},
    {.name = "max_topic_alias", .kind = value_kind::integer, .min = 0, .max = 65535, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "10",
     .doc = "How many topic aliases an MQTT 5 client may create; 0 = none.",
     .one_value_for_all_listeners = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_topic_alias = static_cast<std::uint16_t>(v.number);
         return ok;
     }},
    {.name = "max_topic_levels", .kind = value_kind::integer, .min = 0, .max = 65535, .section = key_section::limits,
     .default_text = "200",
     .doc = "strata: the most levels a topic name or filter may have. A guard against hostile input (a topic of "
            "thousands of `/` costs every subscription match): a PUBLISH over it is a protocol error (MQTT 5: "
            "DISCONNECT 0x82), a SUBSCRIBE or UNSUBSCRIBE a malformed packet (0x81); 3.1.1 clients are "
            "disconnected. 200 is Mosquitto's fixed limit. 0 = no limit.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_topic_levels = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "set_tcp_nodelay", .kind = value_kind::boolean, .section = key_section::listeners,
     .default_text = "false",
     .doc = "Accepted for compatibility: strata always disables Nagle's algorithm and batches its writes itself.",
     .status = key_status::ignored, .apply = [](apply_context&, const key_value&) -> result { return ok; }},
    later("bind_interface", release::later, key_section::listeners, "Bind a listener to a network interface."),
    later("http_dir", release::later, key_section::listeners, "Serve files over HTTP on a websockets listener."),
    {.name = "websockets_headers_size", .kind = value_kind::integer, .min = 0, .max = 65536,
     .section = key_section::listeners, .default_text = "4096",
     .doc = "The largest WebSocket upgrade request (HTTP request line and headers) accepted, in bytes, on every "
            "websockets listener; a larger one is answered 431 and closed. 0 = 4096. (Mosquitto's default is 1024, "
            "which browsers with cookies exceed.)",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.websockets_headers_size = v.number == 0 ? 4096 : static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "websockets_log_level", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .section = key_section::logging, .default_text = "0",
     .doc = "Accepted for compatibility: libwebsockets' log level. strata has no libwebsockets; `log_type "
            "websockets` logs WebSocket handshakes.",
     .status = key_status::ignored, .apply = [](apply_context&, const key_value&) -> result { return ok; }},
    {.name = "certfile", .syntax = "PATH", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "PEM file with the server certificate (and its chain): turns TLS on for the listener. Needs `keyfile`. "
            "Re-read on SIGHUP: new connections get the new certificate, open ones keep theirs.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable_file(v.text)) return e;
         c.listener->tls.certfile = std::string(v.text);
         return ok;
     }},
    {.name = "keyfile", .syntax = "PATH", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "PEM file with the private key of `certfile` (not encrypted with a passphrase).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable_file(v.text)) return e;
         c.listener->tls.keyfile = std::string(v.text);
         return ok;
     }},
    {.name = "cafile", .syntax = "PATH", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "PEM file of the CA certificates that client certificates must be signed by (with "
            "`require_certificate true`).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable_file(v.text)) return e;
         c.listener->tls.cafile = std::string(v.text);
         return ok;
     }},
    {.name = "capath", .syntax = "DIRECTORY", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "Directory of CA certificates in OpenSSL's hashed layout (`openssl rehash`), as `cafile`.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.capath = std::string(v.text);
         return ok;
     }},
    {.name = "tls_version", .kind = value_kind::choice, .choices = tls_versions, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "tlsv1.2",
     .doc = "The oldest TLS version accepted; TLS 1.3 is always offered.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.min_version = std::string(v.text);
         return ok;
     }},
    {.name = "ciphers", .syntax = "CIPHER_LIST", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "OpenSSL cipher list for TLS 1.2 and older (`openssl ciphers` syntax); default: OpenSSL's.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.ciphers = std::string(v.text);
         return ok;
     }},
    {.name = "ciphers_tls1.3", .syntax = "SUITES", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "TLS 1.3 cipher suites, colon-separated (e.g. `TLS_AES_256_GCM_SHA384`); default: OpenSSL's.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.ciphersuites = std::string(v.text);
         return ok;
     }},
    {.name = "require_certificate", .kind = value_kind::boolean, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "false",
     .doc = "true: clients must present a certificate signed by `cafile`/`capath`, or the TLS handshake fails. "
            "false: no client certificate is asked for.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.require_certificate = v.flag;
         return ok;
     }},
    {.name = "use_identity_as_username", .kind = value_kind::boolean, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "false",
     .doc = "true: the Common Name of the client certificate is the client's username (for ACLs and plugins), "
            "whatever CONNECT says, and the password file is not consulted for this listener. Needs "
            "`require_certificate true`.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.use_identity_as_username = v.flag;
         return ok;
     }},
    {.name = "use_subject_as_username", .kind = value_kind::boolean, .scope = key_scope::listener,
     .section = key_section::listeners, .default_text = "false",
     .doc = "As `use_identity_as_username`, with the certificate's whole subject in RFC 2253 form "
            "(`CN=sensor-1,O=Example`).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.listener->tls.use_subject_as_username = v.flag;
         return ok;
     }},
    {.name = "crlfile", .syntax = "PATH", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "PEM certificate revocation list: client certificates it lists are refused. Needs "
            "`require_certificate true`.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable_file(v.text)) return e;
         c.listener->tls.crlfile = std::string(v.text);
         return ok;
     }},
    {.name = "dhparamfile", .syntax = "PATH", .scope = key_scope::listener, .section = key_section::listeners,
     .doc = "PEM Diffie-Hellman parameters for DHE cipher suites; without it OpenSSL picks built-in groups.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable_file(v.text)) return e;
         c.listener->tls.dhparamfile = std::string(v.text);
         return ok;
     }},
    later("tls_engine", release::tls, key_section::listeners, "OpenSSL engine."),
    later("tls_engine_kpass_sha1", release::tls, key_section::listeners, "SHA-1 of the engine key password."),
    later("tls_keyform", release::tls, key_section::listeners, "Private key form (pem or engine)."),
    later("psk_hint", release::tls, key_section::listeners, "Enables TLS-PSK on the listener."),
    later("psk_file", release::tls, key_section::access, "Pre-shared keys file."),
};

}  // namespace

std::span<const key_spec> listener_keys() { return table; }

}  // namespace strata::config
