// `strata passwd`: manages password files with mosquitto_passwd's options
// (-c, -b, -D, -U, -H), so that scripts written for mosquitto_passwd work with
// `strata passwd` in its place. Parsed by hand, as mosquitto_passwd does:
// its -c and -D mean something else than strata's own options.
#pragma once

namespace strata::app {

// argv: the arguments after "passwd". Returns the exit code.
int run_passwd(int argc, char** argv);

}  // namespace strata::app
