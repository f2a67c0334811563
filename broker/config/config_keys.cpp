// The key table: access, limits, logging, the process and the bridge keys of
// a later release, and all_keys(), which joins it with the listeners', the
// store's, the HTTP face's and the exporters' tables (config_keys_*.cpp).
// Semantics follow Mosquitto 2.0 (man mosquitto.conf and the behaviour of
// mosquitto 2.0.11); where strata differs, the row's doc says so.
#include "config/config_keys.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

namespace strata::config {

namespace {

using result = std::optional<std::string>;
constexpr result ok = std::nullopt;

constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t uint32_max = std::numeric_limits<std::uint32_t>::max();

constexpr key_choice slow_client_actions[] = {{"drop_qos0"}, {"disconnect"}};
constexpr key_choice log_dests[] = {{"stdout"}, {"stderr"}, {"syslog"}, {"file"}, {"none"},
                                    {"topic", release::later}, {"dlt", release::later}};
constexpr key_choice log_types[] = {{"error"}, {"warning"}, {"notice"}, {"information"}, {"debug"},
                                    {"subscribe"}, {"unsubscribe"}, {"websockets"}, {"all"}, {"none"}};
// Same order as log_types.
constexpr std::uint32_t log_type_bits[] = {log_error,     log_warning,     log_notice,     log_information, log_debug,
                                           log_subscribe, log_unsubscribe, log_websockets, log_all,         0};

result unreadable(std::string_view path) { return unreadable_file(path); }

constexpr key_spec table[] = {
    // ---- Access ----
    {.name = "per_listener_settings", .kind = value_kind::boolean, .section = key_section::access,
     .default_text = "false",
     .doc = "true: `allow_anonymous`, `password_file`, `acl_file`, `allow_zero_length_clientid` and "
            "`auto_id_prefix` apply to the listener block they are in instead of every listener. Must come before "
            "those keys.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         return c.parser.set_per_listener_settings(v.flag);
     }},
    {.name = "allow_anonymous", .kind = value_kind::boolean, .scope = key_scope::security,
     .section = key_section::access, .default_text = "false",
     .doc = "Whether clients may connect without being authenticated. Defaults to false, except without any "
            "listener (loopback only) where it defaults to true; strata keeps an explicit false there (Mosquitto "
            "2.0 overrides it). With plugins, a plugin that answers the `auth_basic` event decides; this value "
            "applies when none does (docs/plugins.md).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (c.listener) {
             c.listener->allow_anonymous = v.flag;
         } else {
             c.cfg.allow_anonymous = v.flag;
         }
         return ok;
     }},
    {.name = "allow_zero_length_clientid", .kind = value_kind::boolean, .scope = key_scope::security,
     .section = key_section::access, .default_text = "true",
     .doc = "Whether clients may connect with an empty client id and get a generated one.",
     .one_value_for_all_listeners = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.allow_zero_length_clientid = v.flag;
         return ok;
     }},
    {.name = "auto_id_prefix", .syntax = "PREFIX", .scope = key_scope::security, .section = key_section::access,
     .default_text = "auto-", .doc = "Prefix of generated client ids.", .one_value_for_all_listeners = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.auto_id_prefix = std::string(v.text);
         return ok;
     }},
    {.name = "check_retain_source", .kind = value_kind::boolean, .section = key_section::access,
     .default_text = "true",
     .doc = "Before a retained message is sent to a new subscriber, check that its publisher may still write to its "
            "topic (acl_file and plugins' `acl` write check, as the publisher: client id, username and listener, "
            "kept with the message in memory and in the store). A message whose publisher lost write access is not "
            "sent. Retained messages the broker made itself, and those stored before strata kept publishers, are "
            "always sent. Re-read on SIGHUP.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.check_retain_source = v.flag;
         return ok;
     }},
    {.name = "password_file", .syntax = "PATH", .scope = key_scope::security, .section = key_section::access,
     .doc = "Mosquitto password file: `username:hash` lines with `$6$` (SHA-512) or `$7$` (PBKDF2-SHA-512) hashes, as "
            "made by `mosquitto_passwd` or `strata passwd`. Clients that send a username must match it; clients "
            "without one are anonymous (`allow_anonymous`). Re-read on SIGHUP (a broken file keeps the old one).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable(v.text)) return e;
         if (c.listener) c.listener->password_file = std::string(v.text);
         else c.cfg.password_file = std::string(v.text);
         return ok;
     }},
    {.name = "acl_file", .syntax = "PATH", .scope = key_scope::security, .section = key_section::access,
     .doc = "Mosquitto ACL file (`topic`, `user`, `pattern` with %c and %u, access read, write, readwrite or deny; "
            "docs/security.md). Checked on PUBLISH, on SUBSCRIBE and on every delivery, retained messages and wills "
            "included. Re-read on SIGHUP.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (auto e = unreadable(v.text)) return e;
         if (c.listener) c.listener->acl_file = std::string(v.text);
         else c.cfg.acl_file = std::string(v.text);
         return ok;
     }},
    {.name = "failed_login_limit", .kind = value_kind::integer, .min = 0, .max = 1000000,
     .section = key_section::access, .default_text = "5",
     .doc = "strata: after this many failed logins in a row from one address, its CONNECTs are answered \"not "
            "authorized\" only when a block ends (at most 10 s later), 1 s at first, twice as long after each further "
            "failure (up to `failed_login_block_max`); a successful login clears it. 0 = off.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.failed_login_limit = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "failed_login_block_max", .kind = value_kind::integer, .min = 1, .max = 86400,
     .section = key_section::access, .default_text = "300",
     .doc = "strata: the longest an address is blocked after failed logins, in seconds.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.failed_login_block_max = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "plugin", .syntax = "PATH", .section = key_section::access,
     .doc = "Loads a strata plugin (a shared object exporting `strata_plugin_version`, `strata_plugin_init` and "
            "`strata_plugin_cleanup`, see docs/plugins.md). Repeat the line for several plugins; their callbacks "
            "run in the order of the lines. Plugins apply to every listener. `--check` loads each one to check it. "
            "Changes take effect at restart; SIGHUP passes new `plugin_opt_*` values to the reload event.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.plugins.push_back({std::string(v.text), {}, std::string(c.at)});
         return ok;
     }},
    {.name = "plugin_opt_*", .syntax = "VALUE", .section = key_section::access,
     .doc = "`plugin_opt_KEY VALUE`: option KEY of the plugin of the last `plugin` line (the plugin receives KEY "
            "without the `plugin_opt_` prefix). Each KEY at most once per plugin.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (c.cfg.plugins.empty()) return "must come after a 'plugin' line";
         constexpr std::string_view prefix = "plugin_opt_";
         const auto name = c.key.substr(prefix.size());
         auto& options = c.cfg.plugins.back().options;
         const bool seen = std::any_of(options.begin(), options.end(), [&](const auto& o) { return o.first == name; });
         if (seen) return "set twice for the plugin at " + c.cfg.plugins.back().defined_at;
         options.emplace_back(std::string(name), std::string(v.text));
         return ok;
     }},
    {.name = "auth_plugin", .section = key_section::access,
     .doc = "the Mosquitto 1.x auth plugin API is not supported (strata plugins have their own); write a "
            "strata plugin (docs/plugins.md) and load it with `plugin`.",
     .status = key_status::not_supported},
    {.name = "auth_opt_*", .section = key_section::access,
     .doc = "the Mosquitto 1.x auth plugin API is not supported, nor its options; use `plugin_opt_*` with a "
            "strata plugin (docs/plugins.md).",
     .status = key_status::not_supported},
    later("auth_plugin_deny_special_chars", release::auth, key_section::access,
          "Deny + and # in usernames and client ids before plugin ACL checks."),
    later("use_username_as_clientid", release::auth, key_section::access, "Replace the client id with the username."),
    later("clientid_prefixes", release::auth, key_section::access, "Only allow client ids with this prefix."),

    // ---- Limits ----
    {.name = "max_inflight_messages", .kind = value_kind::integer, .min = 0, .max = 65535,
     .section = key_section::limits, .default_text = "20",
     .doc = "Outgoing QoS 1 and 2 messages in flight per client; 0 = no maximum.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_inflight_messages = static_cast<std::uint16_t>(v.number);
         return ok;
     }},
    {.name = "max_inflight_bytes", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .section = key_section::limits, .default_text = "0",
     .doc = "Payload bytes of outgoing QoS 1 and 2 messages in flight per client (sent and not yet "
            "acknowledged). A message goes in flight while those in flight hold fewer bytes than this, so with "
            "100 a message of more than 100 bytes still goes, but alone; the others wait in the client's queue. "
            "With `max_inflight_messages` (and the client's Receive Maximum) whichever limit is reached first "
            "holds messages back. Only payloads count, as in Mosquitto. 0 = no maximum.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_inflight_bytes = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "max_queued_messages", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .section = key_section::limits, .default_text = "1000",
     .doc = "QoS 1 and 2 messages queued per client beyond those in flight (while the window is full or the "
            "client is offline); more are dropped. See also `max_queued_bytes`. 0 = no maximum.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_queued_messages = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "max_queued_bytes", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .section = key_section::limits, .default_text = "0",
     .doc = "Payload bytes of the messages queued per client beyond those in flight (QoS 1 and 2, and QoS 0 "
            "for offline clients with `queue_qos0_messages`). A message is queued while the queue holds fewer "
            "bytes than this, else dropped; with `max_queued_messages` whichever limit is reached first drops. "
            "Only payloads count, as in Mosquitto. 0 = no maximum.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_queued_bytes = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "queue_qos0_messages", .kind = value_kind::boolean, .section = key_section::limits,
     .default_text = "false",
     .doc = "Also queue QoS 0 messages for disconnected persistent clients (counted in max_queued_messages and "
            "max_queued_bytes).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.queue_qos0_messages = v.flag;
         return ok;
     }},
    {.name = "message_size_limit", .kind = value_kind::integer, .min = 0, .max = 268435455,
     .section = key_section::limits, .default_text = "0",
     .doc = "Largest PUBLISH payload accepted, in bytes; larger messages are dropped. 0 = no limit.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.message_size_limit = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "max_packet_size", .kind = value_kind::integer, .min = 0, .max = uint32_max,
     .syntax = "0 | 20..4294967295", .section = key_section::limits, .default_text = "0",
     .doc = "Largest packet accepted from clients, in bytes (told to MQTT 5 clients); bigger packets disconnect. "
            "0 = no limit (strata also accepts 0, which Mosquitto refuses).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.number > 0 && v.number < 20) {
             return "expected 0 or an integer from 20 to 4294967295, got '" + std::string(v.text) + "'";
         }
         c.cfg.max_packet_size = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "max_keepalive", .kind = value_kind::integer, .min = 10, .max = 65535, .section = key_section::limits,
     .default_text = "65535",
     .doc = "Longest keep-alive allowed, in seconds; MQTT 5 clients asking for more are told to use this.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.max_keepalive = static_cast<std::uint16_t>(v.number);
         return ok;
     }},
    {.name = "persistent_client_expiration", .kind = value_kind::duration, .min = 1, .max = uint32_max,
     .section = key_section::limits, .default_text = "(never)",
     .doc = "Remove persistent sessions whose client has not reconnected for this long.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.persistent_client_expiration = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "retain_available", .kind = value_kind::boolean, .section = key_section::limits,
     .default_text = "true",
     .doc = "false: retained messages are not supported and clients that publish one are disconnected.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.retain_available = v.flag;
         return ok;
     }},
    {.name = "upgrade_outgoing_qos", .kind = value_kind::boolean, .section = key_section::limits,
     .default_text = "false",
     .doc = "Deliver messages at the QoS of the subscription even when published at a lower QoS (non-standard).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.upgrade_outgoing_qos = v.flag;
         return ok;
     }},
    {.name = "connect_timeout", .kind = value_kind::integer, .min = 1, .max = 65535,
     .section = key_section::limits, .default_text = "10",
     .doc = "strata only: seconds a new connection has to send its whole CONNECT (bytes trickling in do not "
            "extend it) before it is closed without an answer.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.connect_timeout = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "max_client_output_bytes", .kind = value_kind::words, .syntax = "SIZE",
     .section = key_section::limits, .default_text = "8MB",
     .doc = "strata only: bytes of encoded packets waiting for one client's socket, beyond the write under way "
            "(`0`, `500KB`, `8MB`, ...). A client that reads slower than messages arrive for it, or not at all, "
            "reaches it; then `slow_client_action` decides about its QoS 0 messages, and its own packets are not "
            "read until its output drains below this (so that the answers to them cannot pile up either). QoS 1 "
            "and 2 messages are not affected: they wait in the client's session, bounded by the in-flight and "
            "queue limits. A client thus holds at most about twice this much output. 0 = no limit.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         const auto bytes = v.words.size() == 1 ? parse_size(v.words[0]) : std::nullopt;
         if (!bytes) return "expected a size such as 0, 500KB, 8MB or 1GB, got '" + std::string(v.text) + "'";
         c.cfg.max_client_output_bytes = static_cast<std::uint64_t>(*bytes);
         return ok;
     }},
    {.name = "slow_client_action", .kind = value_kind::choice, .choices = slow_client_actions,
     .section = key_section::limits, .default_text = "drop_qos0",
     .doc = "strata only: what happens when a client's pending output has reached `max_client_output_bytes`. "
            "`drop_qos0`: QoS 0 messages that do not fit are dropped, counted in "
            "`$SYS/broker/publish/messages/dropped`; the first drop of a connection is logged, and the total when "
            "it closes. `disconnect`: the client is disconnected (its unsent backlog is discarded; MQTT 5: "
            "DISCONNECT 0x97 Quota exceeded), its will is published, and its session is kept as its expiry says.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.slow_client = v.choice == 0 ? slow_client_action::drop_qos0 : slow_client_action::disconnect;
         return ok;
     }},
    {.name = "memory_limit", .kind = value_kind::integer, .min = 0, .max = std::numeric_limits<std::int64_t>::max(),
     .section = key_section::limits, .default_text = "0",
     .doc = "Cap on the broker's heap, in bytes; 0 = no limit. As in Mosquitto, while the heap is over it an "
            "incoming PUBLISH is dropped and its publisher disconnected (MQTT 5: DISCONNECT 0x97, quota "
            "exceeded), an outgoing PUBLISH is dropped and its receiver disconnected the same way, and an "
            "offline session queues nothing (counted as dropped). strata checks the whole process heap (the store's memtables and caches included) four "
            "times a second, so set it with that in mind; the log says when the heap crosses it. Re-read on "
            "SIGHUP.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.memory_limit = static_cast<std::uint64_t>(v.number);
         return ok;
     }},
    {.name = "retry_interval", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .section = key_section::limits,
     .doc = "Accepted for compatibility: removed in Mosquitto 2.0, which also ignores it.",
     .status = key_status::ignored, .apply = [](apply_context&, const key_value&) -> result { return ok; }},
    {.name = "allow_duplicate_messages", .kind = value_kind::boolean, .section = key_section::limits,
     .default_text = "true",
     .doc = "Accepted for compatibility: deprecated in Mosquitto 2.0. A client with overlapping subscriptions "
            "gets a message once per matching subscription, as the MQTT specification allows.",
     .status = key_status::ignored, .apply = [](apply_context&, const key_value&) -> result { return ok; }},

    // ---- Logging ----
    {.name = "log_dest", .kind = value_kind::words, .choices = log_dests,
     .syntax = "stdout | stderr | syslog | file PATH | none", .section = key_section::logging,
     .default_text = "stderr",
     .doc = "Where log lines go; repeat the line for several destinations (one log file at most). The first "
            "`log_dest` line replaces the default; `none` turns logging off. An error that stops start-up is "
            "also written to stderr when stderr is not a destination (Mosquitto writes it to the destinations "
            "only, so a service whose log goes to a file exits without a word in its journal).",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto& log = c.cfg.log;
         if (!log.explicitly_set) {
             log.to_stdout = log.to_stderr = log.to_syslog = false;
             log.file.clear();
             log.explicitly_set = true;
         }
         const std::string_view dest = log_dests[v.choice].word;
         if (dest == "file") {
             auto path = v.text.substr(v.words[0].size());
             path.remove_prefix(std::min(path.find_first_not_of(" \t"), path.size()));
             if (path.empty()) return "expected file PATH, got 'file' without a path";
             if (!log.file.empty()) return "only one log file can be set, already '" + log.file + "'";
             log.file = std::string(path);
             return ok;
         }
         if (v.words.size() > 1) {
             return "unexpected '" + std::string(v.words[1]) + "' after '" + std::string(dest) + "'";
         }
         if (dest == "stdout") log.to_stdout = true;
         if (dest == "stderr") log.to_stderr = true;
         if (dest == "syslog") log.to_syslog = true;
         if (dest == "none") {
             log.to_stdout = log.to_stderr = log.to_syslog = false;
             log.file.clear();
         }
         return ok;
     }},
    {.name = "log_type", .kind = value_kind::choice, .choices = log_types, .section = key_section::logging,
     .default_text = "error, warning, notice, information",
     .doc = "Which messages are logged; repeat the line for several types. The first `log_type` line replaces "
            "the default; `all` and `none` set every type or none. `-v` sets all.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto& log = c.cfg.log;
         if (!log.types_set) {
             log.types = 0;
             log.types_set = true;
         }
         const auto bits = log_type_bits[v.choice];
         log.types = (bits == 0 || bits == log_all) ? bits : (log.types | bits);
         return ok;
     }},
    {.name = "log_timestamp", .kind = value_kind::boolean, .section = key_section::logging, .default_text = "true",
     .doc = "Start each log line with a timestamp.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.log.timestamp = v.flag;
         return ok;
     }},
    {.name = "log_timestamp_format", .syntax = "STRFTIME_FORMAT", .section = key_section::logging,
     .doc = "strftime(3) format of the timestamp, e.g. `%Y-%m-%dT%H:%M:%S`; by default seconds since the epoch.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.log.timestamp_format = std::string(v.text);
         return ok;
     }},
    {.name = "log_facility", .kind = value_kind::integer, .min = 0, .max = 7, .section = key_section::logging,
     .doc = "Accepted for compatibility (N selects localN in Mosquitto); strata's syslog lines use the default "
            "facility.",
     .status = key_status::ignored, .apply = [](apply_context&, const key_value&) -> result { return ok; }},
    {.name = "connection_messages", .kind = value_kind::boolean, .section = key_section::logging,
     .default_text = "true", .doc = "Log clients connecting and disconnecting.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.log.connection_messages = v.flag;
         return ok;
     }},

    // ---- Process ----
    {.name = "include_dir", .syntax = "DIRECTORY", .section = key_section::process,
     .doc = "Read every `*.conf` file of the directory, in Mosquitto's order (A.conf, a.conf, B.conf, ...). "
            "Only in the main file; each included file starts outside any listener block.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result { return c.parser.include_dir(v.text); }},
    {.name = "pid_file", .syntax = "PATH", .section = key_section::process,
     .doc = "Write the process id to this file.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.pid_file = std::string(v.text);
         return ok;
     }},
    {.name = "user", .syntax = "USERNAME", .section = key_section::process,
     .doc = "When started as root, switch to this user after reading the configuration. Unlike Mosquitto, "
            "strata stays root when it is not set.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.user = std::string(v.text);
         return ok;
     }},
    {.name = "threads", .kind = value_kind::integer, .min = 0, .max = 1024, .section = key_section::process,
     .default_text = "0", .doc = "strata only: worker threads; 0 = one per core.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.threads = static_cast<unsigned>(v.number);
         return ok;
     }},
    {.name = "publisher_affinity", .kind = value_kind::boolean, .section = key_section::process,
     .default_text = "true",
     .doc = "strata only: a client that only publishes, and whose messages all go to subscribers on one other "
            "worker thread, moves to that thread with its session while the thread is not busy, which saves a "
            "thread wake-up per message (docs/architecture.md, \"Where a publisher lives\").",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.publisher_affinity = v.flag;
         return ok;
     }},
    {.name = "sys_interval", .kind = value_kind::integer, .min = 0, .max = 65535, .section = key_section::process,
     .default_text = "10", .doc = "Seconds between updates of the $SYS topics; 0 = no $SYS topics.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.sys_interval = static_cast<std::uint32_t>(v.number);
         return ok;
     }},

    // ---- Bridges (one release) ----
    later("connection", release::bridge, key_section::process, "Starts a bridge to another broker."),
    later("address", release::bridge, key_section::process, "Address of the remote broker."),
    later("addresses", release::bridge, key_section::process, "Addresses of the remote broker."),
    later("topic", release::bridge, key_section::process, "Topic pattern shared with the remote broker."),
    later("bridge_alpn", release::bridge, key_section::process, "TLS ALPN of the bridge."),
    later("bridge_attempt_unsubscribe", release::bridge, key_section::process, "Unsubscribe from out topics."),
    later("bridge_bind_address", release::bridge, key_section::process, "Local address of the bridge."),
    later("bridge_cafile", release::bridge, key_section::process, "CA certificates of the bridge."),
    later("bridge_capath", release::bridge, key_section::process, "CA directory of the bridge."),
    later("bridge_certfile", release::bridge, key_section::process, "Client certificate of the bridge."),
    later("bridge_identity", release::bridge, key_section::process, "PSK identity of the bridge."),
    later("bridge_insecure", release::bridge, key_section::process, "Skip host name verification."),
    later("bridge_keyfile", release::bridge, key_section::process, "Private key of the bridge."),
    later("bridge_max_packet_size", release::bridge, key_section::process, "Largest packet sent to the remote."),
    later("bridge_outgoing_retain", release::bridge, key_section::process, "Keep the retain flag going out."),
    later("bridge_protocol_version", release::bridge, key_section::process, "MQTT version of the bridge."),
    later("bridge_psk", release::bridge, key_section::process, "Pre-shared key of the bridge."),
    later("bridge_require_ocsp", release::bridge, key_section::process, "Require OCSP from the remote."),
    later("bridge_tls_version", release::bridge, key_section::process, "TLS version of the bridge."),
    later("cleansession", release::bridge, key_section::process, "Clean session of the bridge."),
    later("local_cleansession", release::bridge, key_section::process, "Clean session on the local side."),
    later("clientid", release::bridge, key_section::process, "Old name of remote_clientid."),
    later("remote_clientid", release::bridge, key_section::process, "Client id on the remote broker."),
    later("local_clientid", release::bridge, key_section::process, "Client id on the local broker."),
    later("username", release::bridge, key_section::process, "Old name of remote_username."),
    later("remote_username", release::bridge, key_section::process, "Username on the remote broker."),
    later("local_username", release::bridge, key_section::process, "Username on the local broker."),
    later("password", release::bridge, key_section::process, "Old name of remote_password."),
    later("remote_password", release::bridge, key_section::process, "Password on the remote broker."),
    later("local_password", release::bridge, key_section::process, "Password on the local broker."),
    later("notifications", release::bridge, key_section::process, "Publish the bridge state."),
    later("notifications_local_only", release::bridge, key_section::process, "Publish the state locally only."),
    later("notification_topic", release::bridge, key_section::process, "Topic of the bridge state."),
    later("keepalive_interval", release::bridge, key_section::process, "Keep-alive of the bridge."),
    later("idle_timeout", release::bridge, key_section::process, "Idle time before a lazy bridge stops."),
    later("restart_timeout", release::bridge, key_section::process, "Delay before reconnecting."),
    later("round_robin", release::bridge, key_section::process, "Treat the addresses as equals."),
    later("start_type", release::bridge, key_section::process, "automatic, lazy or once."),
    later("threshold", release::bridge, key_section::process, "Queued messages that start a lazy bridge."),
    later("try_private", release::bridge, key_section::process, "Tell the remote this is a bridge."),
};

