// The `neo4j` exporter module: Neo4j (its HTTP API, on Boost.Beast).
#include "sdk/module_entry.hpp"
#include "sinks.hpp"

namespace strata::exporters {

std::unique_ptr<sink> make_module_sink(const config::exporter_config& cfg, const std::string& password,
                                       std::string& error) {
    return make_neo4j_sink(cfg, password, error);
}

}  // namespace strata::exporters
