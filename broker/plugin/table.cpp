#include "plugin/table.hpp"

#include "plugin/host.hpp"

namespace strata::plugin {

const std::shared_ptr<const table>& empty_table() {
    static const std::shared_ptr<const table> empty = std::make_shared<const table>();
    return empty;
}

std::string_view event_name(int event) {
    switch (event) {
        case STRATA_EVENT_CONNECT: return "connect";
        case STRATA_EVENT_AUTH_BASIC: return "auth_basic";
        case STRATA_EVENT_AUTH_EXTENDED: return "auth_extended";
        case STRATA_EVENT_ACL: return "acl";
        case STRATA_EVENT_MESSAGE_IN: return "message_in";
        case STRATA_EVENT_MESSAGE_OUT: return "message_out";
        case STRATA_EVENT_SUBSCRIBE: return "subscribe";
        case STRATA_EVENT_UNSUBSCRIBE: return "unsubscribe";
        case STRATA_EVENT_DISCONNECT: return "disconnect";
        case STRATA_EVENT_TICK: return "tick";
        case STRATA_EVENT_RELOAD: return "reload";
        default: return "unknown event";
    }
}

std::string_view plugin_name(const registration& r) {
    return r.owner ? std::string_view(r.owner->name) : std::string_view("?");
}

strata_client client_view::to_c() const {
    strata_client c{};
    c.struct_size = sizeof(strata_client);
    c.protocol_version = protocol_version;
    c.has_username = has_username ? 1 : 0;
    c.listener_port = listener_port;
    c.connection = connection;
    c.client_id = plugin::to_c(client_id);
    c.username = plugin::to_c(username);
    c.peer = plugin::to_c(peer);
    return c;
}

answer call(const registration& r, int event, strata_event_header& h) {
    // Outputs start empty for each plugin, so one plugin's answer never leaks into the next one's.
    h.reason_code = 0;
    h.reason_string = {};
    answer a;
    a.result = r.callback(event, &h, r.userdata);
    a.reason_code = h.reason_code;
    if (h.reason_string.data && h.reason_string.size) a.reason_string.assign(h.reason_string.data, h.reason_string.size);
    return a;
}

}  // namespace strata::plugin
