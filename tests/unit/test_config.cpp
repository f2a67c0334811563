// The configuration layer: Mosquitto-syntax parsing, the key table, listener
// scoping, include_dir, the command line and the generated reference.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "config/config_keys.hpp"
#include "config/config_parser.hpp"
#include "config/config_reference.hpp"

namespace cfg = strata::config;

namespace {

std::vector<std::string> errors_of(const cfg::load_result& r) {
    std::vector<std::string> out;
    for (const auto& e : r.errors) out.push_back(e.to_string());
    return out;
}

cfg::broker_config parse(const std::string& text) {
    const auto r = cfg::load_text(text, "t.conf");
    INFO("errors: " << doctest::toString(errors_of(r).empty() ? std::string("none") : errors_of(r).front()));
    REQUIRE(r.config.has_value());
    CHECK(r.errors.empty());
    return *r.config;
}

// The parser opens the files a configuration names, so the tests give it
// real (empty) ones: F("c.pem") is a path in a fresh temporary directory.
std::string F(const std::string& name) {
    static const std::filesystem::path dir = [] {
        std::string tmpl = (std::filesystem::temp_directory_path() / "strata-config-XXXXXX").string();
        return std::filesystem::path(::mkdtemp(tmpl.data()));
    }();
    const auto path = dir / name;
    std::ofstream{path};
    return path.string();
}

std::vector<std::string> errors(const std::string& text) {
    const auto r = cfg::load_text(text, "t.conf");
    CHECK_FALSE(r.config.has_value());
    return errors_of(r);
}

// The single error of a configuration that must be refused.
std::string error(const std::string& text) {
    const auto all = errors(text);
    REQUIRE(all.size() == 1);
    return all.front();
}

// A scratch directory, removed at the end of the test.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("strata-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::filesystem::path write(const std::string& name, const std::string& text) const {
        const auto p = path / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p;
    }
};

}  // namespace

TEST_CASE("config: default_config is Mosquitto 2 without a conf file") {
    const auto c = cfg::default_config();
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 1883);
    CHECK(c.listeners[0].bind_address == "localhost");
    CHECK(c.listeners[0].implicit);
    CHECK(c.allow_anonymous);
    CHECK_FALSE(c.per_listener_settings);
    CHECK(c.log.types == (cfg::log_error | cfg::log_warning | cfg::log_notice | cfg::log_information));
    CHECK_FALSE(c.log.explicitly_set);
}