// Levenshtein distance, small strings only.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string_view release_name(release r) {
    switch (r) {
        case release::none: return "";
        case release::tls: return "TLS release";
        case release::auth: return "authentication release";
        case release::websockets: return "WebSocket release";
        case release::bridge: return "bridge release";
        case release::storage: return "storage release";
        case release::later: return "a later release";
    }
    return "";
}

std::optional<std::string> unreadable_file(std::string_view path) {
    const std::ifstream in{std::string(path)};
    if (in) return ok;
    return "cannot read '" + std::string(path) + "': " + std::strerror(errno);
}

std::span<const key_spec> all_keys() {
    // One list for the parser and the reference; the listeners', the
    // store's, the HTTP face's and the exporters' keys live in files of their own.
    static const std::vector<key_spec> keys = [] {
        const auto listeners = listener_keys();
        std::vector<key_spec> v(listeners.begin(), listeners.end());
        v.insert(v.end(), std::begin(table), std::end(table));
        const auto storage = storage_keys();
        v.insert(v.end(), storage.begin(), storage.end());
        const auto http = http_keys();
        v.insert(v.end(), http.begin(), http.end());
        const auto more = exporter_keys();
        v.insert(v.end(), more.begin(), more.end());
        return v;
    }();
    return keys;
}

const key_spec* find_key(std::string_view name) {
    for (const auto& k : all_keys()) {
        if (k.name == name || (!k.alias.empty() && k.alias == name)) return &k;
        if (k.name.ends_with('*')) {
            const auto prefix = k.name.substr(0, k.name.size() - 1);
            if (name.size() > prefix.size() && name.starts_with(prefix)) return &k;
        }
    }
    return nullptr;
}

