// The broker's configuration after parsing: what the conf file (Mosquitto
// syntax) and the command line produce. Every field is documented in the key
// table (config_keys.cpp), which also generates docs/configuration.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strata::config {

enum class socket_domain { any, ipv4, ipv6 };

// What a listener speaks on top of TCP (and TLS, when certfile is set).
enum class listener_protocol { mqtt, websockets };

// TLS of one listener, Mosquitto's keys (man mosquitto.conf, "Certificate
// based SSL/TLS support"). TLS is on when certfile is set.
struct tls_config {
    std::string certfile;              // server certificate (chain), PEM
    std::string keyfile;               // its private key, PEM
    std::string cafile;                // CAs trusted for client certificates
    std::string capath;                // a directory of them (c_rehash layout)
    std::string crlfile;               // revoked client certificates
    std::string dhparamfile;           // Diffie-Hellman parameters for DHE ciphers
    std::string min_version;           // tlsv1.1 | tlsv1.2 | tlsv1.3; empty = TLS 1.2
    std::string ciphers;               // OpenSSL cipher list for TLS <= 1.2
    std::string ciphersuites;          // ciphers_tls1.3
    bool require_certificate = false;  // clients must present a certificate the CAs signed
    bool use_identity_as_username = false;  // the certificate's CN becomes the username
    bool use_subject_as_username = false;   // the certificate's subject (RFC 2253) does
    bool enabled() const { return !certfile.empty() || !keyfile.empty(); }
};

// What happens to a client whose pending output reaches max_client_output_bytes.
enum class slow_client_action { drop_qos0, disconnect };

struct listener_config {
    std::uint16_t port = 1883;        // 0 = an ephemeral port chosen by the kernel
    std::string bind_address;         // empty = every interface
    socket_domain domain = socket_domain::any;
    int max_connections = -1;         // -1 = unlimited
    std::uint32_t max_connection_rate = 0;  // new connections a second; 0 = unlimited
    std::string mount_point;          // prefix added to topics of clients on this listener
    listener_protocol protocol = listener_protocol::mqtt;
    tls_config tls;
    // Set on every listener when per_listener_settings is true (then it replaces
    // the global value for this listener); unset otherwise.
    std::optional<bool> allow_anonymous;
    std::optional<std::string> password_file;  // idem: set on every listener with per_listener_settings
    std::optional<std::string> acl_file;
    std::string defined_at;           // "file:line" (or "-p PORT"), for messages
    // The loopback listener Mosquitto 2 opens when nothing defines a listener
    // (bind_address "localhost"); -p replaces implicit listeners only.
    bool implicit = false;
};

// Bit mask of Mosquitto's log_type values.
enum log_type : std::uint32_t {
    log_error = 1u << 0,
    log_warning = 1u << 1,
    log_notice = 1u << 2,
    log_information = 1u << 3,
    log_debug = 1u << 4,
    log_subscribe = 1u << 5,
    log_unsubscribe = 1u << 6,
    log_websockets = 1u << 7,
    log_all = 0xFFu,
};

struct log_config {
    bool to_stdout = false;
    bool to_stderr = false;
    bool to_syslog = false;
    std::string file;  // empty = no file
    bool explicitly_set = false;  // a log_dest line was seen (otherwise: stderr)
    std::uint32_t types = log_error | log_warning | log_notice | log_information;
    bool types_set = false;
    bool timestamp = true;
    std::string timestamp_format;  // strftime format; empty = seconds since the epoch
    bool connection_messages = true;
};

// The durable store (storage/).
enum class durability { none, wal, fsync };

struct retention_rule {
    std::string filter;
    std::uint64_t seconds = 0;  // 0 = keep forever
};

struct storage_config {
    bool enabled = false;
    // `storage rocksdb`: every message is kept (the history, with retention).
    // Without it, Mosquitto's `persistence true` keeps what Mosquitto keeps:
    // persistent sessions, their queued and in-flight messages, retained ones.
    bool keep_history = false;
    std::string path;                   // empty: persistence_location, else "strata-data"
    durability mode = durability::wal;
    std::vector<retention_rule> retention;  // first match wins
    std::uint64_t default_retention = 0;    // seconds; 0 = forever
    std::uint64_t min_free_bytes = 128ull << 20;  // refuse QoS 1/2 publishes below this much free disk
    std::uint64_t max_queued_bytes = 64ull << 20;  // writes waiting for the store before clients are not read
};

// An HTTP listener of the query API (`http_listener` and the `http_*` keys
// after it; docs/http-api.md).
struct http_listener_config {
    std::uint16_t port = 8080;
    std::string bind_address;  // empty = loopback only (127.0.0.1 and ::1), unlike MQTT listeners
    tls_config tls;            // http_certfile, http_keyfile, ...: HTTPS when set
    bool allow_anonymous = false;  // requests without credentials are served (as the ACL file's anonymous client)
    // Prefix of every topic the API shows (http_mount_point); unset: the
    // mount_point all MQTT listeners share (the parser fills it in).
    std::optional<std::string> mount_point;
    std::string defined_at;
};

// The HTTP face as a whole: its listeners and who may use them.
struct http_config {
    std::vector<http_listener_config> listeners;
    std::string token_file;                  // bearer tokens (http_token_file); empty = none
    std::vector<std::string> admins;         // users who may delete and use admin endpoints (http_admin)
    std::vector<std::string> allowed_hosts;  // host names the Host header may carry besides addresses
    std::vector<std::string> cors_origins;   // origins browsers may call the API from; empty = none
};

