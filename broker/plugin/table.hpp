// The registrations of every plugin callback, and the small types the broker
// passes around when it calls them. A table is immutable once built: the host
// builds a new one whenever a plugin registers or unregisters a callback and
// hands it to every worker, which reads its own copy without any lock. With
// no plugin, every list is empty and each hook point costs one empty() test.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hooks.hpp"

namespace strata::plugin {

struct loaded_plugin;

struct registration {
    strata_callback callback = nullptr;
    void* userdata = nullptr;
    const loaded_plugin* owner = nullptr;  // for log lines
};

struct table {
    std::array<std::vector<registration>, STRATA_EVENT_LIMIT> events;
    std::uint64_t generation = 0;  // newer tables replace older ones, never the reverse

    const std::vector<registration>& at(int event) const { return events[static_cast<std::size_t>(event)]; }
    bool wants(int event) const { return !events[static_cast<std::size_t>(event)].empty(); }
    // CONNECT goes through the plugin path (authentication chain, connect and
    // a disconnect event owed) when any of these has a callback.
    bool handles_connections() const {
        return wants(STRATA_EVENT_AUTH_BASIC) || wants(STRATA_EVENT_AUTH_EXTENDED) || wants(STRATA_EVENT_CONNECT) ||
               wants(STRATA_EVENT_DISCONNECT);
    }
};

// An empty table, shared by every worker until plugins register.
const std::shared_ptr<const table>& empty_table();

// A callback's decision, given at once or later through host->resume().
struct answer {
    int result = STRATA_PASS;
    std::uint8_t reason_code = 0;
    std::string reason_string;
    std::vector<std::uint8_t> auth_data;  // auth_extended: data for the client
};

// The client an event is about, as the broker knows it.
struct client_view {
    std::string_view client_id;
    std::string_view username;
    std::string_view peer;
    bool has_username = false;
    std::uint8_t protocol_version = 4;
    std::uint16_t listener_port = 0;
    std::uint64_t connection = 0;  // 0 = offline session

    strata_client to_c() const;
};

// Name of an event for log lines ("auth_basic", ...).
std::string_view event_name(int event);

// Name of the plugin that registered `r`, for log lines.
std::string_view plugin_name(const registration& r);

inline strata_str to_c(std::string_view s) { return {s.data(), s.size()}; }
inline strata_bytes to_c_bytes(const std::uint8_t* data, std::size_t size) { return {data, size}; }
inline std::string_view to_view(strata_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

// Zeroes an event struct and fills its header.
template <typename Event>
void init_event(Event& e, int event, std::uint32_t worker) {
    e = Event{};
    e.header.struct_size = sizeof(Event);
    e.header.api_version = STRATA_PLUGIN_API_VERSION;
    e.header.event = static_cast<std::uint16_t>(event);
    e.header.worker = worker;
}

// Calls one callback with fresh output fields and returns its answer (the
// reason string copied). Plugins must not throw: a C++ exception cannot cross
// the C boundary.
answer call(const registration& r, int event, strata_event_header& h);

}  // namespace strata::plugin
