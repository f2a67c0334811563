// Neo4j over its HTTP transactional API (POST /db/DATABASE/tx/commit, one
// transaction per batch). The graph (docs/exporters.md, "Neo4j"):
//
//   (:Topic {name:'a/b/c'})-[:CHILD_OF]->(:Topic {name:'a/b'})-[:CHILD_OF]->(:Topic {name:'a'})
//   (:Client {id})-[:PUBLISHED]->(:Topic)                one per publisher and topic
//   readings nodes (default):  (:TARGET {uid, ts, ts_us, topic, client_id, qos, retain, <captures>, <fields>})-[:ON_TOPIC]->(:Topic)
//   readings relationships:    (:Client)-[:TARGET {uid, ts, ...}]->(:Topic), one per message
//   misfits (both modes):      (:TARGET_errors {uid, ..., reason, payload})-[:ON_TOPIC]->(:Topic)
//
// Everything is MERGEd on a unique key (topic name, client id, the message's
// uid "topicid-ts-seq"), batched with UNWIND, so a replayed batch changes
// nothing. The uniqueness constraints those MERGEs look up are created first:
// without their indexes every MERGE would scan. A transaction Neo4j refuses
// for what the rows hold (a constraint of the user's, a type: the
// Neo.ClientError codes refuses_rows() lists) is a data_error, which the runner
// isolates; Neo.TransientError, Neo.DatabaseError and every other refusal
// (authentication, a missing database) are retried.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>

#include <openssl/evp.h>

#include "codec/utf8.hpp"
#include "db_url.hpp"
#include "http_client.hpp"
#include "sinks.hpp"

namespace strata::exporters {

namespace {

using nlohmann::json;

// The properties strata sets on every reading: a payload field or a capture
// with one of these names is kept as field_NAME instead of overwriting it.
constexpr std::string_view metadata_names[] = {"uid", "ts", "ts_us", "topic", "client_id", "qos", "retain"};

// A batch whose commit takes longer than this is abandoned and retried (a
// replay is harmless); a stopped server fails at once (connection refused).
constexpr auto request_timeout = std::chrono::seconds(30);

std::string quote_name(std::string_view name) {
    std::string out = "`";
    for (char c : name) {
        if (c == '`') out += '`';
        out += c;
    }
    return out + "`";
}

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// Neo4j integers are 64-bit signed: larger JSON integers become floats.
json property_number(const json& v) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
        return v.get<double>();
    }
    return v;
}

// Neo4j properties are numbers, strings, booleans or lists of one of those
// (lists of numbers may mix integers and floats: Neo4j stores them as floats).
// Anything else (objects, nested lists, lists with nulls or of mixed kinds) is
// kept as JSON text, so that no payload can make a batch fail.
json property_value(const json& v) {
    if (v.is_number()) return property_number(v);
    if (!v.is_array()) return v.is_object() ? json(v.dump()) : v;
    if (v.empty()) return v;
    const auto kind = [](const json& e) { return e.is_number() ? json::value_t::number_float : e.type(); };
    const auto first = kind(v.front());
    if (first != json::value_t::number_float && first != json::value_t::string && first != json::value_t::boolean) {
        return v.dump();
    }
    json out = json::array();
    bool floats = false;
    for (const auto& e : v) {
        if (kind(e) != first) return v.dump();
        floats = floats || e.is_number_float() || property_number(e).is_number_float();
    }
    for (const auto& e : v) out.push_back(floats && e.is_number() ? json(e.get<double>()) : e);
    return out;
}

// Neo4j status codes that mean "these rows, never": a constraint of the
// user's (a uniqueness or existence constraint on a property), a value of a
// type or range Neo4j refuses. Statement errors that do not depend on the rows
// (syntax, a missing parameter) would fail every batch, and are not listed.
bool refuses_rows(std::string_view code) {
    constexpr std::string_view codes[] = {
        "Neo.ClientError.Schema.ConstraintValidationFailed", "Neo.ClientError.Statement.ConstraintVerificationFailed",
        "Neo.ClientError.Statement.TypeError",               "Neo.ClientError.Statement.ArgumentError",
        "Neo.ClientError.Statement.ArithmeticError",
    };
    return std::find(std::begin(codes), std::end(codes), code) != std::end(codes);
}

std::string property_name(const std::string& name) {
    for (auto m : metadata_names) {
        if (name == m) return "field_" + name;
    }
    return name;
}

class neo4j_sink final : public sink {
public:
    neo4j_sink(db_url url, std::string password, std::string database, bool as_relationships)
        : url_(std::move(url)),
          where_("Neo4j at " + url_.host + ":" + std::to_string(url_.port)),
          authorization_(basic_authorization(url_.user.empty() ? "neo4j" : url_.user, password)),
          target_("/db/" + database + "/tx/commit"),
          relationships_(as_relationships),
          client_(url_.host, url_.port, request_timeout) {}

