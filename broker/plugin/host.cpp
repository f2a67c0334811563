#include "plugin/host.hpp"
#include "plugin/http_requests.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"
#include "plugin/worker_hooks.hpp"
#include "protocol/connection.hpp"

namespace strata::plugin {

namespace {

// ---- the C side of strata_host: each function finds its plugin through host_private ----

loaded_plugin& self(const strata_host* h) { return *static_cast<loaded_plugin*>(h->host_private); }

int c_register_event(const strata_host* h, int event, strata_callback cb, void* userdata) {
    auto& p = self(h);
    return p.owner->register_event(p, event, cb, userdata);
}

int c_unregister_event(const strata_host* h, int event, strata_callback cb, void* userdata) {
    auto& p = self(h);
    return p.owner->unregister_event(p, event, cb, userdata);
}

void c_log(const strata_host* h, int level, const char* message) {
    const auto& p = self(h);
    p.owner->log(p, level, message);
}

const strata_option* c_options(const strata_host* h, size_t* count) {
    const auto& p = self(h);
    return p.owner->options(p, count);
}

const char* c_option(const strata_host* h, const char* key) {
    const auto& p = self(h);
    return p.owner->option(p, key);
}

std::uint32_t c_worker_count(const strata_host* h) { return self(h).owner->worker_count(); }

int c_resume(const strata_host* h, const strata_resume* answer) {
    if (!answer || answer->struct_size < offsetof(strata_resume, reserved)) return STRATA_ERROR;
    return self(h).owner->resume(*answer);
}

// The message setters reach the draft of the message_in event being run;
// anything else (message_out, a stale pointer's event number) is refused.
message_draft* draft_of(strata_event_message* m) {
    if (!m || m->header.event != STRATA_EVENT_MESSAGE_IN) return nullptr;
    return reinterpret_cast<message_in_event*>(m)->draft;
}

int c_set_topic(const strata_host*, strata_event_message* m, strata_str topic) {
    auto* d = draft_of(m);
    return d && topic.data ? d->set_topic(to_view(topic)) : STRATA_ERROR;
}

int c_set_payload(const strata_host*, strata_event_message* m, strata_bytes payload) {
    auto* d = draft_of(m);
    if (!d || (!payload.data && payload.size)) return STRATA_ERROR;
    return d->set_payload({payload.data, payload.size});
}

int c_add_user_property(const strata_host*, strata_event_message* m, strata_str key, strata_str value) {
    auto* d = draft_of(m);
    return d ? d->add_user_property(to_view(key), to_view(value)) : STRATA_ERROR;
}

int c_clear_user_properties(const strata_host*, strata_event_message* m) {
    auto* d = draft_of(m);
    return d ? d->clear_user_properties() : STRATA_ERROR;
}

int c_set_string_property(const strata_host*, strata_event_message* m, int property, const strata_str* value) {
    auto* d = draft_of(m);
    return d ? d->set_string_property(property, value) : STRATA_ERROR;
}

option_set make_options(option_list values) {
    option_set s;
    s.values = std::move(values);
    for (const auto& [key, value] : s.values) s.c.push_back({key.c_str(), value.c_str()});
    return s;
}

// The three entry points of a shared object.
struct library {
    void* handle = nullptr;
    strata_plugin_init_fn init = nullptr;
    strata_plugin_cleanup_fn cleanup = nullptr;
};

bool open_library(const std::string& path, library& lib, std::string& error) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        error = "cannot load '" + path + "': no such file";
        return false;
    }
    lib.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib.handle) {
        const char* why = ::dlerror();
        error = "cannot load '" + path + "': " + (why ? why : "unknown error");
        return false;
    }
    const auto version = reinterpret_cast<strata_plugin_version_fn>(::dlsym(lib.handle, "strata_plugin_version"));
    lib.init = reinterpret_cast<strata_plugin_init_fn>(::dlsym(lib.handle, "strata_plugin_init"));
    lib.cleanup = reinterpret_cast<strata_plugin_cleanup_fn>(::dlsym(lib.handle, "strata_plugin_cleanup"));
    if (!version || !lib.init || !lib.cleanup) {
        const bool mosquitto = ::dlsym(lib.handle, "mosquitto_plugin_version") != nullptr ||
                               ::dlsym(lib.handle, "mosquitto_auth_plugin_version") != nullptr;
        error = "'" + path + "' is not a strata plugin (it must export strata_plugin_version, strata_plugin_init "
                "and strata_plugin_cleanup" + (mosquitto ? "; Mosquitto plugins cannot be loaded" : "") + ")";
        ::dlclose(lib.handle);
        return false;
    }
    const int v = version();
    if (v != STRATA_PLUGIN_API_VERSION) {
        error = "'" + path + "' was built for plugin API version " + std::to_string(v) + "; this broker has version " +
                std::to_string(STRATA_PLUGIN_API_VERSION);
        ::dlclose(lib.handle);
        return false;
    }
    return true;
}

