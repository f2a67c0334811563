// The `kafka` exporter module: Kafka (librdkafka).
#include "sdk/module_entry.hpp"
#include "sinks.hpp"

namespace strata::exporters {

std::unique_ptr<sink> make_module_sink(const config::exporter_config& cfg, const std::string& password,
                                       std::string& error) {
    return make_kafka_sink(cfg, password, error);
}

}  // namespace strata::exporters
