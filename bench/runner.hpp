// The three kinds of run: publish/subscribe/pubsub (runner.cpp), idle
// connections (connections.cpp) and CSV replay (replay.cpp). Each returns the
// process exit code: 0 on a complete run, 1 when messages were lost or
// duplicated at QoS >= 1, connections failed, or the run timed out.
#pragma once

#include "options.hpp"

namespace strata::bench {

int run_messages(const options& o);
int run_connections(const options& o);
int run_replay(const options& o);

}  // namespace strata::bench
