// Neo4j over its HTTP transactional API (POST /db/DATABASE/tx/commit, one
// transaction per batch). The graph:
//
//   (:Client {id})-[:PUBLISHED]->(:Topic {name})        who publishes where
//   (:Topic {name:'a/b/c'})-[:CHILD_OF]->(:Topic {name:'a/b'})-[:CHILD_OF]->(:Topic {name:'a'})
//   readings nodes (default):      (:TARGET {uid, ts, ts_us, topic, client_id, qos, retain, <captures>, <fields>})-[:ON_TOPIC]->(:Topic)
//   readings relationships:        (:Client)-[:PUBLISHED {uid, ts, ..., <fields>}]->(:Topic), one per message
//
// Everything is written with MERGE on a unique key (topic name, client id,
// the message's uid "topicid-ts-seq"), batched with UNWIND, so a replayed
// batch changes nothing. Uniqueness constraints are created on first use.
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

std::string quote_label(std::string_view name) {
    std::string out = "`";
    for (char c : name) {
        if (c == '`') out += '`';
        out += c;
    }
    return out + "`";
}


std::string base64(std::string_view bytes);

// Neo4j properties are primitives or arrays of primitives: nested objects are kept as JSON text.
json property_value(const json& v) {
    if (v.is_object()) return v.dump();
    if (v.is_array()) {
        for (const auto& e : v) {
            if (e.is_object() || e.is_array() || e.is_null()) return v.dump();
        }
    }
    return v;
}

class neo4j_sink final : public sink {
public:
    neo4j_sink(db_url url, std::string password, std::string database, bool as_relationships)
        : url_(std::move(url)),
          authorization_(basic_authorization(url_.user.empty() ? "neo4j" : url_.user, password)),
          target_("/db/" + database + "/tx/commit"),
          relationships_(as_relationships),
          client_(url_.host, url_.port, std::chrono::seconds(10)) {}