TEST_CASE("config: a file without listener gives the loopback listener and anonymous access") {
    const auto c = parse("# nothing but a comment\n\nmax_inflight_messages 5\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].implicit);
    CHECK(c.listeners[0].bind_address == "localhost");
    CHECK(c.listeners[0].port == 1883);
    CHECK(c.allow_anonymous);
    // Mosquitto 2.0 overrides an explicit false here; strata keeps it.
    CHECK_FALSE(parse("allow_anonymous false\n").allow_anonymous);
}

TEST_CASE("config: a listener turns anonymous access off unless allowed") {
    auto c = parse("listener 1883\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK_FALSE(c.listeners[0].implicit);
    CHECK(c.listeners[0].bind_address.empty());
    CHECK(c.listeners[0].defined_at == "t.conf:1");
    CHECK_FALSE(c.allow_anonymous);
    CHECK(parse("listener 1883\nallow_anonymous true\n").allow_anonymous);
    CHECK(parse("allow_anonymous true\nlistener 1883\n").allow_anonymous);
}

TEST_CASE("config: comments, blank lines, blanks and line ends") {
    const auto c = parse("# comment\n   \n\t# indented comment\n  max_queued_messages\t 7  \r\n"
                         "pid_file /run/my broker.pid   \r\nlistener 1883\r\n");
    CHECK(c.max_queued_messages == 7);
    CHECK(c.pid_file == "/run/my broker.pid");
    CHECK(c.listeners.size() == 1);
    CHECK(parse("max_queued_messages 7 # seven\n").max_queued_messages == 7);
    CHECK(parse("allow_anonymous true #\n").allow_anonymous);
}

TEST_CASE("config: booleans") {
    CHECK(parse("retain_available false\n").retain_available == false);
    CHECK(parse("retain_available 0\n").retain_available == false);
    CHECK(parse("queue_qos0_messages true\n").queue_qos0_messages);
    CHECK(parse("queue_qos0_messages 1\n").queue_qos0_messages);
    CHECK(error("queue_qos0_messages yes\n") == "t.conf:1: queue_qos0_messages: expected true or false, got 'yes'");
    CHECK(error("log_timestamp True\n") == "t.conf:1: log_timestamp: expected true or false, got 'True'");
}

TEST_CASE("config: integers and their ranges") {
    const auto c = parse("max_inflight_messages 0\nmax_queued_messages 2147483647\nmessage_size_limit 268435455\n"
                         "max_keepalive 10\nsys_interval 0\nthreads 4\nconnect_timeout 30\nautosave_interval 60\n");
    CHECK(c.max_inflight_messages == 0);
    CHECK(c.max_queued_messages == 2147483647u);
    CHECK(c.message_size_limit == 268435455u);
    CHECK(c.max_keepalive == 10);
    CHECK(c.sys_interval == 0);
    CHECK(c.threads == 4);
    CHECK(c.connect_timeout == 30);
    CHECK(c.autosave_interval == 60);
    CHECK(error("max_inflight_messages abc\n") ==
          "t.conf:1: max_inflight_messages: expected an integer from 0 to 65535, got 'abc'");
    CHECK(error("max_inflight_messages 65536\n") ==
          "t.conf:1: max_inflight_messages: expected an integer from 0 to 65535, got '65536'");
    CHECK(error("max_inflight_messages -1\n") ==
          "t.conf:1: max_inflight_messages: expected an integer from 0 to 65535, got '-1'");
    CHECK(error("max_inflight_messages 10k\n") ==
          "t.conf:1: max_inflight_messages: expected an integer from 0 to 65535, got '10k'");
    CHECK(error("max_keepalive 5\n") == "t.conf:1: max_keepalive: expected an integer from 10 to 65535, got '5'");
    CHECK(error("message_size_limit 268435456\n") ==
          "t.conf:1: message_size_limit: expected an integer from 0 to 268435455, got '268435456'");
    CHECK(error("threads 99999999999999999999\n") ==
          "t.conf:1: threads: expected an integer from 0 to 1024, got '99999999999999999999'");
}

TEST_CASE("config: max_inflight_bytes and max_queued_bytes") {
    const auto d = parse("");
    CHECK(d.max_inflight_bytes == 0);
    CHECK(d.max_queued_bytes == 0);
    const auto c = parse("max_inflight_bytes 1000\nmax_queued_bytes 2147483647\n");
    CHECK(c.max_inflight_bytes == 1000);
    CHECK(c.max_queued_bytes == 2147483647u);
    CHECK(error("max_queued_bytes -1\n").starts_with("t.conf:1: max_queued_bytes: expected an integer"));
}

TEST_CASE("config: max_client_output_bytes and slow_client_action") {
    const auto d = parse("");
    CHECK(d.max_client_output_bytes == 8u << 20);
    CHECK(d.slow_client == cfg::slow_client_action::drop_qos0);
    const auto c = parse("max_client_output_bytes 512KB\nslow_client_action disconnect\n");
    CHECK(c.max_client_output_bytes == 512u << 10);
    CHECK(c.slow_client == cfg::slow_client_action::disconnect);
    CHECK(parse("max_client_output_bytes 0\n").max_client_output_bytes == 0);
    CHECK(parse("max_client_output_bytes 4096\n").max_client_output_bytes == 4096);
    CHECK(error("max_client_output_bytes lots\n") ==
          "t.conf:1: max_client_output_bytes: expected a size such as 0, 500KB, 8MB or 1GB, got 'lots'");
    CHECK(error("slow_client_action kill\n").starts_with("t.conf:1: slow_client_action:"));
}

TEST_CASE("config: max_connection_rate is per listener") {
    const auto c = parse("listener 1883\nmax_connection_rate 50\nlistener 1884\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].max_connection_rate == 50);
    CHECK(c.listeners[1].max_connection_rate == 0);
    CHECK(error("listener 1883\nmax_connection_rate -5\n").starts_with("t.conf:2: max_connection_rate:"));
}

TEST_CASE("config: max_packet_size accepts 0 or at least 20") {
    CHECK(parse("max_packet_size 0\n").max_packet_size == 0);
    CHECK(parse("max_packet_size 20\n").max_packet_size == 20);
    CHECK(parse("max_packet_size 4294967295\n").max_packet_size == 4294967295u);
    CHECK(error("max_packet_size 19\n") ==
          "t.conf:1: max_packet_size: expected 0 or an integer from 20 to 4294967295, got '19'");
}

TEST_CASE("config: missing values and extra words") {
    CHECK(error("max_inflight_messages\n") ==
          "t.conf:1: max_inflight_messages: missing value (expected an integer from 0 to 65535)");
    CHECK(error("allow_anonymous   \n") == "t.conf:1: allow_anonymous: missing value (expected true or false)");
    CHECK(error("pid_file\n") == "t.conf:1: pid_file: missing value (expected PATH)");
    CHECK(error("listener\n") == "t.conf:1: listener: missing value (expected PORT [ADDRESS])");
    CHECK(error("socket_domain\n") == "t.conf:1: socket_domain: missing value (expected ipv4 or ipv6)");
    CHECK(error("max_inflight_messages 10 20\n") ==
          "t.conf:1: max_inflight_messages: expected a single value, got '10 20'");
    CHECK(error("log_type error warning\n") == "t.conf:1: log_type: expected a single value, got 'error warning'");
    CHECK(error("listener 1883 127.0.0.1 extra\n") ==
          "t.conf:1: listener: expected PORT [ADDRESS], got '1883 127.0.0.1 extra'");
}

TEST_CASE("config: strings take the rest of the line and may be set once") {
    const auto c = parse("log_timestamp_format %Y-%m-%d %H:%M:%S\nuser  mqtt  \nauto_id_prefix gen-\n"
                         "persistence_location /var/lib/strata/\npersistence_file x.db\n");
    CHECK(c.log.timestamp_format == "%Y-%m-%d %H:%M:%S");
    CHECK(c.user == "mqtt");
    CHECK(c.auto_id_prefix == "gen-");
    CHECK(c.persistence_location == "/var/lib/strata/");
    CHECK(c.persistence_file == "x.db");
    CHECK(error("pid_file /a.pid\npid_file /b.pid\n") == "t.conf:2: pid_file: set twice (first at t.conf:1)");
    // Once per listener for listener strings.
    CHECK(parse("listener 1\nmount_point a/\nlistener 2\nmount_point b/\n").listeners[1].mount_point == "b/");
    CHECK(error("listener 1\nmount_point a/\nmount_point b/\n") ==
          "t.conf:3: mount_point: set twice (first at t.conf:2)");
}

TEST_CASE("config: unknown keys") {
    CHECK(error("xyz 1\n") == "t.conf:1: unknown configuration key 'xyz'");
    CHECK(error("max_inflight_message 1\n") ==
          "t.conf:1: unknown configuration key 'max_inflight_message' (did you mean 'max_inflight_messages'?)");
    CHECK(error("Listener 1883\n") == "t.conf:1: unknown configuration key 'Listener' (did you mean 'listener'?)");
    // Mosquitto 2.1 keys are not Mosquitto 2.0 keys.
    CHECK(error("global_plugin x\n") == "t.conf:1: unknown configuration key 'global_plugin'");
}

TEST_CASE("config: persistent_client_expiration durations") {
    CHECK(parse("persistent_client_expiration 1h\n").persistent_client_expiration == 3600);
    CHECK(parse("persistent_client_expiration 2d\n").persistent_client_expiration == 2 * 86400);
    CHECK(parse("persistent_client_expiration 1w\n").persistent_client_expiration == 7 * 86400);
    CHECK(parse("persistent_client_expiration 1m\n").persistent_client_expiration == 30 * 86400);
    CHECK(parse("persistent_client_expiration 1y\n").persistent_client_expiration == 365 * 86400);
    CHECK(parse("persistent_client_expiration 136y\n").persistent_client_expiration == 136u * 365 * 86400);
    const std::string expected = "expected a duration such as 12h, 14d, 2w, 6m or 1y, got ";
    CHECK(error("persistent_client_expiration 60\n") == "t.conf:1: persistent_client_expiration: " + expected + "'60'");
    CHECK(error("persistent_client_expiration 0d\n") == "t.conf:1: persistent_client_expiration: " + expected + "'0d'");
    CHECK(error("persistent_client_expiration 1s\n") == "t.conf:1: persistent_client_expiration: " + expected + "'1s'");
    CHECK(error("persistent_client_expiration 137y\n") ==
          "t.conf:1: persistent_client_expiration: " + expected + "'137y'");
    CHECK(cfg::parse_duration("-1d") == std::nullopt);
    CHECK(cfg::parse_duration("d") == std::nullopt);
}

TEST_CASE("config: listeners") {
    const auto c = parse("listener 1883\nlistener 8883 127.0.0.1\nsocket_domain ipv4\nmax_connections 10\n"
                         "mount_point tenant/a/\nlistener 0 ::1\nsocket_domain ipv6\nprotocol mqtt\n");
    REQUIRE(c.listeners.size() == 3);
    CHECK(c.listeners[0].port == 1883);
    CHECK(c.listeners[0].domain == cfg::socket_domain::any);
    CHECK(c.listeners[0].max_connections == -1);
    CHECK(c.listeners[1].port == 8883);
    CHECK(c.listeners[1].bind_address == "127.0.0.1");
    CHECK(c.listeners[1].domain == cfg::socket_domain::ipv4);
    CHECK(c.listeners[1].max_connections == 10);
    CHECK(c.listeners[1].mount_point == "tenant/a/");
    CHECK(c.listeners[2].port == 0);
    CHECK(c.listeners[2].domain == cfg::socket_domain::ipv6);
    CHECK(c.listeners[2].defined_at == "t.conf:6");
    // Port 0 is ephemeral: twice is fine. The same port on other addresses too.
    CHECK(parse("listener 0\nlistener 0\n").listeners.size() == 2);
    CHECK(parse("listener 1883 127.0.0.1\nlistener 1883 ::1\n").listeners.size() == 2);
}

TEST_CASE("config: listener errors") {
    CHECK(error("listener 1883\nlistener 1883\n") ==
          "t.conf:2: listener: port 1883 on every interface is already defined at t.conf:1");
    CHECK(error("listener 1883 127.0.0.1\nlistener 1883 127.0.0.1\n") ==
          "t.conf:2: listener: port 1883 on '127.0.0.1' is already defined at t.conf:1");
    CHECK(error("listener 65536\n") == "t.conf:1: listener: expected a port from 0 to 65535, got '65536'");
    CHECK(error("listener http\n") == "t.conf:1: listener: expected a port from 0 to 65535, got 'http'");
    CHECK(error("listener 0 /run/mqtt.sock\n") ==
          "t.conf:1: listener: Unix socket listeners are not supported yet (a later release)");
    CHECK(error("listener 1883\nsocket_domain ipv5\n") == "t.conf:2: socket_domain: expected ipv4 or ipv6, got 'ipv5'");
    CHECK(parse("listener 1883\nprotocol websockets\n").listeners[0].protocol ==
          strata::config::listener_protocol::websockets);
    CHECK(error("listener 1883\nprotocol http\n") == "t.conf:2: protocol: expected mqtt or websockets, got 'http'");
    CHECK(error("listener 1883\nmount_point a/+/b\n") ==
          "t.conf:2: mount_point: must not contain the wildcards + or #, got 'a/+/b'");
    CHECK(error("listener 1883\nmax_connections -2\n") ==
          "t.conf:2: max_connections: expected an integer from -1 to 2147483647, got '-2'");
}

TEST_CASE("config: listener keys outside a listener block") {
    // Mosquitto refuses mount_point before any listener.
    CHECK(error("mount_point a/\nlistener 1883\n") == "t.conf:1: mount_point: must come after a 'listener' line");
    // Mosquitto 2.0 would open 1883 on every interface with anonymous access: refused.
    CHECK(error("max_connections 5\n") == "t.conf:1: max_connections: must come after a 'listener' line");
    CHECK(error("socket_domain ipv4\nlistener 1884\n") == "t.conf:1: socket_domain: must come after a 'listener' line");
    CHECK(error("protocol mqtt\n") == "t.conf:1: protocol: must come after a 'listener' line");
    // With the deprecated port / bind_address they configure the default listener, opened last.
    const auto c = parse("max_connections 5\nlistener 1884\nmax_connections 7\nport 1885\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].port == 1884);
    CHECK(c.listeners[0].max_connections == 7);
    CHECK(c.listeners[1].port == 1885);
    CHECK(c.listeners[1].max_connections == 5);
    CHECK(c.listeners[1].defined_at == "t.conf:4");
    CHECK_FALSE(c.allow_anonymous);
}

TEST_CASE("config: port and bind_address define the default listener") {
    auto c = parse("port 1884\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 1884);
    CHECK(c.listeners[0].bind_address.empty());
    CHECK_FALSE(c.listeners[0].implicit);
    CHECK_FALSE(c.allow_anonymous);
    c = parse("bind_address 127.0.0.1\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 1883);
    CHECK(c.listeners[0].bind_address == "127.0.0.1");
    c = parse("port 1884\nport 1885\n");  // Mosquitto: the last one wins
    CHECK(c.listeners[0].port == 1885);
    CHECK(error("listener 1883\nport 1883\n") ==
          "t.conf:2: port: the default listener (port 1883 on every interface) is already defined at t.conf:1");
}

TEST_CASE("config: per_listener_settings") {
    auto c = parse("per_listener_settings true\nlistener 1883\nallow_anonymous true\nlistener 1884\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].allow_anonymous == std::optional<bool>(true));
    CHECK(c.listeners[1].allow_anonymous == std::optional<bool>(false));
    CHECK_FALSE(c.allow_anonymous);
    // Without it, allow_anonymous is global wherever it is written.
    c = parse("listener 1883\nallow_anonymous true\nlistener 1884\n");
    CHECK(c.allow_anonymous);
    CHECK_FALSE(c.listeners[0].allow_anonymous.has_value());
    CHECK_FALSE(c.listeners[1].allow_anonymous.has_value());
    // Mosquitto: "per_listener_settings must be set before any other security settings".
    CHECK(error("allow_anonymous true\nper_listener_settings true\nlistener 1883\n") ==
          "t.conf:2: per_listener_settings: must come before allow_anonymous (at t.conf:1)");
    CHECK(error("per_listener_settings true\nallow_anonymous true\nlistener 1883\n") ==
          "t.conf:2: allow_anonymous: must come after a 'listener' line (per_listener_settings is true)");
    // Per listener, then, but one value for every listener for now.
    CHECK(parse("per_listener_settings true\nlistener 1\nauto_id_prefix x-\nlistener 2\nauto_id_prefix x-\n")
              .auto_id_prefix == "x-");
    CHECK(error("per_listener_settings true\nlistener 1\nallow_zero_length_clientid false\nlistener 2\n") ==
          "t.conf:3: allow_zero_length_clientid: every listener must have the same value for now: the listener at "
          "t.conf:2 has false, the one at t.conf:4 has true (per-listener values are not supported yet)");
}

TEST_CASE("config: max_qos and max_topic_alias hold one value for every listener") {
    auto c = parse("listener 1883\nmax_qos 1\nmax_topic_alias 0\n");
    CHECK(c.max_qos == 1);
    CHECK(c.max_topic_alias == 0);
    CHECK(parse("listener 1\nmaximum_qos 0\nlistener 2\nmax_qos 0\n").max_qos == 0);
    CHECK(error("listener 1\nlistener 2\nmax_qos 1\n") ==
          "t.conf:3: max_qos: every listener must have the same value for now: the listener at t.conf:1 has 2, "
          "the one at t.conf:2 has 1 (per-listener values are not supported yet)");
    CHECK(error("listener 1883\nmax_qos 3\n") == "t.conf:2: max_qos: expected an integer from 0 to 2, got '3'");
}

TEST_CASE("config: plugin lines and their options, in conf order") {
    const auto c = parse("plugin /a.so\nplugin_opt_user alice\nplugin_opt_path /x y\nplugin /b.so\nplugin_opt_user bob\n");
    REQUIRE(c.plugins.size() == 2);
    CHECK(c.plugins[0].path == "/a.so");
    CHECK(c.plugins[0].defined_at == "t.conf:1");
    REQUIRE(c.plugins[0].options.size() == 2);
    CHECK(c.plugins[0].options[0] == std::pair<std::string, std::string>("user", "alice"));
    CHECK(c.plugins[0].options[1] == std::pair<std::string, std::string>("path", "/x y"));
    REQUIRE(c.plugins[1].options.size() == 1);
    CHECK(c.plugins[1].options[0].second == "bob");
    CHECK(error("plugin_opt_db x\n") == "t.conf:1: plugin_opt_db: must come after a 'plugin' line");
    CHECK(error("plugin /a.so\nplugin_opt_u 1\nplugin_opt_u 2\n") ==
          "t.conf:3: plugin_opt_u: set twice for the plugin at t.conf:1");
    // Mosquitto 1.x auth plugins are refused for good, with the reason.
    CHECK(error("auth_plugin /usr/lib/auth.so\n").starts_with(
        "t.conf:1: auth_plugin: the Mosquitto 1.x auth plugin API is not supported"));
    CHECK(error("auth_opt_db x\n").starts_with("t.conf:1: auth_opt_db: the Mosquitto 1.x auth plugin API is not supported"));
}

TEST_CASE("config: TLS listeners") {
    const auto cfg = parse(
        "listener 8883\ncertfile " + F("c.pem") + "\nkeyfile " + F("k.pem") + "\ncafile " + F("ca.pem") + "\ncapath /cas\ncrlfile " + F("crl.pem") + "\n"
        "tls_version tlsv1.3\nciphers HIGH\nciphers_tls1.3 TLS_AES_256_GCM_SHA384\nrequire_certificate true\n"
        "use_identity_as_username true\ndhparamfile " + F("dh.pem") + "\nlistener 1883\n");
    REQUIRE(cfg.listeners.size() == 2);
    const auto& t = cfg.listeners[0].tls;
    CHECK(t.enabled());
    CHECK(t.certfile == F("c.pem"));
    CHECK(t.keyfile == F("k.pem"));
    CHECK(t.cafile == F("ca.pem"));
    CHECK(t.capath == "/cas");
    CHECK(t.crlfile == F("crl.pem"));
    CHECK(t.min_version == "tlsv1.3");
    CHECK(t.ciphers == "HIGH");
    CHECK(t.ciphersuites == "TLS_AES_256_GCM_SHA384");
    CHECK(t.require_certificate);
    CHECK(t.use_identity_as_username);
    CHECK_FALSE(t.use_subject_as_username);
    CHECK(t.dhparamfile == F("dh.pem"));
    CHECK_FALSE(cfg.listeners[1].tls.enabled());

    CHECK(error("listener 8883\ncafile " + F("ca.pem") + "\n") ==
          "t.conf:1: listener: TLS settings need certfile and keyfile (TLS is off without them)");
    CHECK(error("listener 8883\ncertfile " + F("c.pem") + "\n") == "t.conf:1: listener: certfile needs keyfile");
    CHECK(error("listener 8883\nkeyfile " + F("k.pem") + "\n") == "t.conf:1: listener: keyfile needs certfile");
    CHECK(error("listener 8883\ncertfile " + F("c") + "\nkeyfile " + F("k") + "\nrequire_certificate true\n") ==
          "t.conf:1: listener: require_certificate needs cafile or capath to check client certificates against");
    CHECK(error("listener 8883\ncertfile " + F("c") + "\nkeyfile " + F("k") + "\nuse_identity_as_username true\n") ==
          "t.conf:1: listener: use_identity_as_username and use_subject_as_username need require_certificate true");
    CHECK(error("listener 8883\ncertfile " + F("c") + "\nkeyfile " + F("k") + "\ncrlfile " + F("r") + "\n") ==
          "t.conf:1: listener: crlfile needs require_certificate true");
    CHECK(error("listener 8883\ntls_version tlsv1\n") ==
          "t.conf:2: tls_version: expected one of tlsv1.1, tlsv1.2 or tlsv1.3, got 'tlsv1'");
    CHECK(error("ciphers_tls1.3 x\n") == "t.conf:1: ciphers_tls1.3: must come after a 'listener' line");
    // The deprecated default listener can have TLS too, as in Mosquitto.
    CHECK(parse("port 8883\ncertfile " + F("c") + "\nkeyfile " + F("k") + "\n").listeners[0].tls.enabled());
    CHECK(error("listener 8883\ncertfile /nonexistent/c.pem\n") ==
          "t.conf:2: certfile: cannot read '/nonexistent/c.pem': No such file or directory");
    CHECK(parse("websockets_headers_size 0\n").websockets_headers_size == 4096);
    CHECK(parse("websockets_headers_size 10000\n").websockets_headers_size == 10000);
}

TEST_CASE("config: password and ACL files, globally and per listener") {
    const auto global = parse("password_file " + F("pw") + "\nacl_file " + F("acl") + "\nlistener 1883\nlistener 1884\n");
    CHECK(global.password_file == F("pw"));
    CHECK(global.acl_file == F("acl"));
    CHECK_FALSE(global.listeners[0].password_file.has_value());
    const auto per = parse("per_listener_settings true\nlistener 1883\npassword_file " + F("a") + "\nacl_file " +
                           F("acl-a") + "\nlistener 1884\npassword_file " + F("b") + "\n");
    CHECK(per.password_file.empty());
    CHECK(per.listeners[0].password_file == F("a"));
    CHECK(per.listeners[0].acl_file == F("acl-a"));
    CHECK(per.listeners[1].password_file == F("b"));
    CHECK_FALSE(per.listeners[1].acl_file.has_value());
    CHECK(error("password_file " + F("a") + "\npassword_file " + F("b") + "\n").starts_with("t.conf:2: password_file: set twice"));
    CHECK(error("acl_file /nonexistent/acl\n") ==
          "t.conf:1: acl_file: cannot read '/nonexistent/acl': No such file or directory");
    CHECK(parse("failed_login_limit 0\n").failed_login_limit == 0);
    CHECK(parse("failed_login_block_max 60\n").failed_login_block_max == 60);
    CHECK(error("failed_login_block_max 0\n") ==
          "t.conf:1: failed_login_block_max: expected an integer from 1 to 86400, got '0'");
}

TEST_CASE("config: keys of later releases are refused") {
    CHECK(error("http_dir /var/www\n") == "t.conf:1: http_dir: not supported yet (a later release)");
    CHECK(error("psk_hint x\n") == "t.conf:1: psk_hint: not supported yet (TLS release)");
    CHECK(error("connection remote\n") == "t.conf:1: connection: not supported yet (bridge release)");
    CHECK(error("topic # both 0\n") == "t.conf:1: topic: not supported yet (bridge release)");
    CHECK(error("bind_interface eth0\n") == "t.conf:1: bind_interface: not supported yet (a later release)");
    // Even with a harmless value, and without an argument.
    CHECK(error("tls_engine\n") == "t.conf:1: tls_engine: not supported yet (TLS release)");
    // Every one of them is reported.
    CHECK(errors("listener 1883\nclientid_prefixes p\nuse_username_as_clientid true\n").size() == 2);
}

TEST_CASE("config: values of later releases are refused") {
    // Mosquitto's persistence switch turns on strata's store.
    // (without the history of every message, which is storage rocksdb's).
    CHECK(parse("persistence true\n").storage.enabled);
    CHECK_FALSE(parse("persistence true\n").storage.keep_history);
    CHECK(parse("retained_persistence 1\n").storage.enabled);
    CHECK_FALSE(parse("persistence false\n").storage.enabled);
    CHECK(parse("persistence true\nstorage rocksdb\n").storage.keep_history);
    CHECK(parse("storage rocksdb\npersistence true\n").storage.keep_history);
    CHECK(parse("persistence true\nstorage none\n").storage.enabled);  // persistence still asks for sessions
    CHECK(parse("").check_retain_source);  // Mosquitto's default
    CHECK_FALSE(parse("check_retain_source false\n").check_retain_source);
    CHECK(parse("memory_limit 1000000\n").memory_limit == 1'000'000);
    CHECK(parse("storage_queue_limit 16MB\n").storage.max_queued_bytes == 16ull << 20);
    CHECK(error("storage_queue_limit lots\n").starts_with("t.conf:1: storage_queue_limit: expected a size"));
    CHECK(error("log_dest topic\n") == "t.conf:1: log_dest: 'topic' is not supported yet (a later release)");
}

TEST_CASE("config: accepted keys without effect") {
    parse("set_tcp_nodelay true\nretry_interval 20\nallow_duplicate_messages false\nlog_facility 5\n"
          "autosave_on_changes true\n");
    CHECK(error("log_facility 8\n") == "t.conf:1: log_facility: expected an integer from 0 to 7, got '8'");
}

TEST_CASE("config: log_dest and log_type") {
    auto c = parse("log_dest stdout\nlog_dest file /var/log/my strata.log\nlog_dest syslog\n");
    CHECK(c.log.explicitly_set);
    CHECK(c.log.to_stdout);
    CHECK(c.log.to_syslog);
    CHECK_FALSE(c.log.to_stderr);
    CHECK(c.log.file == "/var/log/my strata.log");
    c = parse("log_dest stderr\nlog_dest none\n");
    CHECK(c.log.explicitly_set);
    CHECK_FALSE(c.log.to_stderr);
    CHECK(error("log_dest file a.log\nlog_dest file b.log\n") ==
          "t.conf:2: log_dest: only one log file can be set, already 'a.log'");
    CHECK(error("log_dest file\n") == "t.conf:1: log_dest: expected file PATH, got 'file' without a path");
    CHECK(error("log_dest stdout stderr\n") == "t.conf:1: log_dest: unexpected 'stderr' after 'stdout'");
    CHECK(error("log_dest console\n") ==
          "t.conf:1: log_dest: expected stdout | stderr | syslog | file PATH | none, got 'console'");
    CHECK(error("log_dest dlt\n") == "t.conf:1: log_dest: 'dlt' is not supported yet (a later release)");

    c = parse("log_type error\nlog_type subscribe\n");
    CHECK(c.log.types == (cfg::log_error | cfg::log_subscribe));
    CHECK(c.log.types_set);
    CHECK(parse("log_type all\n").log.types == cfg::log_all);
    CHECK(parse("log_type debug\nlog_type none\n").log.types == 0);
    CHECK(parse("log_type none\nlog_type websockets\n").log.types == cfg::log_websockets);
    CHECK(error("log_type verbose\n") ==
          "t.conf:1: log_type: expected one of error, warning, notice, information, debug, subscribe, "
          "unsubscribe, websockets, all or none, got 'verbose'");
    c = parse("log_timestamp false\nconnection_messages false\n");
    CHECK_FALSE(c.log.timestamp);
    CHECK_FALSE(c.log.connection_messages);
}

TEST_CASE("config: load_file collects every error with its file and line") {
    temp_dir dir;
    const auto main = dir.write("main.conf", "listener 1883\nmax_qos nine\nunknown_key 1\n\nmount_point a/#\n");
    const auto r = cfg::load_file(main);
    CHECK_FALSE(r.config.has_value());
    const auto m = main.string();
    REQUIRE(r.errors.size() == 3);
    CHECK(r.errors[0].to_string() == m + ":2: max_qos: expected an integer from 0 to 2, got 'nine'");
    CHECK(r.errors[1].to_string() == m + ":3: unknown configuration key 'unknown_key'");
    CHECK(r.errors[2].to_string() == m + ":5: mount_point: must not contain the wildcards + or #, got 'a/#'");
    CHECK(r.errors[2].file == m);
    CHECK(r.errors[2].line == 5);

    const auto missing = cfg::load_file(dir.path / "nope.conf");
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].to_string() ==
          (dir.path / "nope.conf").string() + ": cannot open the file: No such file or directory");
    const auto directory = cfg::load_file(dir.path);
    REQUIRE(directory.errors.size() == 1);
    CHECK(directory.errors[0].to_string() == dir.path.string() + ": is a directory, not a configuration file");
    CHECK(cfg::config_error{"", 0, "bare"}.to_string() == "bare");
}

TEST_CASE("config: include_dir reads *.conf in Mosquitto's order") {
    temp_dir dir;
    const auto d = dir.path / "conf.d";
    // Each file adds a listener; the resulting port order is the file order.
    const std::vector<std::pair<std::string, int>> files = {{"b.conf", 6}, {"A.conf", 3}, {"01.conf", 2},
                                                            {"a.conf", 4}, {"B.conf", 5}, {"00.conf", 1}};
    for (const auto& [name, port] : files) dir.write("conf.d/" + name, "listener " + std::to_string(port) + "\n");
    dir.write("conf.d/ignored.txt", "listener 99\n");
    dir.write("conf.d/.conf", "listener 98\n");
    const auto main = dir.write("main.conf", "allow_anonymous true\ninclude_dir " + d.string() + "\nlistener 7\n");
    const auto r = cfg::load_file(main);
    REQUIRE(r.config.has_value());
    std::vector<int> ports;
    for (const auto& l : r.config->listeners) ports.push_back(l.port);
    CHECK(ports == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
    CHECK(r.config->listeners[0].defined_at == (d / "00.conf").string() + ":1");
    CHECK(r.config->allow_anonymous);
}

TEST_CASE("config: include_dir errors name the included file") {
    temp_dir dir;
    const auto d = dir.path / "conf.d";
    dir.write("conf.d/a.conf", "listener 1883\n# fine\nmax_connections lots\n");
    dir.write("conf.d/b.conf", "mount_point x/\ninclude_dir /tmp\n");
    const auto main = dir.write("main.conf", "include_dir " + d.string() + "\nlistener 1883\n");
    const auto r = cfg::load_file(main);
    const auto a = (d / "a.conf").string();
    const auto b = (d / "b.conf").string();
    REQUIRE(r.errors.size() == 4);
    CHECK(r.errors[0].to_string() == a + ":3: max_connections: expected an integer from -1 to 2147483647, got 'lots'");
    // Each file starts outside any listener block.
    CHECK(r.errors[1].to_string() == b + ":1: mount_point: must come after a 'listener' line");
    CHECK(r.errors[2].to_string() == b + ":2: include_dir: only allowed in the main configuration file");
    CHECK(r.errors[3].to_string() ==
          main.string() + ":2: listener: port 1883 on every interface is already defined at " + a + ":1");

    const auto none = dir.write("none.conf", "include_dir " + (dir.path / "missing").string() + "\n");
    const auto missing = cfg::load_file(none);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].to_string().starts_with(none.string() + ":1: include_dir: cannot read directory '"));
    // The directory must not hold the main file (Mosquitto would read it again).
    const auto self = dir.write("conf.d/self.conf", "include_dir " + d.string() + "\n");
    const auto again = cfg::load_file(self);
    REQUIRE_FALSE(again.errors.empty());
    CHECK(again.errors[0].to_string() == self.string() + ":1: include_dir: '" + d.string() +
                                             "' contains the main configuration file " + self.string());
}

TEST_CASE("config: apply_command_line -p and -v") {
    // -p replaces the loopback default, with or without a conf file.
    auto c = cfg::default_config();
    cfg::apply_command_line(c, {1999, 2000, 1999}, false, false);
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].port == 1999);
    CHECK(c.listeners[0].bind_address == "localhost");
    CHECK(c.listeners[0].implicit);
    CHECK(c.listeners[1].port == 2000);
    CHECK(c.allow_anonymous);
    c = parse("log_type error\n");
    cfg::apply_command_line(c, {0}, false, true);
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 0);
    CHECK(c.listeners[0].defined_at == "-p 0");
    // Mosquitto 2 ignores -p when the conf defines a listener.
    c = parse("listener 1884\n");
    cfg::apply_command_line(c, {1999}, false, true);
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 1884);
    c = parse("port 1885\n");
    cfg::apply_command_line(c, {1999}, false, true);
    CHECK(c.listeners[0].port == 1885);
    // -v: every log type, whatever the conf says.
    c = parse("log_type error\n");
    cfg::apply_command_line(c, {}, true, true);
    CHECK(c.log.types == cfg::log_all);
    CHECK(c.listeners[0].port == 1883);
}

