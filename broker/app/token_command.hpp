// `strata token`: makes and revokes the bearer tokens of the HTTP API
// (http_token_file). The file keeps only each token's SHA-256, so a token is
// shown once, when it is made.
#pragma once

namespace strata::app {

// argv: the arguments after "token". Returns the exit code.
int run_token(int argc, char** argv);

}  // namespace strata::app
