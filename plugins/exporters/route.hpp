// A route of an exporter, compiled: the MQTT filter without capture names,
// which level each name captures, and how the payload is read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/broker_config.hpp"
#include "export_row.hpp"
#include "json_reader.hpp"

namespace strata::exporters {

class route {
public:
    explicit route(const config::export_route_config& cfg);

    const config::export_route_config& config() const { return cfg_; }
    bool matches(std::string_view topic) const;
    // Fills captures, fields/payload and error of `row` (whose topic is set).
    void map(std::string_view payload, export_row& row, json_reader& json) const;
    void map(std::string_view payload, export_row& row) const;  // with a reader of its own (tests)

private:
    const config::export_route_config& cfg_;
    std::string filter_;                    // + and # only
    std::vector<std::pair<std::size_t, std::string>> captures_;  // level index, name
};

// Routes of one exporter in configuration order; the first match takes a message.
class route_table {
public:
    explicit route_table(const std::vector<config::export_route_config>& routes);
    const route* find(std::string_view topic) const;

private:
    std::vector<route> routes_;
};

}  // namespace strata::exporters
