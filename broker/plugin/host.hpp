// The plugin host: loads plugins (shared objects named by `plugin` lines, or
// built-in ones registered from C++ with the same entry points), gives each
// its strata_host table, keeps the registrations and hands every worker an
// immutable table of them (plugin/table.hpp). Registration is rare (start-up,
// reload, a plugin changing its mind), so it takes a mutex and publishes a new
// table; the per-message path only ever reads a worker's own table.
//
// Threads: load(), install(), reload() and shutdown() run on the main thread;
// the strata_host functions may be called from any thread (resume() posts the
// answer to the connection's worker).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/broker_config.hpp"
#include "plugin/table.hpp"

namespace strata {
class logger;
namespace core {
class broker;
}
}  // namespace strata

namespace strata::plugin {

class host;
class http_requests;

using option_list = std::vector<std::pair<std::string, std::string>>;

// A plugin's options as C sees them (NUL-terminated strings).
struct option_set {
    option_list values;
    std::vector<strata_option> c;  // points into `values`
};

struct loaded_plugin {
    strata_host api{};       // what the plugin calls; api.host_private points back here
    host* owner = nullptr;
    std::string name;        // for log lines: the file name, or the built-in's name
    std::size_t ordinal = 0; // conf order: orders the callbacks of one event
    void* handle = nullptr;  // dlopen handle (none for built-ins)
    strata_plugin_cleanup_fn cleanup = nullptr;
    void* userdata = nullptr;
    // Every generation stays valid until cleanup, so pointers a plugin got
    // from options() never dangle after a reload; back() is the current one.
    std::deque<option_set> options;
};

class host {
public:
    // The broker whose workers run the callbacks; host and broker are created
    // before load() so that plugins know the worker count at init.
    host(core::broker& b, logger& log);
    ~host();
    host(const host&) = delete;
    host& operator=(const host&) = delete;

    // A plugin compiled into the program, with the entry points of a .so.
    // Built-ins are called before the conf's plugins, in the order added.
    bool add_builtin(std::string name, strata_plugin_init_fn init, strata_plugin_cleanup_fn cleanup,
                     option_list options, std::string& error);
    // Loads and initialises the conf's plugins in order. On failure `error`
    // is "file:line: plugin: reason"; plugins already initialised stay until shutdown().
    bool load(const std::vector<config::plugin_config>& plugins, std::string& error);
    // --check: can `p` be loaded (file, symbols, API version)? Nothing is initialised.
    static bool probe(const config::plugin_config& p, std::string& error);

    // Gives every worker the current table (before the worker threads start);
    // later changes are posted to the workers.
    void install();
    // SIGHUP: new options for each plugin (when the list of plugins is the
    // same; otherwise a warning and the old options), then the reload event.
    void reload(const std::vector<config::plugin_config>& plugins);
    // After the worker threads have stopped: cleanup in reverse order, unload.
    void shutdown();

    std::size_t plugin_count() const;
    std::shared_ptr<const table> current() const;
    // Where resume() sends the answers to deferred HTTP requests (null: none).
    void set_http_requests(http_requests* r);

    // ---- the strata_host functions ----
    int register_event(loaded_plugin& p, int event, strata_callback cb, void* userdata);
    int unregister_event(loaded_plugin& p, int event, strata_callback cb, void* userdata);
    void log(const loaded_plugin& p, int level, const char* message);
    const strata_option* options(const loaded_plugin& p, std::size_t* count);
    const char* option(const loaded_plugin& p, const char* key);
    std::uint32_t worker_count() const { return worker_count_; }
    int resume(const strata_resume& r);

private:
    bool start_plugin(std::unique_ptr<loaded_plugin> p, strata_plugin_init_fn init, std::string& error);
    void remove_registrations_locked(const loaded_plugin& p);
    void publish_locked();

    core::broker& broker_;
    logger& log_;
    const std::uint32_t worker_count_;
    mutable std::mutex mutex_;  // everything below
    std::vector<std::unique_ptr<loaded_plugin>> plugins_;
    std::array<std::vector<registration>, STRATA_EVENT_LIMIT> registrations_;
    std::shared_ptr<const table> table_;
    std::uint64_t generation_ = 0;
    bool installed_ = false;  // workers hold tables: changes are posted to them
    bool stopped_ = false;    // shutdown() began: no more posts, no more registrations
    http_requests* http_ = nullptr;
};

}  // namespace strata::plugin
