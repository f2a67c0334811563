#include "app/options.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "config/config_reference.hpp"

namespace strata::app {

std::optional<int> parse_options(int argc, char** argv, options& out) {
    CLI::App cli{"strata: an MQTT 3.1.1/5.0 broker that keeps every message"};
    cli.set_version_flag("--version", std::string("strata version ") + STRATA_VERSION);
    cli.add_option("-c,--config-file", out.config_file, "Configuration file (Mosquitto syntax)")->check(CLI::ExistingFile);
    cli.add_option("-p,--port", out.ports, "Listen on this port (repeatable; replaces the default listener)")
        ->check(CLI::Range(0, 65535));
    cli.add_flag("-v,--verbose", out.verbose, "Log every message type (log_type all)");
    cli.add_flag("-d,--daemon", out.daemon, "Run in the background");
    cli.add_flag("--check,--test-config", out.check_only,
                 "Validate the configuration and exit: 0 if valid, 1 with file:line: reason otherwise");
    cli.add_option("--ports-file", out.ports_file,
                   "Write 'mqtt <address> <port>' per bound socket to this file once listening");
    bool reference = false;
    cli.add_flag("--conf-reference", reference, "Print the configuration reference (Markdown) and exit");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e);
    }
    if (reference) {
        std::cout << config::reference_markdown();
        return 0;
    }
    return std::nullopt;
}

}  // namespace strata::app