config::log_type log_type_of(int level) {
    switch (level) {
        case STRATA_LOG_ERROR: return config::log_error;
        case STRATA_LOG_WARNING: return config::log_warning;
        case STRATA_LOG_NOTICE: return config::log_notice;
        case STRATA_LOG_DEBUG: return config::log_debug;
        default: return config::log_information;
    }
}

}  // namespace

host::host(core::broker& b, logger& log)
    : broker_(b), log_(log), worker_count_(static_cast<std::uint32_t>(b.worker_count())), table_(empty_table()) {}

host::~host() { shutdown(); }

std::size_t host::plugin_count() const {
    std::lock_guard lock(mutex_);
    return plugins_.size();
}

std::shared_ptr<const table> host::current() const {
    std::lock_guard lock(mutex_);
    return table_;
}

bool host::start_plugin(std::unique_ptr<loaded_plugin> p, strata_plugin_init_fn init, std::string& error) {
    loaded_plugin& ref = *p;
    ref.owner = this;
    ref.api.struct_size = sizeof(strata_host);
    ref.api.api_version = STRATA_PLUGIN_API_VERSION;
    ref.api.host_private = &ref;
    ref.api.register_event = c_register_event;
    ref.api.unregister_event = c_unregister_event;
    ref.api.log = c_log;
    ref.api.options = c_options;
    ref.api.option = c_option;
    ref.api.worker_count = c_worker_count;
    ref.api.resume = c_resume;
    ref.api.message_set_topic = c_set_topic;
    ref.api.message_set_payload = c_set_payload;
    ref.api.message_add_user_property = c_add_user_property;
    ref.api.message_clear_user_properties = c_clear_user_properties;
    ref.api.message_set_string_property = c_set_string_property;
    {
        std::lock_guard lock(mutex_);
        ref.ordinal = plugins_.size();
        plugins_.push_back(std::move(p));
    }
    // Not under the lock: init registers callbacks.
    const auto& opts = ref.options.back().c;
    const int rc = init(&ref.api, opts.data(), opts.size(), &ref.userdata);
    if (rc == STRATA_OK) {
        log_.info("Plugin ", ref.name, " loaded.");
        return true;
    }
    // A plugin whose init fails is not cleaned up (documented in hooks.hpp): forget it.
    error = "plugin " + ref.name + ": strata_plugin_init failed (returned " + std::to_string(rc) + ")";
    std::lock_guard lock(mutex_);
    remove_registrations_locked(ref);
    publish_locked();
    if (ref.handle) ::dlclose(ref.handle);
    plugins_.pop_back();
    return false;
}

bool host::add_builtin(std::string name, strata_plugin_init_fn init, strata_plugin_cleanup_fn cleanup,
                       option_list options, std::string& error) {
    auto p = std::make_unique<loaded_plugin>();
    p->name = std::move(name);
    p->cleanup = cleanup;
    p->options.push_back(make_options(std::move(options)));
    return start_plugin(std::move(p), init, error);
}

bool host::load(const std::vector<config::plugin_config>& plugins, std::string& error) {
    for (const auto& pc : plugins) {
        library lib;
        if (!open_library(pc.path, lib, error)) {
            error = pc.defined_at + ": plugin: " + error;
            return false;
        }
        auto p = std::make_unique<loaded_plugin>();
        p->name = std::filesystem::path(pc.path).filename().string();
        p->handle = lib.handle;
        p->cleanup = lib.cleanup;
        p->options.push_back(make_options(pc.options));
        if (!start_plugin(std::move(p), lib.init, error)) {
            error = pc.defined_at + ": " + error;
            return false;
        }
    }
    return true;
}

bool host::probe(const config::plugin_config& p, std::string& error) {
    library lib;
    if (!open_library(p.path, lib, error)) return false;
    ::dlclose(lib.handle);
    return true;
}

int host::register_event(loaded_plugin& p, int event, strata_callback cb, void* userdata) {
    if (event <= 0 || event >= STRATA_EVENT_LIMIT || !cb) return STRATA_ERROR;
    std::lock_guard lock(mutex_);
    if (stopped_) return STRATA_ERROR;
    auto& list = registrations_[static_cast<std::size_t>(event)];
    const auto same = [&](const registration& r) { return r.callback == cb && r.userdata == userdata; };
    if (std::any_of(list.begin(), list.end(), same)) return STRATA_ERROR;
    // After every callback of this plugin and of the plugins before it.
    const auto at = std::find_if(list.begin(), list.end(), [&](const registration& r) { return r.owner->ordinal > p.ordinal; });
    list.insert(at, registration{cb, userdata, &p});
    publish_locked();
    return STRATA_OK;
}

int host::unregister_event(loaded_plugin& p, int event, strata_callback cb, void* userdata) {
    if (event <= 0 || event >= STRATA_EVENT_LIMIT) return STRATA_ERROR;
    std::lock_guard lock(mutex_);
    auto& list = registrations_[static_cast<std::size_t>(event)];
    const auto it = std::find_if(list.begin(), list.end(), [&](const registration& r) {
        return r.owner == &p && r.callback == cb && r.userdata == userdata;
    });
    if (it == list.end()) return STRATA_ERROR;
    list.erase(it);
    publish_locked();
    return STRATA_OK;
}

