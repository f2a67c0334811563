// The sink of each exporter kind, and the factory that picks one.
#pragma once

#include <memory>
#include <string>

#include "config/broker_config.hpp"
#include "export_row.hpp"

namespace strata::exporters {

std::unique_ptr<sink> make_sqlite_sink(const config::exporter_config& cfg);
// These check the exporter_url and the exporter_options (null with `error`
// when one does not fit; docs/exporters.md).
std::unique_ptr<sink> make_mariadb_sink(const config::exporter_config& cfg, const std::string& password,
                                        std::string& error);
std::unique_ptr<sink> make_postgresql_sink(const config::exporter_config& cfg, const std::string& password,
                                           std::string& error);
std::unique_ptr<sink> make_mongodb_sink(const config::exporter_config& cfg, const std::string& password,
                                        std::string& error);
std::unique_ptr<sink> make_neo4j_sink(const config::exporter_config& cfg, const std::string& password,
                                      std::string& error);
// The password, if any, is SASL's (with exporter_option rdkafka.security.protocol ...).
std::unique_ptr<sink> make_kafka_sink(const config::exporter_config& cfg, const std::string& password,
                                      std::string& error);

// SQLite, PostgreSQL and MongoDB have no exporter_option: one is a mistake,
// not a no-op. True, with `error`, when cfg has one.
bool refuse_options(const config::exporter_config& cfg, std::string& error);

// The sink for cfg.kind; null with `error` for a kind this build lacks, or
// exporter_options on a kind that has none. The broker loads each kind's
// module instead (module_sink.hpp); this is for the tests of the sinks.
std::unique_ptr<sink> make_sink(const config::exporter_config& cfg, const std::string& password, std::string& error);

}  // namespace strata::exporters
