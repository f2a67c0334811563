#include "sinks.hpp"

namespace strata::exporters {

namespace {

// SQLite, PostgreSQL and MongoDB have no exporter_option: one is a mistake, not a no-op.
bool refuse_options(const config::exporter_config& cfg, std::string& error) {
    if (cfg.options.empty()) return false;
    error = cfg.defined_at + ": exporter " + cfg.name + ": a " + cfg.kind + " exporter has no exporter_option, got '" +
            cfg.options.front().first + " " + cfg.options.front().second + "'";
    return true;
}

}  // namespace

std::unique_ptr<sink> make_sink(const config::exporter_config& cfg, const std::string& password, std::string& error) {
    const bool takes_options = cfg.kind == "mariadb" || cfg.kind == "neo4j" || cfg.kind == "kafka";
    if (!takes_options && refuse_options(cfg, error)) return nullptr;
    if (cfg.kind == "sqlite") return make_sqlite_sink(cfg);
    if (cfg.kind == "mariadb") return make_mariadb_sink(cfg, password, error);
    if (cfg.kind == "postgresql") return make_postgresql_sink(cfg, password, error);
    if (cfg.kind == "mongodb") return make_mongodb_sink(cfg, password, error);
    if (cfg.kind == "neo4j") return make_neo4j_sink(cfg, password, error);
    if (cfg.kind == "kafka") return make_kafka_sink(cfg, password, error);
    error = cfg.defined_at + ": exporter kind '" + cfg.kind + "' is not available yet";
    return nullptr;
}

}  // namespace strata::exporters