TEST_CASE("config: the key table is consistent") {
    std::set<std::string_view> names;
    for (const auto& k : cfg::all_keys()) {
        INFO(k.name);
        CHECK(names.insert(k.name).second);
        if (!k.alias.empty()) CHECK(names.insert(k.alias).second);
        CHECK_FALSE(k.doc.empty());
        CHECK(cfg::find_key(k.name.ends_with('*') ? std::string(k.name.substr(0, k.name.size() - 1)) + "x"
                                                  : std::string(k.name)) == &k);
        if (k.status == cfg::key_status::not_supported_yet) {
            CHECK(k.when != cfg::release::none);
            continue;
        }
        if (k.status == cfg::key_status::not_supported) continue;  // refused with its doc, never applied
        CHECK(static_cast<bool>(k.apply));
        if (!k.only_value.empty()) CHECK(k.when != cfg::release::none);
        // Defaults of one-word keys are valid values of the key.
        if ((k.kind == cfg::value_kind::boolean || k.kind == cfg::value_kind::integer) && !k.default_text.empty() &&
            k.scope == cfg::key_scope::global) {
            // Exporter keys belong to an exporter block, HTTP keys to an HTTP listener's.
            const std::string block = k.section == cfg::key_section::exporters
                                          ? "exporter e sqlite\nexporter_url /x.db\nexporter_route # t\n"
                                          : k.section == cfg::key_section::http ? "http_listener 0\n" : "";
            parse(block + std::string(k.name) + " " + std::string(k.default_text) + "\n");
        }
    }
    CHECK(cfg::find_key("plugin_opt_") == nullptr);
    CHECK(cfg::find_key("maximum_qos")->name == "max_qos");
}