    void write(std::span<const export_row> rows) override {
        // Each row's label (or relationship type) and parameters; a row whose
        // payload Neo4j cannot take becomes a misfit here.
        std::map<std::string, json> readings;  // label -> rows; "_errors" labels are always nodes
        std::set<std::string> topics;
        std::set<std::pair<std::string, std::string>> edges, published;
        for (const auto& r : rows) {
            std::string reason = r.error;
            json props = reason.empty() ? properties(r, reason) : json();
            if (!reason.empty()) props = error_properties(r, reason);
            readings[reason.empty() ? r.route->target : r.route->target + "_errors"].push_back(
                {{"uid", r.unique_id()}, {"topic", r.topic}, {"client_id", r.client_id}, {"props", std::move(props)}});
            published.emplace(r.client_id, r.topic);
            std::string_view t = r.topic;
            topics.emplace(t);
            for (auto slash = t.rfind('/'); slash != std::string_view::npos; slash = t.rfind('/')) {
                edges.emplace(std::string(t), std::string(t.substr(0, slash)));
                t = t.substr(0, slash);
                topics.emplace(t);
            }
        }
        ensure_constraints(readings);

        json statements = json::array();
        statements.push_back({{"statement", "UNWIND $topics AS name MERGE (:Topic {name: name})"},
                              {"parameters", {{"topics", topics}}}});
        if (!edges.empty()) {
            statements.push_back({{"statement",
                                   "UNWIND $edges AS e MATCH (c:Topic {name: e[0]}) MATCH (p:Topic {name: e[1]}) "
                                   "MERGE (c)-[:CHILD_OF]->(p)"},
                                  {"parameters", {{"edges", edges}}}});
        }
        statements.push_back({{"statement",
                               "UNWIND $published AS p MERGE (c:Client {id: p[0]}) WITH c, p "
                               "MATCH (t:Topic {name: p[1]}) MERGE (c)-[:PUBLISHED]->(t)"},
                              {"parameters", {{"published", published}}}});
        // ts: a DATETIME in UTC to the microsecond, from ts_us (set in props).
        const std::string set = " ON CREATE SET x = r.props, x.ts = datetime({epochSeconds: r.props.ts_us / 1000000, "
                                "nanosecond: r.props.ts_us % 1000000 * 1000})";
        for (auto& [label, list] : readings) {
            std::string cypher;
            if (relationships_ && !label.ends_with("_errors")) {
                cypher = "UNWIND $rows AS r MATCH (c:Client {id: r.client_id}) MATCH (t:Topic {name: r.topic}) "
                         "MERGE (c)-[x:" + quote_name(label) + " {uid: r.uid}]->(t)" + set;
            } else {
                cypher = "UNWIND $rows AS r MATCH (t:Topic {name: r.topic}) MERGE (x:" + quote_name(label) +
                         " {uid: r.uid})" + set + " MERGE (x)-[:ON_TOPIC]->(t)";
            }
            statements.push_back({{"statement", std::move(cypher)}, {"parameters", {{"rows", std::move(list)}}}});
        }
        run(statements);
    }

    void disconnect() override {
        client_.close();
        constrained_.clear();
    }

private:
    // The reading's properties: metadata, captures, then the payload.
    // Sets `reason` (and returns null) when Neo4j cannot take a field.
    json properties(const export_row& r, std::string& reason) const {
        json props = metadata(r);
        for (const auto& [name, value] : r.captures) props[property_name(name)] = value;
        if (r.fields.is_object()) {
            for (const auto& [k, v] : r.fields.items()) {
                // Neo4j refuses these property names ("not a valid token
                // name"), failing the whole transaction: the row is a misfit.
                if (k.empty() || k.find('\0') != std::string::npos) {
                    reason = "field name '" + k + "' is not a valid Neo4j property name (empty or with a NUL byte)";
                    return nullptr;
                }
                if (!v.is_null()) props[property_name(k)] = property_value(v);  // Neo4j has no null properties
            }
            // A field list's types mean what they mean for SQL columns: `json`
            // is JSON text, a `number` that is a boolean is 1 or 0.
            const auto& route = *r.route;
            for (std::size_t i = 0; !route.all_fields && i < route.fields.size(); ++i) {
                const auto it = r.fields.find(route.field_names[i]);
                if (it == r.fields.end()) continue;
                auto& p = props[property_name(route.field_names[i])];
                if (route.field_types[i] == "json") p = it->dump();
                else if (route.field_types[i] == "number" && it->is_boolean()) p = it->get<bool>() ? 1 : 0;
            }
        } else {
            add_payload(props, r.payload);
        }
        return props;
    }

    json error_properties(const export_row& r, const std::string& reason) const {
        json props = metadata(r);
        for (const auto& [name, value] : r.captures) props[property_name(name)] = value;
        props["reason"] = reason;
        add_payload(props, r.payload.empty() && !r.fields.is_null() ? r.fields.dump() : r.payload);
        return props;
    }

