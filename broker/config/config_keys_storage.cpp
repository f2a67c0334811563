// The store's keys (`storage rocksdb`: every message kept, docs/storage.md)
// and Mosquitto's persistence keys (`persistence true`: sessions, their
// queued and in-flight messages and retained messages only), which strata
// serves from the same store.
#include <limits>

#include "config/config_keys.hpp"
#include "topic/topic_name.hpp"

namespace strata::config {

namespace {

using result = std::optional<std::string>;
constexpr result ok = std::nullopt;

constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

constexpr key_choice storage_kinds[] = {{"none"}, {"rocksdb"}};
constexpr key_choice durability_modes[] = {{"none"}, {"wal"}, {"fsync"}};

constexpr key_spec table[] = {
    // ---- Persistence ----
    {.name = "storage", .kind = value_kind::choice, .choices = storage_kinds, .section = key_section::persistence,
     .default_text = "none",
     .doc = "The durable store: `rocksdb` keeps every PUBLISH (queryable by topic and time, exported, kept "
            "as `storage_retention` says), persistent sessions with their queued and in-flight messages, and "
            "retained messages across restarts and crashes; `none` keeps everything in memory (unless "
            "`persistence true`).",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.storage.enabled = v.choice == 1 || c.cfg.persistence;
         c.cfg.storage.keep_history = v.choice == 1;
         return ok;
     }},
    {.name = "storage_path", .syntax = "DIRECTORY", .section = key_section::persistence,
     .default_text = "strata-data",
     .doc = "Directory of the store (created if missing). Default: `persistence_location` if set, else "
            "`strata-data` in the current directory.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.storage.path = std::string(v.text);
         return ok;
     }},
    {.name = "storage_durability", .kind = value_kind::choice, .choices = durability_modes,
     .section = key_section::persistence, .default_text = "wal",
     .doc = "What an acknowledgement of a QoS 1/2 PUBLISH promises. `none`: nothing (the store writes its "
            "memory table only; a crash loses what was not flushed yet, a clean stop keeps everything). `wal`: the message and its deliveries are in "
            "the write-ahead log before PUBACK/PUBREC, so they survive a crash of the process. `fsync`: the "
            "log is also synced to disk (survives power loss; slower). Writes are group-committed and never "
            "block a network thread.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.storage.mode = static_cast<durability>(v.choice);
         return ok;
     }},
    {.name = "storage_retention", .kind = value_kind::words, .syntax = "TOPIC_FILTER DURATION",
     .section = key_section::persistence, .default_text = "forever",
     .doc = "Keep the messages of topics matching TOPIC_FILTER for DURATION (`90s`, `30min`, `12h`, `30d`, "
            "`2w`, `1y`, or `forever`), then delete them. Repeatable; the first matching line wins.",
     .repeatable = true, .takes_filters = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.words.size() != 2) return "expected TOPIC_FILTER DURATION, got '" + std::string(v.text) + "'";
         if (!topic::is_valid_filter(v.words[0])) return "invalid topic filter '" + std::string(v.words[0]) + "'";
         const auto seconds = parse_retention(v.words[1]);
         if (!seconds) {
             return "expected a duration such as 90s, 30min, 12h, 30d, 2w, 1y or forever, got '" +
                    std::string(v.words[1]) + "'";
         }
         c.cfg.storage.retention.push_back({std::string(v.words[0]), static_cast<std::uint64_t>(*seconds)});
         return ok;
     }},
    {.name = "storage_retention_default", .kind = value_kind::words, .syntax = "DURATION",
     .section = key_section::persistence, .default_text = "forever",
     .doc = "Retention of topics no `storage_retention` line matches.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         const auto seconds = v.words.size() == 1 ? parse_retention(v.words[0]) : std::nullopt;
         if (!seconds) {
             return "expected a duration such as 90s, 30min, 12h, 30d, 2w, 1y or forever, got '" +
                    std::string(v.text) + "'";
         }
         c.cfg.storage.default_retention = static_cast<std::uint64_t>(*seconds);
         return ok;
     }},
    {.name = "storage_queue_limit", .kind = value_kind::words, .syntax = "SIZE",
     .section = key_section::persistence, .default_text = "64MB",
     .doc = "How much the workers may hand to the store's writer before it has committed it (`0` = no bound, "
            "`16MB`, `256MB`). When the disk falls behind (a RocksDB write stall, a slow or stalled device), "
            "the broker stops reading its clients' input until half of it is committed: TCP then slows the "
            "publishers down, and memory stays bounded. Keep-alive is not held against clients meanwhile.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         const auto bytes = v.words.size() == 1 ? parse_size(v.words[0]) : std::nullopt;
         if (!bytes) return "expected a size such as 0, 16MB or 256MB, got '" + std::string(v.text) + "'";
         c.cfg.storage.max_queued_bytes = static_cast<std::uint64_t>(*bytes);
         return ok;
     }},
    {.name = "storage_min_free_space", .kind = value_kind::words, .syntax = "SIZE",
     .section = key_section::persistence, .default_text = "128MB",
     .doc = "When the store's file system has less free space than SIZE (`0`, `500KB`, `128MB`, `2GB`), QoS "
            "1/2 publishes are refused (MQTT 5: reason 0x97; 3.1.1: the connection is closed) and no new "
            "message is stored, while subscribers are still served and persistent sessions are still kept "
            "up to date, until space returns. Keeps RocksDB from running into a full disk.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         const auto bytes = v.words.size() == 1 ? parse_size(v.words[0]) : std::nullopt;
         if (!bytes) return "expected a size such as 0, 500KB, 128MB or 2GB, got '" + std::string(v.text) + "'";
         c.cfg.storage.min_free_bytes = static_cast<std::uint64_t>(*bytes);
         return ok;
     }},
    {.name = "persistence", .kind = value_kind::boolean, .section = key_section::persistence,
     .default_text = "false",
     .doc = "Mosquitto's switch for persistence: `true` keeps what Mosquitto keeps across restarts, and "
            "`kill -9` too: persistent sessions with their subscriptions, queued and in-flight QoS 1/2 messages, "
            "and retained messages, in `persistence_location`. It does not keep the history of every message: "
            "that is `storage rocksdb` (which the HTTP API and exporters need).",
     .alias = "retained_persistence",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.persistence = v.flag;
         if (v.flag) c.cfg.storage.enabled = true;
         return ok;
     }},
    {.name = "persistence_location", .syntax = "DIRECTORY", .section = key_section::persistence,
     .doc = "Mosquitto's directory of the persistence file: the store's directory unless `storage_path` is set.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.persistence_location = std::string(v.text);
         return ok;
     }},
    {.name = "persistence_file", .syntax = "FILE_NAME", .section = key_section::persistence,
     .default_text = "mosquitto.db",
     .doc = "Accepted for compatibility; the store is a directory, so the file name is not used.",
     .status = key_status::ignored,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.persistence_file = std::string(v.text);
         return ok;
     }},
    {.name = "autosave_interval", .kind = value_kind::integer, .min = 0, .max = int32_max,
     .section = key_section::persistence, .default_text = "1800",
     .doc = "Accepted for compatibility; the store writes continuously (see `storage_durability`).",
     .status = key_status::ignored,
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.autosave_interval = static_cast<std::uint32_t>(v.number);
         return ok;
     }},
    {.name = "autosave_on_changes", .kind = value_kind::boolean, .section = key_section::persistence,
     .default_text = "false",
     .doc = "Accepted for compatibility; the store writes continuously.",
     .status = key_status::ignored, .apply = [](apply_context&, const key_value&) -> result { return ok; }},
};

}  // namespace

std::span<const key_spec> storage_keys() { return table; }

}  // namespace strata::config
