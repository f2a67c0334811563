// `strata query` and `strata purge`: the query API on the command line.
#pragma once

#include "app/options.hpp"

namespace strata::app {

// Reads the store named by the conf (or --store) as a secondary instance,
// so it works while the broker runs; prints the HTTP API's JSON document.
// Exit code 0, 2 for invalid parameters, 1 for other failures.
int run_query(const options& opts);

// Deletes messages of a stopped broker's store (it opens the store for
// writing). A running broker holds the store's lock: then it says so and
// points to the HTTP API's DELETE.
int run_purge(const options& opts);

}  // namespace strata::app
