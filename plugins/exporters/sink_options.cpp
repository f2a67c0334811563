#include "sinks.hpp"

namespace strata::exporters {

bool refuse_options(const config::exporter_config& cfg, std::string& error) {
    if (cfg.options.empty()) return false;
    error = cfg.defined_at + ": exporter " + cfg.name + ": a " + cfg.kind + " exporter has no exporter_option, got '" +
            cfg.options.front().first + " " + cfg.options.front().second + "'";
    return true;
}

}  // namespace strata::exporters
