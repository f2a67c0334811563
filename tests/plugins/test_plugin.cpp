// A plugin for the end-to-end tests (tests/e2e/test_plugins.py), in C++ to
// show that side of the C ABI. Options:
//   defer_user NAME, defer_password PW  auth_basic for NAME is deferred and answered
//                                       from another thread (OK if the password is PW)
//   defer_delay_ms N                    the deferred auth_basic answer comes N ms later (a slow backend)
//   defer_release_file PATH             the deferred auth_basic answer waits until PATH exists
//                                       (at most 30 s); "auth_basic deferred for NAME" is
//                                       logged when it starts waiting
//   deny_subscribe PREFIX               acl: subscriptions to filters starting with PREFIX are refused
//   deny_read PREFIX                    acl: reading topics starting with PREFIX is refused (deliveries,
//                                       and what the HTTP API shows)
//   auth_method NAME                    enhanced authentication: AUTH "challenge", then
//                                       the client must answer "secret" (CONNACK data "welcome")
//   defer_auth_method NAME              the same exchange, each answer deferred and given
//                                       from another thread through host->resume()
//   deny_write_ids_file PATH            acl: writing is refused to the client ids listed in PATH
//                                       (one a line, read at each check: a changing backend);
//                                       each write check is logged with the client's
//                                       connection and protocol version
//   deny_unsubscribe PREFIX             unsubscribe: unsubscriptions from filters starting with
//                                       PREFIX are refused (the subscription stays); every
//                                       unsubscribe event is logged
//   log_events true                     log connect, disconnect and the first tick
//   marker TEXT                         logged by the reload event
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hooks.hpp"

namespace {

struct state {
    const strata_host* host = nullptr;
    std::string defer_user, defer_password, deny_subscribe, deny_read, auth_method, defer_auth_method,
        deny_unsubscribe, defer_release_file, deny_write_ids_file;
    int defer_delay_ms = 0;
    bool log_events = false;
    std::atomic<bool> ticked{false};
    std::mutex threads_mutex;
    std::vector<std::thread> threads;  // joined at cleanup
};

std::string_view view(strata_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }
std::string_view view(strata_bytes b) { return {reinterpret_cast<const char*>(b.data), b.size}; }

std::string option(const strata_host* host, const char* key) {
    const char* v = host->option(host, key);
    return v ? v : "";
}

void log(state& s, const std::string& line) { s.host->log(s.host, STRATA_LOG_NOTICE, line.c_str()); }

int on_auth_basic(int, void* data, void* userdata) {
    auto& s = *static_cast<state*>(userdata);
    auto& ev = *static_cast<strata_event_auth_basic*>(data);
    if (s.defer_user.empty() || view(ev.client->username) != s.defer_user) return STRATA_PASS;
    // An "asynchronous backend": the answer comes from another thread.
    const bool good = ev.has_password && view(ev.password) == s.defer_password;
    const strata_defer handle = ev.defer;
    if (!s.defer_release_file.empty()) log(s, "auth_basic deferred for " + s.defer_user);
    std::lock_guard lock(s.threads_mutex);
    s.threads.emplace_back([&s, handle, good] {
        if (s.defer_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s.defer_delay_ms));
        // Released by the test once it has done what must happen while the answer waits.
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!s.defer_release_file.empty() && !std::filesystem::exists(s.defer_release_file) &&
               std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        strata_resume r{};
        r.struct_size = sizeof r;
        r.defer = handle;
        r.result = good ? STRATA_OK : STRATA_DENY;
        r.reason_code = good ? 0 : 0x86;
        s.host->resume(s.host, &r);
    });
    return STRATA_DEFER;
}

int on_acl(int, void* data, void* userdata) {
    auto& s = *static_cast<state*>(userdata);
    auto& ev = *static_cast<strata_event_acl*>(data);
    if (ev.access == STRATA_ACCESS_SUBSCRIBE && !s.deny_subscribe.empty() &&
        view(ev.topic).starts_with(s.deny_subscribe)) {
        return STRATA_DENY;
    }
    if (ev.access == STRATA_ACCESS_READ && !s.deny_read.empty() && view(ev.topic).starts_with(s.deny_read)) {
        return STRATA_DENY;
    }
    if (ev.access == STRATA_ACCESS_WRITE && !s.deny_write_ids_file.empty()) {
        const std::string id(view(ev.client->client_id));
        log(s, "acl write by " + id + " (connection " + std::to_string(ev.client->connection) + ", protocol " +
                   std::to_string(ev.client->protocol_version) + ") to " + std::string(view(ev.topic)));
        std::ifstream listed(s.deny_write_ids_file);
        for (std::string line; std::getline(listed, line);) {
            if (line == id) return STRATA_DENY;
        }
    }
    return STRATA_PASS;
}

int on_auth_extended(int, void* data, void* userdata) {
    auto& s = *static_cast<state*>(userdata);
    auto& ev = *static_cast<strata_event_auth_extended*>(data);
    if (view(ev.method) != s.auth_method) return STRATA_PASS;
    static const char challenge[] = "challenge";
    static const char welcome[] = "welcome";
    if (ev.stage == STRATA_AUTH_START) {
        ev.data_out = {reinterpret_cast<const std::uint8_t*>(challenge), sizeof challenge - 1};
        return STRATA_CONTINUE;
    }
    if (view(ev.data) != "secret") return STRATA_DENY;
    ev.data_out = {reinterpret_cast<const std::uint8_t*>(welcome), sizeof welcome - 1};
    return STRATA_OK;
}

