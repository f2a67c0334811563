#include "sinks.hpp"

namespace strata::exporters {

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
