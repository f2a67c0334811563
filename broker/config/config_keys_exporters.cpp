// The exporters' keys: strata's own, in Mosquitto's line syntax. An
// `exporter NAME KIND` line starts a block; the `exporter_*` lines after it
// configure that exporter (as `plugin_opt_*` lines configure the last plugin).
// docs/exporters.md explains the model; configuration.md lists the keys.
#include <algorithm>

#include "config/config_keys.hpp"
#include "topic/topic_name.hpp"

namespace strata::config {

namespace {

using result = std::optional<std::string>;
constexpr result ok = std::nullopt;

constexpr std::string_view exporter_kinds[] = {"mariadb", "mysql", "postgresql", "mongodb", "neo4j", "kafka", "sqlite"};

exporter_config* current(apply_context& c) { return c.cfg.exporters.empty() ? nullptr : &c.cfg.exporters.back(); }

// Columns (and document fields) every exported row has: captures and fields must not reuse them.
constexpr std::string_view reserved_names[] = {"topic_id", "ts_us", "seq",     "ts",     "topic",
                                               "client_id", "qos",  "retain", "reason", "_id"};

bool reserved(std::string_view name) {
    return std::find(std::begin(reserved_names), std::end(reserved_names), name) != std::end(reserved_names);
}

constexpr std::string_view no_block = "must come after an 'exporter NAME KIND' line";

bool valid_name(std::string_view n) {
    return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               ch == '-';
    });
}

// "+room" levels name what they capture; the filter without the names must be valid.
result check_route_filter(std::string_view filter) {
    std::string plain;
    std::vector<std::string_view> names;
    topic::level_iterator levels(filter);
    std::string_view level;
    while (levels.next(level)) {
        if (!plain.empty() || !names.empty()) plain += '/';
        if (level.size() > 1 && level.front() == '+') {
            const auto name = level.substr(1);
            if (!valid_name(name)) return "capture name '" + std::string(name) + "' must be letters, digits, _ or -";
            if (reserved(name) || name == "payload") {
                return "capture name '" + std::string(name) + "' is a column every row has; choose another";
            }
            if (std::find(names.begin(), names.end(), name) != names.end()) {
                return "capture name '" + std::string(name) + "' used twice";
            }
            names.push_back(name);
            plain += '+';
        } else {
            names.push_back({});
            plain += level;
        }
    }
    if (!topic::is_valid_filter(plain)) return "invalid topic filter '" + std::string(filter) + "'";
    return ok;
}

// The named levels of a route's filter (`+room` gives room).
std::vector<std::string_view> capture_names(std::string_view filter) {
    std::vector<std::string_view> names;
    topic::level_iterator levels(filter);
    std::string_view level;
    while (levels.next(level)) {
        if (level.size() > 1 && level.front() == '+') names.push_back(level.substr(1));
    }
    return names;
}

// A Kafka topic name: letters, digits, '.', '_' and '-', at most 249
// characters, not "." or "..". 242 here: the dead-letter topic adds "_errors".
result check_kafka_topic(std::string_view t) {
    const bool chars_ok = std::all_of(t.begin(), t.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               ch == '-' || ch == '.';
    });
    if (t.empty() || t.size() > 242 || !chars_ok || t == "." || t == "..") {
        return "Kafka topic '" + std::string(t) +
               "' must be 1 to 242 letters, digits, '.', '_' or '-' (the dead-letter topic adds '_errors'), "
               "not '.' or '..'";
    }
    return ok;
}

result set_number(apply_context& c, const key_value& v, std::uint32_t exporter_config::*field) {
    auto* e = current(c);
    if (!e) return std::string(no_block);
    e->*field = static_cast<std::uint32_t>(v.number);
    return ok;
}