std::string_view closest_key(std::string_view name) {
    // Close enough to be a typo: at most 2 edits, and fewer than a third of the name.
    std::string_view best;
    std::size_t best_distance = std::min<std::size_t>(3, name.size() / 3 + 1);
    for (const auto& k : all_keys()) {
        if (k.name.ends_with('*')) continue;
        const auto d = edit_distance(name, k.name);
        if (d < best_distance) {
            best = k.name;
            best_distance = d;
        }
    }
    return best;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t n = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
    return n;
}

std::optional<std::int64_t> parse_size(std::string_view text) {
    static constexpr std::pair<std::string_view, std::int64_t> units[] = {
        {"KB", 1ll << 10}, {"MB", 1ll << 20}, {"GB", 1ll << 30}, {"B", 1}};
    for (const auto& [suffix, unit] : units) {
        if (!text.ends_with(suffix) || text.size() <= suffix.size()) continue;
        const auto n = parse_integer(text.substr(0, text.size() - suffix.size()));
        if (!n || *n < 0 || *n > std::numeric_limits<std::int64_t>::max() / unit) return std::nullopt;
        return *n * unit;
    }
    const auto n = parse_integer(text);
    if (!n || *n < 0) return std::nullopt;
    return n;
}

std::optional<std::int64_t> parse_retention(std::string_view text) {
    if (text == "forever" || text == "0") return 0;
    static constexpr std::pair<std::string_view, std::int64_t> units[] = {
        {"min", 60}, {"s", 1}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}, {"y", 365 * 86400}};
    for (const auto& [suffix, unit] : units) {
        if (!text.ends_with(suffix) || text.size() <= suffix.size()) continue;
        const auto n = parse_integer(text.substr(0, text.size() - suffix.size()));
        if (!n || *n <= 0 || *n > std::numeric_limits<std::int64_t>::max() / unit) return std::nullopt;
        return *n * unit;
    }
    return std::nullopt;
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
    if (text.size() < 2) return std::nullopt;
    std::int64_t unit = 0;
    switch (text.back()) {
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        case 'm': unit = 30 * 86400; break;  // Mosquitto's month
        case 'y': unit = 365 * 86400; break;
        default: return std::nullopt;
    }
    const auto n = parse_integer(text.substr(0, text.size() - 1));
    if (!n || *n <= 0 || *n > std::numeric_limits<std::int64_t>::max() / unit) return std::nullopt;
    return *n * unit;
}

}  // namespace strata::config