TEST_CASE("config: the reference documents every key") {
    const auto md = cfg::reference_markdown();
    CHECK(md.starts_with("# Configuration\n"));
    for (const auto* section : {"## Listeners", "## Access", "## Limits", "## Logging", "## Process",
                                "## Persistence", "## HTTP API", "## Not supported yet", "### TLS release"}) {
        CHECK(md.find(section) != std::string::npos);
    }
    for (const auto& k : cfg::all_keys()) {
        INFO(k.name);
        CHECK(md.find("`" + std::string(k.name) + "`") != std::string::npos);
    }
    CHECK(md.find("- Syntax: `max_inflight_messages 0..65535`\n- Default: `20`\n- Scope: global\n") !=
          std::string::npos);
}

TEST_CASE("config: storage keys") {
    const auto conf = parse("storage rocksdb\nstorage_path /var/lib/strata\nstorage_durability fsync\n"
                           "storage_retention sensors/# 30d\nstorage_retention tmp/+ 90s\n"
                           "storage_retention_default 1y\nhttp_listener 8080 127.0.0.1\n");
    CHECK(conf.storage.enabled);
    CHECK(conf.storage.path == "/var/lib/strata");
    CHECK(conf.storage.mode == cfg::durability::fsync);
    REQUIRE(conf.storage.retention.size() == 2);
    CHECK(conf.storage.retention[0].filter == "sensors/#");
    CHECK(conf.storage.retention[0].seconds == 30 * 86400);
    CHECK(conf.storage.retention[1].seconds == 90);
    CHECK(conf.storage.default_retention == 365 * 86400);
    REQUIRE(conf.http.listeners.size() == 1);
    CHECK(conf.http.listeners[0].port == 8080);
    CHECK(conf.http.listeners[0].bind_address == "127.0.0.1");
    CHECK(parse("storage_retention a/# 30min\n").storage.retention[0].seconds == 1800);
    CHECK(parse("storage_retention a/# forever\n").storage.retention[0].seconds == 0);
    CHECK_FALSE(parse("").storage.enabled);
    CHECK(parse("").storage.mode == cfg::durability::wal);
    CHECK(error("storage sqlite\n").starts_with("t.conf:1: storage:"));
    CHECK(error("storage_retention a/# 30\n") ==
          "t.conf:1: storage_retention: expected a duration such as 90s, 30min, 12h, 30d, 2w, 1y or forever, got '30'");
    CHECK(error("storage_retention a/#/b 1d\n") == "t.conf:1: storage_retention: invalid topic filter 'a/#/b'");
    CHECK(error("storage_durability sometimes\n").starts_with("t.conf:1: storage_durability:"));
}