constexpr key_spec table[] = {
    {.name = "exporter", .kind = value_kind::words, .syntax = "NAME KIND", .section = key_section::exporters,
     .doc = "Starts an exporter block (docs/exporters.md): NAME (letters, digits, _ and -) names its cursor in the "
            "store, its `$SYS/strata/exporters/NAME/...` topics and its entry in `GET /api/v1/exporters`; KIND is "
            "`mariadb` (or `mysql`), `postgresql`, `mongodb`, `neo4j`, `kafka` or `sqlite`, each a module "
            "(`strata_exporter_KIND.so` in exporter_plugin_dir) loaded only when a block names it, or the kind of a "
            "module of your own named with exporter_plugin. The `exporter_*` lines after it configure it. Needs the store (`storage rocksdb`): exporters read the messages from it, each "
            "after its own cursor, so a database that is down only delays its exporter. SIGHUP starts the exporters "
            "added, stops the ones removed and restarts the ones changed at their cursors (docs/exporters.md, "
            "Reloading); with no exporter at start-up, exporters take effect at restart.",
    
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         if (v.words.size() != 2) return "expected NAME KIND, got '" + std::string(v.text) + "'";
         const auto name = v.words[0];
         const auto kind = v.words[1];
         if (!valid_name(name)) return "exporter name '" + std::string(name) + "' must be letters, digits, _ or -";
         if (!valid_name(kind)) return "exporter kind '" + std::string(kind) + "' must be letters, digits, _ or -";
         for (const auto& e : c.cfg.exporters) {
             if (e.name == name) return "exporter '" + std::string(name) + "' is already defined at " + e.defined_at;
         }
         exporter_config e;
         e.name = std::string(name);
         e.kind = kind == "mysql" ? "mariadb" : std::string(kind);
         e.defined_at = std::string(c.at);
         c.cfg.exporters.push_back(std::move(e));
         return ok;
     }},
    {.name = "exporter_plugin", .syntax = "PATH", .section = key_section::exporters,
     .doc = "strata: the exporter module (a shared object built on plugins/exporter.h, docs/exporters.md) this "
            "exporter loads, instead of exporter_plugin_dir's `strata_exporter_KIND.so`. Needed for a KIND that "
            "strata does not ship.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         e->plugin = std::string(v.text);
         return ok;
     }},
    {.name = "exporter_plugin_dir", .syntax = "DIR", .section = key_section::exporters,
     .default_text = "../lib/strata (from the strata binary's directory)",
     .doc = "strata: where the exporter modules strata ships are, `strata_exporter_KIND.so` for each kind; a "
            "kind's module (and its database's client library) is loaded only when an exporter block names it.",
     .apply = [](apply_context& c, const key_value& v) -> result {
         c.cfg.exporter_plugin_dir = std::string(v.text);
         return ok;
     }},
    {.name = "exporter_url", .syntax = "URL", .section = key_section::exporters,
     .doc = "Where the exporter's database is: `mysql://USER@HOST:PORT/DATABASE` (mariadb), "
            "`postgresql://USER@HOST:PORT/DATABASE`, `mongodb://HOST:PORT/DATABASE`, `http://HOST:PORT` (neo4j, "
            "its HTTP API; `neo4j://` and `bolt://` are not supported), `HOST:PORT[,HOST:PORT...]` (kafka "
            "bootstrap servers) or a file path (sqlite). Put no password here: see exporter_password_file.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         e->url = std::string(v.text);
         return ok;
     }},
    {.name = "exporter_password_file", .syntax = "PATH", .section = key_section::exporters,
     .doc = "A file whose first line is the database password (keep it readable by strata only). Read at start-up "
            "and on SIGHUP.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         e->password_file = std::string(v.text);
         return ok;
     }},
    {.name = "exporter_password_env", .syntax = "VARIABLE", .section = key_section::exporters,
     .doc = "The environment variable holding the database password (instead of exporter_password_file).",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         e->password_env = std::string(v.text);
         return ok;
     }},
    {.name = "exporter_route", .kind = value_kind::words,
     .syntax = "FILTER TARGET [fields=A[:TYPE][>NAME],B,...|all] [payload=json|text|bytes] [key=NAME|client_id]",
     .section = key_section::exporters,
     .doc = "Sends the messages of topics matching FILTER to TARGET (a table, collection, Kafka topic or Neo4j "
            "label). A `+NAME` level captures that level of the topic as a value named NAME "
            "(`sensors/+room/+kind`). `fields=`: the JSON fields of the payload to keep (each becomes a column, a "
            "document field or a property), each `number` (the default), `text` or `json` (`fields=t,unit:text`), "
            "or `all` (default: the whole JSON object); `>NAME` names the column (document field, property) "
            "differently from the payload's field (`fields=ts:text>device_time`). `payload=text` or `bytes` "
            "takes payloads that are not JSON as they are. A payload that does not fit (not JSON, a field missing) "
            "goes to the exporter's error table or collection (Kafka: the topic TARGET_errors) with the reason, "
            "never dropped; TARGET itself may not end in `_errors`. `key=`: the Kafka message key, a captured level (`key=room`) or `client_id`. A Kafka "
            "topic is letters, digits, `.`, `_` and `-`, at most 242 of them. The first matching route of an "
            "exporter takes a message.",
     .repeatable = true, .takes_filters = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         if (v.words.size() < 2) return "expected FILTER TARGET [options], got '" + std::string(v.text) + "'";
         if (auto problem = check_route_filter(v.words[0])) return problem;
         export_route_config r;
         r.filter = std::string(v.words[0]);
         r.target = std::string(v.words[1]);
         if (e->kind == "kafka") {
             if (auto problem = check_kafka_topic(r.target)) return problem;
         } else if (!valid_name(r.target)) {
             return "target '" + r.target + "' must be letters, digits, _ or -";
         }
         if (r.target.ends_with("_errors")) {
             // Every sink tells a route's misfits from its rows by that suffix:
             // rows routed there would be written as misfits, without their values.
             return "target '" + r.target + "' ends in _errors, which names the misfits of target '" +
                    r.target.substr(0, r.target.size() - 7) + "'; choose another name";
         }
         for (std::size_t i = 2; i < v.words.size(); ++i) {
             const auto w = v.words[i];
             const auto eq = w.find('=');
             const auto option = w.substr(0, eq);
             const auto value = eq == std::string_view::npos ? std::string_view{} : w.substr(eq + 1);
             if (option == "fields" && !value.empty()) {
                 r.all_fields = value == "all";
                 if (r.all_fields) continue;
                 const auto captures = capture_names(r.filter);
                 for (std::size_t at = 0; at <= value.size();) {
                     const auto comma = std::min(value.find(',', at), value.size());
                     auto field = value.substr(at, comma - at);  // FIELD[:TYPE][>NAME]
                     at = comma + 1;
                     std::string_view name, type = "number";
                     if (const auto arrow = field.find('>'); arrow != std::string_view::npos) {
                         name = field.substr(arrow + 1);
                         field = field.substr(0, arrow);
                     }
                     if (const auto colon = field.find(':'); colon != std::string_view::npos) {
                         type = field.substr(colon + 1);
                         field = field.substr(0, colon);
                     }
                     if (!valid_name(field)) return "field name '" + std::string(field) + "' must be letters, digits, _ or -";
                     if (name.empty()) name = field;
                     if (!valid_name(name)) return "name '" + std::string(name) + "' must be letters, digits, _ or -";
                     if (reserved(name)) {
                         return "field '" + std::string(name) +
                                "' is a column every row has (topic_id, ts_us, seq, ts, topic, client_id, qos, retain, "
                                "reason, _id); give it another name (fields=" + std::string(field) + ">" +
                                std::string(field) + "_)";
                     }
                     if (type != "number" && type != "text" && type != "json") {
                         return "field type '" + std::string(type) + "' must be number, text or json";
                     }
                     if (std::find(r.field_names.begin(), r.field_names.end(), name) != r.field_names.end() ||
                         std::find(captures.begin(), captures.end(), name) != captures.end()) {
                         return "name '" + std::string(name) + "' is given twice (fields and +levels of a route "
                                "each need a name of their own)";
                     }
                     r.fields.emplace_back(field);
                     r.field_types.emplace_back(type);
                     r.field_names.emplace_back(name);
                 }
             } else if (option == "payload" && (value == "json" || value == "text" || value == "bytes")) {
                 r.payload = std::string(value);
             } else if (option == "key" && !value.empty()) {
                 r.key = std::string(value);
             } else {
                 return "unknown route option '" + std::string(w) + "' (fields=, payload=json|text|bytes, key=)";
             }
         }
         if (!r.fields.empty() && r.payload != "json") return "fields= needs payload=json";
         if (!r.key.empty() && r.key != "client_id") {
             const auto names = capture_names(r.filter);
             if (std::find(names.begin(), names.end(), r.key) == names.end()) {
                 return "key=" + r.key + ": not client_id nor a +" + r.key + " level of '" + r.filter + "'";
             }
         }
         e->routes.push_back(std::move(r));
         return ok;
     }},
    {.name = "exporter_batch_size", .kind = value_kind::integer, .min = 1, .max = 100000,
     .section = key_section::exporters, .default_text = "1000",
     .doc = "The most messages written to the database in one batch (one transaction or request).",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_number(c, v, &exporter_config::batch_size);
     }},
    {.name = "exporter_batch_time", .kind = value_kind::integer, .min = 0, .max = 60000,
     .section = key_section::exporters, .default_text = "200",
     .doc = "Milliseconds a batch may wait for more messages before it is written.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_number(c, v, &exporter_config::batch_time_ms);
     }},
    {.name = "exporter_retry_min", .kind = value_kind::integer, .min = 10, .max = 3600000,
     .section = key_section::exporters, .default_text = "500",
     .doc = "Milliseconds before the first retry after a failed write (or connection); each further failure "
            "doubles it, up to exporter_retry_max. The batch is retried until it is written.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_number(c, v, &exporter_config::retry_min_ms);
     }},
    {.name = "exporter_retry_max", .kind = value_kind::integer, .min = 10, .max = 3600000,
     .section = key_section::exporters, .default_text = "30000",
     .doc = "The longest wait between retries, in milliseconds.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         return set_number(c, v, &exporter_config::retry_max_ms);
     }},
    {.name = "exporter_start", .kind = value_kind::words, .syntax = "oldest | newest",
     .section = key_section::exporters, .default_text = "oldest",
     .doc = "Where a new exporter (one without a cursor in the store) starts: the oldest message in the export "
            "log, or the next one published.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         if (v.words.size() != 1 || (v.words[0] != "oldest" && v.words[0] != "newest")) {
             return "expected oldest or newest, got '" + std::string(v.text) + "'";
         }
         e->start_at_end = v.words[0] == "newest";
         return ok;
     }},
    {.name = "exporter_option", .kind = value_kind::words, .syntax = "KEY VALUE", .section = key_section::exporters,
    
     .doc = "A setting of the exporter's kind (docs/exporters.md lists them), e.g. `exporter_option readings "
            "relationships` for neo4j, `exporter_option partitions 6` for kafka.",
     .repeatable = true,
     .apply = [](apply_context& c, const key_value& v) -> result {
         auto* e = current(c);
         if (!e) return std::string(no_block);
         if (v.words.size() < 2) return "expected KEY VALUE, got '" + std::string(v.text) + "'";
         const auto value_start = v.words[1].data() - v.text.data();
         e->options.emplace_back(std::string(v.words[0]), std::string(v.text.substr(static_cast<std::size_t>(value_start))));
         return ok;
     }},
};

}  // namespace

std::span<const key_spec> exporter_keys() { return table; }

std::optional<std::string> check_exporter(const exporter_config& e) {
    if (e.plugin.empty() &&
        std::find(std::begin(exporter_kinds), std::end(exporter_kinds), e.kind) == std::end(exporter_kinds)) {
        return "exporter: unknown exporter kind '" + e.kind +
               "' (mariadb, mysql, postgresql, mongodb, neo4j, kafka or sqlite; a module of your own needs "
               "exporter_plugin PATH)";
    }
    if (e.url.empty()) return "exporter '" + e.name + "' needs exporter_url";
    if (e.routes.empty()) return "exporter '" + e.name + "' needs at least one exporter_route";
    if (!e.password_file.empty() && !e.password_env.empty()) {
        return "exporter '" + e.name + "': exporter_password_file and exporter_password_env exclude each other";
    }
    if (e.retry_min_ms > e.retry_max_ms) return "exporter '" + e.name + "': exporter_retry_min exceeds exporter_retry_max";
    for (const auto& r : e.routes) {
        if (!r.key.empty() && e.kind != "kafka") return "exporter '" + e.name + "': key= is for kafka routes";
    }
    return std::nullopt;
}

}  // namespace strata::config
