// What a connection keeps for its plugins (see auth_handler.cpp). Allocated
// only when plugins take part in connections (auth_basic, auth_extended,
// connect or disconnect callbacks), so a broker without plugins pays one null
// pointer per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plugin/table.hpp"
#include "protocol/connection.hpp"

namespace strata::protocol {

struct connection::plugin_state {
    std::string username;  // of the CONNECT
    bool has_username = false;

    // The disconnect event is owed once the connection reached the connect event.
    bool reached_connect = false;
    bool accepted = false;          // CONNACK success sent
    bool client_initiated = false;  // the client sent DISCONNECT
    std::uint8_t close_reason = 0;  // reason code of the DISCONNECT sent or received

    // The worker counts this connection among those holding the client id's
    // registry claim until it is accepted or refused (worker::end_authentication).
    bool claim_held = false;

    // ---- authentication in progress ----
    // The CONNECT itself (its views are decoded again from here as needed); freed at CONNACK.
    std::vector<std::uint8_t> connect_body;
    bool assigned_id = false;
    // The registrations this authentication runs on, kept while it lasts: a
    // deferred answer continues the chain it interrupted.
    std::shared_ptr<const plugin::table> table;
    int event = 0;            // STRATA_EVENT_AUTH_BASIC / _AUTH_EXTENDED / _CONNECT; 0 = none running
    std::size_t index = 0;    // the registration asked last
    std::uint8_t stage = STRATA_AUTH_START;
    bool reauthenticating = false;  // AUTH 0x19 on a connected client
    std::string method;             // Authentication Method (enhanced authentication); kept for re-authentication
    std::vector<std::uint8_t> auth_data;      // the client's Authentication Data being answered
    std::vector<std::uint8_t> auth_data_out;  // for the CONNACK
    std::uint32_t sequence = 0;     // the last deferral handed out; resume() must name it
    bool awaiting_resume = false;
    bool awaiting_auth = false;     // AUTH 0x18 sent, the client's AUTH is due
};

}  // namespace strata::protocol
