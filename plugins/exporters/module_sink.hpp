// An exporter module (plugins/exporter.h) loaded from its shared object and
// driven as a sink: the broker's side of the exporter API. Every kind of
// exporter is one, strata's own included, so that the broker binary links no
// database client library and a module's library is loaded only when the conf
// names its kind (docs/exporters.md, "Exporter modules").
#pragma once

#include <memory>
#include <string>

#include "config/broker_config.hpp"
#include "export_row.hpp"

namespace strata::exporters {

// The file of `cfg`'s module: its exporter_plugin, or
// plugin_dir/strata_exporter_KIND.so (plugin_dir empty: default_plugin_dir()).
std::string module_path(const config::exporter_config& cfg, const std::string& plugin_dir);

// ../lib/strata from the directory of the running binary (build/bin/strata
// finds build/lib/strata; /usr/bin/strata, /usr/lib/strata).
std::string default_plugin_dir();

// Loads the module (once per process; never unloaded, as database client
// libraries do not all survive it) and creates the exporter's sink. Null with
// `error` (cfg.defined_at, the file, and what failed: a missing file or
// library, another API version, the module refusing the configuration).
// `cfg` is the runner's: the rows it writes point to its routes.
std::unique_ptr<sink> load_module_sink(std::shared_ptr<const config::exporter_config> cfg,
                                       const std::string& password, const std::string& plugin_dir,
                                       std::string& error);

// Only loads the module and checks its API version (strata -t).
bool probe_module(const config::exporter_config& cfg, const std::string& plugin_dir, std::string& error);

}  // namespace strata::exporters
