// The command line, Mosquitto-compatible (-c, -p, -v, -d) plus strata's own
// options and subcommands (query, purge). Parsed with CLI11 in options.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strata::app {

enum class command { serve, query, purge };

struct options {
    std::string config_file;              // -c; empty = Mosquitto 2 defaults
    std::vector<std::uint16_t> ports;     // -p, repeatable
    bool verbose = false;                 // -v
    bool daemon = false;                  // -d
    bool check_only = false;              // --check / --test-config
    std::string ports_file;               // --ports-file: where the bound ports are written

    command cmd = command::serve;
    // strata query ENDPOINT / strata purge: the store (--store, else the conf's)
    std::string store_dir;
    std::string query_endpoint;           // topics, messages, latest or series
    // The parameters given, named as in the HTTP API (docs/http-api.md).
    std::vector<std::pair<std::string, std::string>> query_params;
    bool pretty = false;                  // --pretty: indented JSON
};

// Parses argv. Returns an exit code when the program should stop right away
// (--help, --version, --conf-reference or a usage error), nullopt to run.
std::optional<int> parse_options(int argc, char** argv, options& out);

}  // namespace strata::app
