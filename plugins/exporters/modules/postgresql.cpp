// The `postgresql` exporter module: PostgreSQL (libpq).
#include "sdk/module_entry.hpp"
#include "sinks.hpp"

namespace strata::exporters {

std::unique_ptr<sink> make_module_sink(const config::exporter_config& cfg, const std::string& password,
                                       std::string& error) {
    if (refuse_options(cfg, error)) return nullptr;
    return make_postgresql_sink(cfg, password, error);
}

}  // namespace strata::exporters