    void write(std::span<const export_row> rows) override {
        ensure_constraints(rows);
        json statements = json::array();
        // The topic hierarchy of this batch's topics.
        std::set<std::pair<std::string, std::string>> edges;
        for (const auto& r : rows) {
            std::string_view t = r.topic;
            for (auto slash = t.rfind('/'); slash != std::string_view::npos; slash = t.rfind('/')) {
                edges.emplace(std::string(t), std::string(t.substr(0, slash)));
                t = t.substr(0, slash);
            }
        }
        if (!edges.empty()) {
            json list = json::array();
            for (const auto& [child, parent] : edges) list.push_back({{"child", child}, {"parent", parent}});
            statements.push_back({{"statement",
                                   "UNWIND $edges AS e MERGE (c:Topic {name: e.child}) MERGE (p:Topic {name: e.parent}) "
                                   "MERGE (c)-[:CHILD_OF]->(p)"},
                                  {"parameters", {{"edges", std::move(list)}}}});
        }
        std::map<std::string, json> by_label;
        for (const auto& r : rows) {
            const std::string label = r.error.empty() ? r.route->target : r.route->target + "_errors";
            auto& list = by_label[label];
            if (list.is_null()) list = json::array();
            list.push_back(row_json(r));
        }
        for (auto& [label, list] : by_label) {
            const bool errors = label.ends_with("_errors");
            std::string cypher =
                "UNWIND $rows AS r MERGE (c:Client {id: r.client_id}) MERGE (t:Topic {name: r.topic}) ";
            const std::string set_props =
                " += r.props, x.ts = datetime({epochMillis: r.ts_ms}), x.ts_us = r.ts_us, x.topic = r.topic, "
                "x.client_id = r.client_id, x.qos = r.qos, x.retain = r.retain";
            if (relationships_ && !errors) {
                cypher += "MERGE (c)-[x:PUBLISHED {uid: r.uid}]->(t) ON CREATE SET x" + set_props;
            } else {
                cypher += "MERGE (c)-[:PUBLISHED]->(t) MERGE (x:" + quote_label(label) +
                          " {uid: r.uid}) ON CREATE SET x" + set_props + " MERGE (x)-[:ON_TOPIC]->(t)";
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
    json row_json(const export_row& r) const {
        json props = json::object();
        for (const auto& [name, value] : r.captures) props[name] = value;
        if (!r.error.empty()) {
            props["reason"] = r.error;
            add_payload(props, r.payload);
        } else if (r.fields.is_object()) {
            for (const auto& [k, v] : r.fields.items()) {
                if (!v.is_null()) props[k] = property_value(v);
            }
        } else {
            add_payload(props, r.payload);
        }
        return {{"uid", r.unique_id()},
                {"ts_ms", r.key.ts_us / 1000},
                {"ts_us", r.key.ts_us},
                {"topic", r.topic},
                {"client_id", r.client_id},
                {"qos", r.qos},
                {"retain", r.retain},
                {"props", std::move(props)}};
    }

    static void add_payload(json& props, const std::string& payload) {
        if (codec::is_valid_utf8(payload)) {
            props["payload"] = payload;
        } else {
            props["payload"] = base64(payload);
            props["payload_encoding"] = "base64";
        }
    }

    void ensure_constraints(std::span<const export_row> rows) {
        std::set<std::string> labels;
        for (const auto& r : rows) labels.insert(r.error.empty() ? r.route->target : r.route->target + "_errors");
        json statements = json::array();
        if (constrained_.empty()) {
            statements.push_back(
                {{"statement", "CREATE CONSTRAINT strata_topic IF NOT EXISTS FOR (t:Topic) REQUIRE t.name IS UNIQUE"}});
            statements.push_back(
                {{"statement", "CREATE CONSTRAINT strata_client IF NOT EXISTS FOR (c:Client) REQUIRE c.id IS UNIQUE"}});
        }
        for (const auto& label : labels) {
            if (relationships_ && !label.ends_with("_errors")) continue;
            if (!constrained_.insert(label).second) continue;
            statements.push_back({{"statement", "CREATE CONSTRAINT " + quote_label("strata_" + label + "_uid") +
                                                    " IF NOT EXISTS FOR (x:" + quote_label(label) +
                                                    ") REQUIRE x.uid IS UNIQUE"}});
        }
        if (constrained_.empty()) constrained_.insert("");  // the Topic and Client constraints are made
        // Schema changes cannot share a transaction with writes: one request each.
        for (auto& s : statements) run(json::array({std::move(s)}));
    }

    void run(const json& statements) {
        const auto reply = client_.post_json(target_, json({{"statements", statements}}).dump(), authorization_);
        if (reply.status == 401) throw export_error("Neo4j at " + url_.host + ":" + std::to_string(url_.port) +
                                                    ": authentication failed (user or password wrong)");
        if (reply.status != 200) {
            throw export_error("Neo4j answered HTTP " + std::to_string(reply.status) + ": " + reply.body.substr(0, 200));
        }
        const auto body = json::parse(reply.body, nullptr, false);
        if (body.is_discarded()) throw export_error("Neo4j answered something that is not JSON");
        if (const auto errors = body.find("errors"); errors != body.end() && !errors->empty()) {
            const auto& e = errors->front();
            throw export_error("Neo4j: " + e.value("code", std::string("error")) + ": " +
                               e.value("message", std::string()));
        }
    }

    db_url url_;
    std::string authorization_;
    std::string target_;
    bool relationships_;
    http_client client_;
    std::set<std::string> constrained_;  // labels with a uid constraint, in this connection
};

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
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
        if (key == "database") {
            database = value;
        } else if (key == "readings" && (value == "nodes" || value == "relationships")) {
            relationships = value == "relationships";
        } else {
            error = cfg.defined_at + ": exporter " + cfg.name + ": unknown neo4j option '" + key + " " + value +
                    "' (database NAME, readings nodes|relationships)";
            return nullptr;
        }
    }
    return std::make_unique<neo4j_sink>(std::move(*url), password, database, relationships);
}

}  // namespace strata::exporters
