// One request on a query thread, after the I/O thread's header checks:
// authenticate (except /health), parse, scope to what the user may read,
// run. The I/O thread turns the answer into an HTTP response.
#pragma once

#include <chrono>
#include <string_view>

#include "http/access.hpp"
#include "http/request.hpp"

namespace strata {
class logger;
}

namespace strata::http {

class api;

struct answer {
    api_response response;
    std::chrono::seconds retry_after{0};  // 429
};

answer handle_request(api& a, access_control& access, logger& log, std::string_view method, std::string_view target,
                      const credentials& c, const request_origin& origin);

}  // namespace strata::http