// One `exporter_route` line: which messages an exporter takes and where they go.
struct export_route_config {
    std::string filter;                // as written: + and # with optional names (+room captures a level)
    std::string target;                // table, collection, Kafka topic or Neo4j label
    std::vector<std::string> fields;   // JSON fields to keep; empty with all_fields
    std::vector<std::string> field_types;  // per field: number (default), text or json
    std::vector<std::string> field_names;  // per field: the column, document field or property it becomes
    bool all_fields = true;
    std::string payload = "json";      // json | text | bytes: how the payload is read
    std::string key;                   // Kafka message key: a captured level name or "client_id"; empty = none
};

// An `exporter NAME KIND` block (docs/exporters.md).
struct exporter_config {
    std::string name;
    std::string kind;                  // mariadb, postgresql, mongodb, neo4j, kafka, sqlite, or a module's own
    std::string plugin;                // exporter_plugin: the module's file; empty = exporter_plugin_dir's for kind
    std::string url;
    std::string password_file;         // the secret's first line
    std::string password_env;          // or an environment variable
    std::uint32_t batch_size = 1000;   // messages per write at most
    std::uint32_t batch_time_ms = 200; // how long a batch may wait to fill up
    std::uint32_t retry_min_ms = 500;  // back-off after a failed write, doubling up to retry_max_ms
    std::uint32_t retry_max_ms = 30000;
    bool start_at_end = false;         // a new exporter starts with the next message instead of the oldest logged
    std::vector<export_route_config> routes;
    std::vector<std::pair<std::string, std::string>> options;  // exporter_option KEY VALUE
    std::string defined_at;
};

// A `plugin PATH` line and the `plugin_opt_KEY VALUE` lines after it.
struct plugin_config {
    std::string path;
    std::vector<std::pair<std::string, std::string>> options;  // KEY (without plugin_opt_), VALUE; conf order
    std::string defined_at;  // "file:line" of the plugin line, for messages
};

struct broker_config {
    std::vector<listener_config> listeners;
    bool per_listener_settings = false;

    // Access
    bool allow_anonymous = false;           // Mosquitto 2: false unless set (true without a conf file)
    bool allow_zero_length_clientid = true; // with per_listener_settings, every listener must agree for now
    std::string auto_id_prefix = "auto-";   // idem
    std::vector<plugin_config> plugins;     // called in this order (docs/plugins.md)
    std::string password_file;              // Mosquitto format; empty = none
    std::string acl_file;                   // Mosquitto format; empty = none (everything allowed)
    std::uint32_t failed_login_limit = 5;   // failed logins in a row from one address before it is blocked; 0 = off
    std::uint32_t failed_login_block_max = 300;  // seconds a blocked address waits at most
    bool check_retain_source = true;        // a retained message is sent only while its publisher may write its topic

    // Limits
    std::uint16_t max_inflight_messages = 20;
    std::uint32_t max_inflight_bytes = 0;   // payload bytes in flight per client; 0 = unlimited
    std::uint32_t max_queued_messages = 1000;
    std::uint32_t max_queued_bytes = 0;     // payload bytes queued per client; 0 = unlimited
    bool queue_qos0_messages = false;
    std::uint32_t message_size_limit = 0;   // payload bytes; 0 = unlimited
    std::uint32_t max_packet_size = 0;      // 0 = protocol maximum
    std::uint32_t max_topic_levels = 200;   // levels of a topic name or filter; 0 = no limit
    std::uint16_t max_keepalive = 65535;
    std::uint32_t persistent_client_expiration = 0;  // seconds; 0 = never
    bool retain_available = true;
    std::uint8_t max_qos = 2;               // per listener in Mosquitto; strata: one value for all listeners
    std::uint16_t max_topic_alias = 10;     // idem
    bool upgrade_outgoing_qos = false;
    int max_connections = -1;               // broker-wide; no conf key sets it (Mosquitto's is per listener)
    std::uint32_t websockets_headers_size = 4096;  // bytes of a WebSocket upgrade request at most
    std::uint32_t connect_timeout = 10;     // seconds a client has to send CONNECT
    // Bytes of encoded packets waiting for one client's socket; 0 = unlimited.
    std::uint64_t max_client_output_bytes = 8ull << 20;
    std::uint64_t memory_limit = 0;         // heap bytes; 0 = no limit (core/memory_guard.hpp)
    slow_client_action slow_client = slow_client_action::drop_qos0;

    // Process
    std::uint32_t sys_interval = 10;        // seconds between $SYS updates; 0 = off
    std::string pid_file;
    std::string user;                       // drop privileges to this user when started as root
    unsigned threads = 0;                   // worker threads; 0 = one per core
    bool publisher_affinity = true;         // core/session_placement.hpp
    log_config log;

    // Persistence: strata's store, and Mosquitto's keys that map onto it
    storage_config storage;
    http_config http;
    std::vector<exporter_config> exporters;
    std::string exporter_plugin_dir;        // where strata_exporter_KIND.so are; empty = ../lib/strata from the binary
    bool persistence = false;
    std::string persistence_location;
    std::string persistence_file = "mosquitto.db";
    std::uint32_t autosave_interval = 1800;
};

}  // namespace strata::config
