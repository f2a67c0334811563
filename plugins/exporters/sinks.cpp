#include "sinks.hpp"

namespace strata::exporters {

std::unique_ptr<sink> make_sink(const config::exporter_config& cfg, const std::string& password, std::string& error) {
    (void)password;
    if (cfg.kind == "sqlite") return make_sqlite_sink(cfg);
    error = cfg.defined_at + ": exporter kind '" + cfg.kind + "' is not available yet";
    return nullptr;
}

}  // namespace strata::exporters
