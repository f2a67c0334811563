// The running program: configuration, logger, broker, listeners and the
// signals that stop (SIGINT, SIGTERM) or reload (SIGHUP) it.
#pragma once

#include "app/options.hpp"

namespace strata::app {

// Loads the configuration, serves until SIGINT/SIGTERM, returns the exit code.
int run_server(const options& opts);

// --check: validates the configuration; prints file:line: reason per error.
int check_configuration(const options& opts);

}  // namespace strata::app
