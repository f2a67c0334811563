// The command line, Mosquitto-compatible (-c, -p, -v, -d) plus strata's own
// options. Parsed with CLI11 in options.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata::app {

struct options {
    std::string config_file;              // -c; empty = Mosquitto 2 defaults
    std::vector<std::uint16_t> ports;     // -p, repeatable
    bool verbose = false;                 // -v
    bool daemon = false;                  // -d
    bool check_only = false;              // --check / --test-config
    std::string ports_file;               // --ports-file: where the bound ports are written
};

// Parses argv. Returns an exit code when the program should stop right away
// (--help, --version, --conf-reference or a usage error), nullopt to run.
std::optional<int> parse_options(int argc, char** argv, options& out);

}  // namespace strata::app