// The exchange of on_auth_extended, answered later from a thread, as a
// plugin asking a remote authentication service would.
int on_auth_extended_deferred(int, void* data, void* userdata) {
    auto& s = *static_cast<state*>(userdata);
    auto& ev = *static_cast<strata_event_auth_extended*>(data);
    if (view(ev.method) != s.defer_auth_method) return STRATA_PASS;
    const bool start = ev.stage == STRATA_AUTH_START;
    const std::string client_data(view(ev.data));  // the event's views die with the callback
    const strata_defer handle = ev.defer;
    std::lock_guard lock(s.threads_mutex);
    s.threads.emplace_back([&s, handle, start, client_data] {
        static const char challenge[] = "deferred challenge";
        static const char welcome[] = "deferred welcome";
        strata_resume r{};
        r.struct_size = sizeof r;
        r.defer = handle;
        if (start) {
            r.result = STRATA_CONTINUE;
            r.auth_data = {reinterpret_cast<const std::uint8_t*>(challenge), sizeof challenge - 1};
        } else if (client_data == "secret") {
            r.result = STRATA_OK;
            r.auth_data = {reinterpret_cast<const std::uint8_t*>(welcome), sizeof welcome - 1};
        } else {
            r.result = STRATA_DENY;
        }
        s.host->resume(s.host, &r);
    });
    return STRATA_DEFER;
}

int on_unsubscribe(int, void* data, void* userdata) {
    auto& s = *static_cast<state*>(userdata);
    auto& ev = *static_cast<strata_event_unsubscribe*>(data);
    const auto filter = view(ev.filter);
    log(s, "event unsubscribe " + std::string(view(ev.client->client_id)) + " " + std::string(filter) +
               " group=" + std::string(view(ev.share_group)));
    return filter.starts_with(s.deny_unsubscribe) ? STRATA_DENY : STRATA_OK;
}

int on_connect(int, void* data, void* userdata) {
    auto& ev = *static_cast<strata_event_connect*>(data);
    log(*static_cast<state*>(userdata), "event connect " + std::string(view(ev.client->client_id)));
    return STRATA_OK;
}

int on_disconnect(int, void* data, void* userdata) {
    auto& ev = *static_cast<strata_event_disconnect*>(data);
    log(*static_cast<state*>(userdata), "event disconnect " + std::string(view(ev.client->client_id)) +
                                            " accepted=" + std::to_string(ev.accepted) +
                                            " client=" + std::to_string(ev.client_initiated));
    return STRATA_OK;
}

int on_tick(int, void*, void* userdata) {
    auto& s = *static_cast<state*>(userdata);
    if (!s.ticked.exchange(true)) log(s, "event tick");
    return STRATA_OK;
}

int on_reload(int, void* data, void* userdata) {
    auto& ev = *static_cast<strata_event_reload*>(data);
    std::string marker;
    for (std::size_t i = 0; i < ev.option_count; ++i) {
        if (std::string_view(ev.options[i].key) == "marker") marker = ev.options[i].value;
    }
    log(*static_cast<state*>(userdata), "event reload marker=" + marker);
    return STRATA_OK;
}

}  // namespace

int strata_plugin_version(void) { return STRATA_PLUGIN_API_VERSION; }

int strata_plugin_init(const strata_host* host, const strata_option*, size_t, void** userdata) {
    auto* s = new state;
    s->host = host;
    s->defer_user = option(host, "defer_user");
    s->defer_password = option(host, "defer_password");
    s->deny_subscribe = option(host, "deny_subscribe");
    s->deny_read = option(host, "deny_read");
    if (const auto delay = option(host, "defer_delay_ms"); !delay.empty()) s->defer_delay_ms = std::stoi(delay);
    s->auth_method = option(host, "auth_method");
    s->defer_auth_method = option(host, "defer_auth_method");
    s->deny_unsubscribe = option(host, "deny_unsubscribe");
    s->defer_release_file = option(host, "defer_release_file");
    s->deny_write_ids_file = option(host, "deny_write_ids_file");
    s->log_events = option(host, "log_events") == "true";
    if (!s->defer_user.empty()) host->register_event(host, STRATA_EVENT_AUTH_BASIC, on_auth_basic, s);
    if (!s->deny_subscribe.empty() || !s->deny_read.empty() || !s->deny_write_ids_file.empty()) {
        host->register_event(host, STRATA_EVENT_ACL, on_acl, s);
    }
    if (!s->auth_method.empty()) host->register_event(host, STRATA_EVENT_AUTH_EXTENDED, on_auth_extended, s);
    if (!s->defer_auth_method.empty()) {
        host->register_event(host, STRATA_EVENT_AUTH_EXTENDED, on_auth_extended_deferred, s);
    }
    if (!s->deny_unsubscribe.empty()) host->register_event(host, STRATA_EVENT_UNSUBSCRIBE, on_unsubscribe, s);
    if (s->log_events) {
        host->register_event(host, STRATA_EVENT_CONNECT, on_connect, s);
        host->register_event(host, STRATA_EVENT_DISCONNECT, on_disconnect, s);
        host->register_event(host, STRATA_EVENT_TICK, on_tick, s);
    }
    host->register_event(host, STRATA_EVENT_RELOAD, on_reload, s);
    *userdata = s;
    return STRATA_OK;
}

int strata_plugin_cleanup(void* userdata, const strata_option*, size_t) {
    auto* s = static_cast<state*>(userdata);
    for (auto& t : s->threads) t.join();
    delete s;
    return STRATA_OK;
}
