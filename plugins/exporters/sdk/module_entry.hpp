// strata's own exporter modules in C++: the C entry points of plugins/exporter.h
// over a `sink` (export_row.hpp). A module defines make_module_sink() and links
// this (module_entry.cpp); rows arrive as export_rows pointing at the module's
// copy of the routes, and export_error / data_error become RETRY / REFUSED.
#pragma once

#include <memory>
#include <string>

#include "config/broker_config.hpp"
#include "export_row.hpp"

namespace strata::exporters {

// Defined once by each module: its sink for `cfg`; null with `error`
// (starting with cfg.defined_at) when the URL or the options do not fit.
std::unique_ptr<sink> make_module_sink(const config::exporter_config& cfg, const std::string& password,
                                       std::string& error);

}  // namespace strata::exporters
