// The sink of each exporter kind, and the factory that picks one.
#pragma once

#include <memory>
#include <string>

#include "config/broker_config.hpp"
#include "export_row.hpp"

namespace strata::exporters {

std::unique_ptr<sink> make_sqlite_sink(const config::exporter_config& cfg);

// The sink for cfg.kind; null with `error` for a kind this build lacks.
std::unique_ptr<sink> make_sink(const config::exporter_config& cfg, const std::string& password, std::string& error);

}  // namespace strata::exporters
