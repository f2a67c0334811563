#include "http/request_handler.hpp"

#include "core/logger.hpp"
#include "http/api.hpp"
#include "reader.hpp"

namespace strata::http {

answer handle_request(api& a, access_control& access, logger& log, std::string_view method, std::string_view target,
                      const credentials& c, const request_origin& origin) {
    auto parsed = parse_request(method, target);
    const auto* request = std::get_if<parsed_request>(&parsed);
    // Health checks (load balancers, probes) need no user: they show no data.
    if (request && request->what == endpoint::health) return {a.run(*request, {}), {}};

    // Who asks comes before what they ask: without a user, even a bad
    // request only learns that it needs one.
    auto outcome = access.authenticate(c, origin);
    if (!outcome.who) {
        if (outcome.refusal.status == 401 && c.type != credentials::kind::none) {
            log.notice("HTTP: ", origin.peer, " refused: ", outcome.refusal.body["error"].get<std::string>(),
                       c.type == credentials::kind::basic ? " (user '" + c.username + "')" : std::string(),
                       outcome.block_started.count() > 0
                           ? "; further logins from this address are refused for " +
                                 std::to_string(outcome.block_started.count()) + " ms"
                           : std::string(),
                       ".");
        }
        return {std::move(outcome.refusal), outcome.retry_after};
    }
    if (!request) return {std::move(std::get<api_response>(parsed)), {}};

    const auto& who = *outcome.who;
    const auto gate = access.gate_for(who, origin);
    request_scope scope;
    scope.mount_point = origin.mount_point;
    scope.gate = gate.get();
    scope.admin = who.admin;
    try {
        return {a.run(*request, scope), {}};
    } catch (const std::exception& e) {
        return {error_response(500, std::string("internal error: ") + e.what()), {}};
    }
}

}  // namespace strata::http