    static json metadata(const export_row& r) {
        return {{"uid", r.unique_id()}, {"ts_us", r.key.ts_us}, {"topic", r.topic},
                {"client_id", r.client_id}, {"qos", r.qos}, {"retain", r.retain}};
    }

    static void add_payload(json& props, const std::string& payload) {
        if (codec::is_valid_utf8(payload)) {
            props["payload"] = payload;
        } else {
            props["payload"] = base64(payload);
            props["payload_encoding"] = "base64";
        }
    }

    // Uniqueness constraints (each backed by an index) for what the MERGEs
    // look up, once per connection; IF NOT EXISTS makes them cheap to repeat.
    void ensure_constraints(const std::map<std::string, json>& readings) {
        std::vector<std::string> statements;
        if (constrained_.empty()) {
            statements.push_back("CREATE CONSTRAINT strata_topic IF NOT EXISTS FOR (t:Topic) REQUIRE t.name IS UNIQUE");
            statements.push_back("CREATE CONSTRAINT strata_client IF NOT EXISTS FOR (c:Client) REQUIRE c.id IS UNIQUE");
            constrained_.insert("");
        }
        for (const auto& [label, list] : readings) {
            if (!constrained_.insert(label).second) continue;
            if (relationships_ && !label.ends_with("_errors")) {
                statements.push_back("CREATE CONSTRAINT " + quote_name("strata_rel_uid_" + label) +
                                     " IF NOT EXISTS FOR ()-[x:" + quote_name(label) + "]-() REQUIRE x.uid IS UNIQUE");
            } else {
                statements.push_back("CREATE CONSTRAINT " + quote_name("strata_uid_" + label) +
                                     " IF NOT EXISTS FOR (x:" + quote_name(label) + ") REQUIRE x.uid IS UNIQUE");
            }
        }
        // Schema changes cannot share a transaction with writes: one request
        // each. A refusal there does not depend on the rows: retried.
        try {
            for (const auto& s : statements) run(json::array({{{"statement", s}}}), false);
        } catch (...) {
            constrained_.clear();
            throw;
        }
    }

    // Sends the statements as one transaction; `rows`: they write rows, so a
    // refusal for what the rows hold is a data_error.
    void run(const json& statements, bool rows = true) {
        http_reply reply;
        try {
            reply = client_.post_json(target_, json({{"statements", statements}}).dump(), authorization_);
        } catch (const export_error& e) {
            throw export_error(where_ + ": " + e.what());
        }
        const auto body = json::parse(reply.body, nullptr, false);
        std::string neo4j_error, code;
        if (body.is_object()) {
            if (const auto errors = body.find("errors"); errors != body.end() && errors->is_array() && !errors->empty()) {
                const auto& e = errors->front();
                code = e.value("code", std::string("error"));
                neo4j_error = code + ": " + e.value("message", std::string());
            }
        }
        if (reply.status == 401) {
            throw export_error(where_ + ": authentication failed (" +
                               (neo4j_error.empty() ? "HTTP 401" : neo4j_error) + ")");
        }
        if (reply.status != 200) {
            throw export_error(where_ + " answered HTTP " + std::to_string(reply.status) + ": " +
                               (neo4j_error.empty() ? reply.body.substr(0, 200) : neo4j_error));
        }
        if (body.is_discarded()) throw export_error(where_ + " answered something that is not JSON");
        if (!neo4j_error.empty()) {
            if (rows && refuses_rows(code)) throw data_error("Neo4j: " + neo4j_error);
            throw export_error(where_ + ": " + neo4j_error);
        }
    }

    db_url url_;
    std::string where_;
    std::string authorization_;
    std::string target_;
    bool relationships_;
    http_client client_;
    std::set<std::string> constrained_;  // labels with a uid constraint, in this connection
};

bool valid_database_name(const std::string& name) {
    if (name.empty()) return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

std::unique_ptr<sink> make_neo4j_sink(const config::exporter_config& cfg, const std::string& password,
                                      std::string& error) {
    auto url = parse_db_url(cfg.url, 7474);
    if (!url || url->scheme != "http") {
        error = cfg.defined_at + ": exporter " + cfg.name +
                ": exporter_url must be http://[USER@]HOST:PORT (Neo4j's HTTP API; bolt:// is not supported)";
        return nullptr;
    }
    std::string database = "neo4j";
    bool relationships = false;
    for (const auto& [key, value] : cfg.options) {
        if (key == "database" && valid_database_name(value)) {
            database = value;
        } else if (key == "readings" && (value == "nodes" || value == "relationships")) {
            relationships = value == "relationships";
        } else {
            error = cfg.defined_at + ": exporter " + cfg.name + ": unknown neo4j option '" + key + " " + value +
                    "' (database NAME of letters, digits, . - _; readings nodes|relationships)";
            return nullptr;
        }
    }
    return std::make_unique<neo4j_sink>(std::move(*url), password, database, relationships);
}

}  // namespace strata::exporters
