// strata-bench: an MQTT load generator that takes mqtt-bench's flags.
#include <cstdio>
#include <iostream>

#include "options.hpp"
#include "runner.hpp"

int main(int argc, char** argv) {
    strata::bench::options o;
    std::string error;
    if (!strata::bench::parse_options(argc, argv, o, error)) {
        std::cerr << error << "\n";
        return 2;
    }
    switch (o.act) {
        case strata::bench::action::connections: return strata::bench::run_connections(o);
        case strata::bench::action::replay: return strata::bench::run_replay(o);
        default: return strata::bench::run_messages(o);
    }
}