TEST_CASE("config: HTTP listener blocks, their TLS and mount point") {
    auto conf = parse("listener 1883\nmount_point site/\nhttp_listener 8080\nhttp_allow_anonymous true\n"
                      "http_listener 8443 0.0.0.0\nhttp_mount_point none\nhttp_admin ops\nhttp_admin root\n"
                      "http_allowed_hosts broker.example.com other.example\nhttp_cors_origin https://dash.example.com\n");
    REQUIRE(conf.http.listeners.size() == 2);
    CHECK(conf.http.listeners[0].bind_address.empty());  // loopback only
    CHECK(conf.http.listeners[0].allow_anonymous);
    CHECK(conf.http.listeners[0].mount_point == "site/");  // the MQTT listeners'
    CHECK(conf.http.listeners[0].defined_at == "t.conf:3");
    CHECK(conf.http.listeners[1].bind_address == "0.0.0.0");
    CHECK_FALSE(conf.http.listeners[1].allow_anonymous);
    CHECK(conf.http.listeners[1].mount_point == "");
    CHECK(conf.http.admins == std::vector<std::string>{"ops", "root"});
    CHECK(conf.http.allowed_hosts == std::vector<std::string>{"broker.example.com", "other.example"});
    CHECK(conf.http.cors_origins == std::vector<std::string>{"https://dash.example.com"});

    CHECK(error("http_allow_anonymous true\n") ==
          "t.conf:1: http_allow_anonymous: must come after an 'http_listener PORT [ADDRESS]' line");
    CHECK(error("http_listener 80\nhttp_mount_point a/#\n") ==
          "t.conf:2: http_mount_point: must not contain the wildcards + or #, got 'a/#'");
    CHECK(error("http_cors_origin dash.example.com\n").starts_with("t.conf:1: http_cors_origin: expected an origin"));
    CHECK(error("listener 1883\nmount_point a/\nlistener 1884\nhttp_listener 80\n") ==
          "t.conf:4: http_listener: the MQTT listeners have different mount points (none, 'a/'); say which part of "
          "the tree this listener shows with http_mount_point PREFIX (or none)");
    CHECK(error("http_listener 80\nhttp_require_certificate true\n") ==
          "t.conf:1: http_listener: client certificates need HTTPS (http_certfile, http_keyfile)");
    CHECK(error("http_listener 80\nhttp_token_file /nonexistent/tokens\n")
              .starts_with("t.conf:2: http_token_file: cannot read '/nonexistent/tokens'"));
}
