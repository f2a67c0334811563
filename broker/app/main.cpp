// strata: an MQTT 3.1.1/5.0 broker, drop-in for Mosquitto.
#include <cstring>

#include "app/options.hpp"
#include "app/passwd_command.hpp"
#include "app/query_command.hpp"
#include "app/server.hpp"
#include "app/token_command.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "passwd") == 0) return strata::app::run_passwd(argc - 2, argv + 2);
    if (argc > 1 && std::strcmp(argv[1], "token") == 0) return strata::app::run_token(argc - 2, argv + 2);
    strata::app::options opts;
    if (auto exit_code = strata::app::parse_options(argc, argv, opts)) return *exit_code;
    if (opts.cmd == strata::app::command::query) return strata::app::run_query(opts);
    if (opts.cmd == strata::app::command::purge) return strata::app::run_purge(opts);
    if (opts.check_only) return strata::app::check_configuration(opts);
    return strata::app::run_server(opts);
}
