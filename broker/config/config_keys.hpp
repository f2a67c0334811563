// The table of every configuration key strata knows: Mosquitto 2.0's keys
// (supported, accepted without effect, or refused until the release that
// brings them) and strata's own. The parser (config_parser.cpp), --check and
// docs/configuration.md (config_reference.cpp) are all driven by this table,
// so a key is added, documented and validated in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/broker_config.hpp"

namespace strata::config {

// How the argument after the key is read. Mosquitto reads booleans, numbers
// and enumerations as one word and paths and other strings as the rest of
// the line (so they may contain spaces); strata does the same.
enum class value_kind {
    boolean,   // true | false (Mosquitto also accepts 1 | 0)
    integer,   // a decimal integer from min to max
    duration,  // Mosquitto's N followed by h, d, w, m (30 days) or y (365 days); stored in seconds
    text,      // the rest of the line, surrounding blanks removed
    choice,    // one word out of `choices`
    words,     // several words; the first one out of `choices` when there are choices; the
               // apply function checks the rest (`syntax` documents them)
};

// Where a key applies. Listener blocks start at each `listener` line and run
// to the next one (or the end of the file: each file starts outside any block).
enum class key_scope {
    global,
    // The current listener block; before the first `listener` line, the
    // default listener of the deprecated `port` / `bind_address` keys, as in
    // Mosquitto (an error if the file uses neither, see config_parser.cpp).
    listener,
    // Only inside a listener block (Mosquitto refuses mount_point elsewhere).
    listener_block,
    // Global, or like `listener` when per_listener_settings is true.
    security,
    // The HTTP listener block the last `http_listener` line started.
    http_listener_block,
};

enum class key_section { listeners, access, limits, logging, process, persistence, http, exporters };

enum class key_status {
    supported,
    ignored,            // accepted for compatibility, has no effect (documented per key)
    not_supported_yet,  // refused with "not supported yet (<release>)" so that it is never ignored
    not_supported,      // refused for good; `doc` says why and what to use instead
};

// The strata release that brings a feature. Only names, so that the messages
// and the documentation agree; the roadmap decides what they contain.
enum class release { none, tls, auth, websockets, bridge, storage, later };

// "TLS release", "storage release", ..., "a later release".
std::string_view release_name(release r);

struct key_choice {
    std::string_view word;
    release not_yet = release::none;  // set: the word is refused as not supported yet
};

// The argument of one configuration line, already checked against the key's kind.
struct key_value {
    std::string_view text;                   // one word, or the rest of the line
    std::span<const std::string_view> words; // every word of the argument (kind `words`)
    bool flag = false;                       // boolean
    std::int64_t number = 0;                 // integer; duration in seconds
    std::size_t choice = 0;                  // index into the key's choices
};

// What an apply function may ask of the parser beyond writing the
// configuration: the structural keys (listener, include_dir, ...) change how
// the following lines are read.
class parser_hooks {
public:
    // `listener PORT [ADDRESS]`: opens a new listener block.
    virtual std::optional<std::string> open_listener(std::uint16_t port, std::string_view address) = 0;
    // The listener of the deprecated `port` and `bind_address` keys.
    virtual listener_config& default_listener() = 0;
    // Reads the *.conf files of `dir` in Mosquitto's order.
    virtual std::optional<std::string> include_dir(std::string_view dir) = 0;
    virtual std::optional<std::string> set_per_listener_settings(bool on) = 0;

protected:
    ~parser_hooks() = default;
};

struct apply_context {
    broker_config& cfg;
    listener_config* listener;  // target of a listener (or per-listener security) key; nullptr for global
    parser_hooks& parser;
    std::string_view key;       // as written (prefix keys such as plugin_opt_* need the rest of the name)
    std::string_view at;        // "file:line" of the line
};

// Stores a checked value. Returns the reason (without "file:line: key: ")
// when the value is refused after all.
using apply_fn = std::optional<std::string> (*)(apply_context&, const key_value&);

struct key_spec {
    std::string_view name;     // a trailing '*' makes it a prefix (plugin_opt_*)
    value_kind kind = value_kind::text;
    std::int64_t min = 0;      // integer
    std::int64_t max = 0;
    std::span<const key_choice> choices = {};
    std::string_view syntax = {};   // argument syntax for the documentation; derived from kind when empty
    key_scope scope = key_scope::global;
    key_section section = key_section::process;
    std::string_view default_text = {};  // as written in the conf; for one_value_for_all_listeners, the canonical value
    std::string_view doc = {};
    key_status status = key_status::supported;
    release when = release::none;   // not_supported_yet, or the release that lifts `only_value`
    std::string_view only_value = {};  // set: the one value accepted for now (canonical form)
    bool repeatable = false;   // text keys: may appear more than once (Mosquitto refuses duplicate strings)
    // Mosquitto sets it per listener, but broker_config holds one value: the
    // parser refuses listeners that would end up with different values.
    bool one_value_for_all_listeners = false;
    std::string_view alias = {};    // another name Mosquitto accepts for the same key
    // The words include MQTT topic filters, where '#' is a wildcard: no
    // trailing `# comment` is cut off.
    bool takes_filters = false;
    apply_fn apply = nullptr;
};

// The TLS versions a listener accepts (tls_version, http_tls_version): one
// list, as MQTT and HTTP listeners share every OpenSSL setting.
inline constexpr key_choice tls_versions[] = {{"tlsv1.1"}, {"tlsv1.2"}, {"tlsv1.3"}};

// A key of a later release: refused wherever it appears, whatever its value,
// so that e.g. a password_file never silently leaves a broker open.
constexpr key_spec later(std::string_view name, release r, key_section s, std::string_view doc) {
    return {.name = name, .section = s, .doc = doc, .status = key_status::not_supported_yet, .when = r};
}

// Every key, in documentation order within each section.
std::span<const key_spec> all_keys();
// The MQTT listeners' keys (config_keys_listeners.cpp), first in all_keys().
std::span<const key_spec> listener_keys();
// The store's keys, and Mosquitto's persistence keys (config_keys_storage.cpp).
std::span<const key_spec> storage_keys();
// The exporters' keys (config_keys_exporters.cpp), part of all_keys().
std::span<const key_spec> exporter_keys();
// The HTTP face's keys (config_keys_http.cpp), part of all_keys().
std::span<const key_spec> http_keys();
// Once the file is read: the HTTP listeners' mount points, from the MQTT
// listeners' where not set (nullopt: fine; else why not, naming the listener).
std::optional<std::string> finish_http(broker_config& cfg);
// What an exporter block lacks once the file is read (nullopt: complete).
std::optional<std::string> check_exporter(const exporter_config& e);

// The row for a key as written in a conf file (exact name, alias or prefix); nullptr if unknown.
const key_spec* find_key(std::string_view name);

// The closest known key name, for "did you mean" hints; empty if none is close.
std::string_view closest_key(std::string_view name);

// Files named in the configuration are opened at parse time so that a typo
// stops start-up (and --check) with the conf's file:line, not later with
// only the path: nullopt when `path` can be read, else why not.
std::optional<std::string> unreadable_file(std::string_view path);

// A whole decimal integer ("-1", "20"), nothing else around it.
std::optional<std::int64_t> parse_integer(std::string_view text);

// Mosquitto's duration ("12h", "14d", "2w", "1m" = 30 days, "1y" = 365 days) in seconds; > 0.
std::optional<std::int64_t> parse_duration(std::string_view text);
// Sizes: 500KB, 128MB, 2GB, or plain bytes.
std::optional<std::int64_t> parse_size(std::string_view text);
// strata's retention durations: 90s, 30min, 12h, 30d, 2w, 1y, forever (0).
std::optional<std::int64_t> parse_retention(std::string_view text);

}  // namespace strata::config