void host::remove_registrations_locked(const loaded_plugin& p) {
    for (auto& list : registrations_) std::erase_if(list, [&](const registration& r) { return r.owner == &p; });
}

void host::publish_locked() {
    auto t = std::make_shared<table>();
    t->events = registrations_;
    t->generation = ++generation_;
    table_ = std::move(t);
    if (!installed_ || stopped_) return;
    // Each worker swaps tables between two handlers, never during a callback.
    for (std::size_t i = 0; i < broker_.worker_count(); ++i) {
        core::worker& w = broker_.worker_at(i);
        boost::asio::post(w.io(), [&w, t = table_] { w.hooks().set_table(t); });
    }
}

void host::install() {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < broker_.worker_count(); ++i) broker_.worker_at(i).hooks().set_table(table_);
    installed_ = true;
}

void host::log(const loaded_plugin& p, int level, const char* message) {
    log_.log(log_type_of(level), "plugin ", p.name, ": ", message ? message : "");
}

const strata_option* host::options(const loaded_plugin& p, std::size_t* count) {
    std::lock_guard lock(mutex_);
    const auto& current = p.options.back().c;
    if (count) *count = current.size();
    return current.data();
}

const char* host::option(const loaded_plugin& p, const char* key) {
    if (!key) return nullptr;
    std::lock_guard lock(mutex_);
    for (const auto& o : p.options.back().c) {
        if (std::strcmp(o.key, key) == 0) return o.value;
    }
    return nullptr;
}

void host::set_http_requests(http_requests* r) {
    std::lock_guard lock(mutex_);
    http_ = r;
}

int host::resume(const strata_resume& r) {
    answer a;
    a.result = r.result;
    if (a.result == STRATA_DEFER) return STRATA_ERROR;
    a.reason_code = r.reason_code;
    if (r.reason_string.data) a.reason_string.assign(r.reason_string.data, r.reason_string.size);
    if (r.auth_data.data) a.auth_data.assign(r.auth_data.data, r.auth_data.data + r.auth_data.size);
    std::lock_guard lock(mutex_);
    if (stopped_ || r.defer.worker >= broker_.worker_count()) return STRATA_ERROR;
    if (r.defer.connection & http_request_bit) {
        if (!http_) return STRATA_ERROR;
        http_->resume(r.defer.connection, r.defer.sequence, std::move(a));
        return STRATA_OK;
    }
    core::worker& w = broker_.worker_at(r.defer.worker);
    // The connection may be gone when this runs: it is looked up by id there.
    boost::asio::post(w.io(), [&w, id = r.defer.connection, seq = r.defer.sequence, a = std::move(a)]() mutable {
        if (auto* c = w.find_connection(id)) c->resume(seq, std::move(a));
    });
    return STRATA_OK;
}

void host::reload(const std::vector<config::plugin_config>& plugins) {
    {
        std::lock_guard lock(mutex_);
        // Built-ins come first and are not in the conf.
        std::vector<loaded_plugin*> from_conf;
        for (auto& p : plugins_) {
            if (p->handle) from_conf.push_back(p.get());
        }
        bool same = from_conf.size() == plugins.size();
        for (std::size_t i = 0; same && i < plugins.size(); ++i) {
            same = from_conf[i]->name == std::filesystem::path(plugins[i].path).filename().string();
        }
        if (same) {
            for (std::size_t i = 0; i < plugins.size(); ++i) from_conf[i]->options.push_back(make_options(plugins[i].options));
        } else {
            log_.warning("Warning: plugin changes take effect at restart only; plugins keep their options.");
        }
    }
    // The reload callbacks of every plugin, in plugin order, on this (the main) thread.
    const auto t = current();
    for (const auto& r : t->at(STRATA_EVENT_RELOAD)) {
        const auto& opts = r.owner->options.back().c;
        strata_event_reload ev;
        init_event(ev, STRATA_EVENT_RELOAD, 0);
        ev.options = opts.data();
        ev.option_count = opts.size();
        call(r, STRATA_EVENT_RELOAD, ev.header);
    }
}

void host::shutdown() {
    std::vector<std::unique_ptr<loaded_plugin>> plugins;
    {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        stopped_ = true;
        for (auto& list : registrations_) list.clear();
        plugins.swap(plugins_);
        if (installed_) {
            // The worker threads have stopped: no callback may outlive its plugin.
            auto none = std::make_shared<table>();
            none->generation = ++generation_;
            table_ = none;
            for (std::size_t i = 0; i < broker_.worker_count(); ++i) broker_.worker_at(i).hooks().set_table(none);
        }
    }
    for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
        auto& p = **it;
        const auto& opts = p.options.back().c;
        if (p.cleanup) {
            const int rc = p.cleanup(p.userdata, opts.data(), opts.size());
            if (rc != STRATA_OK) log_.warning("plugin ", p.name, ": strata_plugin_cleanup returned ", rc, ".");
        }
        if (p.handle) ::dlclose(p.handle);
    }
}

}  // namespace strata::plugin
