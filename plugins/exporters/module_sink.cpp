#include "module_sink.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "exporter.h"

namespace strata::exporters {

namespace {

// The entry points of one loaded module.
struct module_api {
    std::string path;
    strata_exporter* (*create)(const strata_exporter_config*, char*, size_t) = nullptr;
    unsigned (*capabilities)(strata_exporter*) = nullptr;
    int (*write)(strata_exporter*, const strata_export_row*, size_t, unsigned, strata_export_outcome*) = nullptr;
    void (*disconnect)(strata_exporter*) = nullptr;  // optional
    void (*interrupt)(strata_exporter*) = nullptr;   // optional
    void (*destroy)(strata_exporter*) = nullptr;
};

template <typename F>
void find(void* handle, const char* name, F& into) {
    into = reinterpret_cast<F>(::dlsym(handle, name));
}

// Modules stay loaded (RTLD_NODELETE): a client library's atexit handlers and
// thread-locals must not outlive its code. The table only saves a second
// dlopen; dlopen itself would return the same handle.
const module_api* load(const std::string& path, std::string& error) {
    static std::mutex mutex;
    static std::unordered_map<std::string, module_api> loaded;
    std::lock_guard lock(mutex);
    if (auto it = loaded.find(path); it != loaded.end()) return &it->second;
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) {
        const char* why = ::dlerror();
        error = "cannot load exporter module " + path + ": " + (why ? why : "unknown error");
        return nullptr;
    }
    int (*version)() = nullptr;
    find(handle, "strata_exporter_version", version);
    if (!version) {
        error = path + " is not an exporter module (no strata_exporter_version)";
        return nullptr;
    }
    if (version() != STRATA_EXPORTER_API_VERSION) {
        error = path + " was built for exporter API version " + std::to_string(version()) + ", this strata has " +
                std::to_string(STRATA_EXPORTER_API_VERSION);
        return nullptr;
    }
    module_api api;
    api.path = path;
    find(handle, "strata_exporter_create", api.create);
    find(handle, "strata_exporter_capabilities", api.capabilities);
    find(handle, "strata_exporter_write", api.write);
    find(handle, "strata_exporter_disconnect", api.disconnect);
    find(handle, "strata_exporter_interrupt", api.interrupt);
    find(handle, "strata_exporter_destroy", api.destroy);
    if (!api.create || !api.write || !api.destroy) {
        error = path + " lacks strata_exporter_create, _write or _destroy";
        return nullptr;
    }
    return &loaded.emplace(path, std::move(api)).first->second;
}

strata_str view(const std::string& s) { return {s.data(), s.size()}; }

// The exporter's configuration as the module sees it; the views point into
// `cfg`, the runner's own, whose routes its rows point to.
struct c_config {
    std::shared_ptr<const config::exporter_config> shared;
    const config::exporter_config& cfg;
    std::string password;
    std::vector<strata_exporter_option> options;
    std::vector<strata_export_route> routes;
    std::vector<std::vector<strata_str>> route_fields;  // per route: fields, types, names
    strata_exporter_config c{};

    c_config(std::shared_ptr<const config::exporter_config> from, const std::string& secret)
        : shared(std::move(from)), cfg(*shared), password(secret) {
        for (const auto& [k, v] : cfg.options) options.push_back({k.c_str(), v.c_str()});
        route_fields.resize(cfg.routes.size());
        for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
            const auto& r = cfg.routes[i];
            auto& f = route_fields[i];
            for (const auto* list : {&r.fields, &r.field_types, &r.field_names}) {
                for (const auto& s : *list) f.push_back(view(s));
            }
            const auto n = r.fields.size();
            strata_export_route cr{};
            cr.struct_size = sizeof cr;
            cr.filter = view(r.filter);
            cr.target = view(r.target);
            cr.payload = view(r.payload);
            cr.all_fields = r.all_fields ? 1 : 0;
            cr.field_count = n;
            cr.fields = f.data();
            cr.field_types = f.data() + n;
            cr.field_names = f.data() + 2 * n;
            cr.key = view(r.key);
            routes.push_back(cr);
        }
        c.struct_size = sizeof c;
        c.name = cfg.name.c_str();
        c.kind = cfg.kind.c_str();
        c.url = cfg.url.c_str();
        c.password = password.c_str();
        c.defined_at = cfg.defined_at.c_str();
        c.option_count = options.size();
        c.options = options.data();
        c.route_count = routes.size();
        c.routes = routes.data();
    }
};

class module_sink final : public sink {
public:
    module_sink(const module_api& api, std::unique_ptr<c_config> cfg, strata_exporter* handle)
        : api_(api), cfg_(std::move(cfg)), handle_(handle),
          can_try_(api.capabilities && (api.capabilities(handle) & STRATA_EXPORTER_CAN_TRY) != 0) {}
    ~module_sink() override {
        if (api_.disconnect) api_.disconnect(handle_);
        api_.destroy(handle_);
    }

    void write(std::span<const export_row> rows) override { call(rows, 0); }
    bool can_try() const override { return can_try_; }
    void try_write(std::span<const export_row> rows) override { call(rows, can_try_ ? STRATA_EXPORT_TRIAL : 0); }
    void disconnect() override {
        if (api_.disconnect) api_.disconnect(handle_);
    }
    std::uint64_t rejected_rows() const override { return rejected_; }
    std::uint64_t refused_rows() const override { return refused_; }
    void interrupt() override {
        if (api_.interrupt) api_.interrupt(handle_);
    }

private:
    void call(std::span<const export_row> rows, unsigned flags) {
        convert(rows);
        std::array<char, 2048> message{};
        strata_export_outcome outcome{};
        outcome.struct_size = sizeof outcome;
        outcome.message = message.data();
        outcome.message_size = message.size();
        rejected_ = refused_ = 0;
        const int result = api_.write(handle_, c_rows_.data(), c_rows_.size(), flags, &outcome);
        message.back() = '\0';
        if (result == STRATA_EXPORT_OK) {
            rejected_ = outcome.rejected_rows;
            refused_ = outcome.refused_rows;
            return;
        }
        const std::string why = message[0] ? message.data() : "the exporter module gave no reason";
        if (result == STRATA_EXPORT_REFUSED) throw data_error(why);
        throw export_error(why);
    }

    // The rows as C views; the buffers are kept for the next batch.
    void convert(std::span<const export_row> rows) {
        c_rows_.clear();
        fields_json_.resize(std::max(fields_json_.size(), rows.size()));
        captures_.resize(std::max(captures_.size(), rows.size()));
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& r = rows[i];
            auto& json = fields_json_[i];
            json.clear();
            // The fields came from parsing valid JSON, so they are valid UTF-8;
            // `replace` only keeps dump() from throwing if that ever changed.
            if (!r.fields.is_null()) json = r.fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            auto& captures = captures_[i];
            captures.clear();
            for (const auto& [name, value] : r.captures) captures.push_back({view(name), view(value)});
            strata_export_row c{};
            c.struct_size = sizeof c;
            c.log_seq = r.log_seq;
            c.topic_id = r.key.topic_id;
            c.ts_us = r.key.ts_us;
            c.seq = r.key.seq;
            c.qos = r.qos;
            c.retain = r.retain ? 1 : 0;
            c.route = static_cast<std::size_t>(r.route - cfg_->cfg.routes.data());
            c.topic = view(r.topic);
            c.client_id = view(r.client_id);
            c.capture_count = captures.size();
            c.captures = captures.data();
            c.fields_json = view(json);
            c.payload = {reinterpret_cast<const std::uint8_t*>(r.payload.data()), r.payload.size()};
            c.error = view(r.error);
            c_rows_.push_back(c);
        }
    }

    const module_api& api_;
    std::unique_ptr<c_config> cfg_;
    strata_exporter* handle_;
    bool can_try_;
    std::uint64_t rejected_ = 0, refused_ = 0;
    std::vector<strata_export_row> c_rows_;
    std::vector<std::string> fields_json_;
    std::vector<std::vector<strata_user_property>> captures_;
};

}  // namespace

std::string default_plugin_dir() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "/usr/lib/strata";
    return (self.parent_path().parent_path() / "lib" / "strata").string();
}

std::string module_path(const config::exporter_config& cfg, const std::string& plugin_dir) {
    if (!cfg.plugin.empty()) return cfg.plugin;
    const auto dir = plugin_dir.empty() ? default_plugin_dir() : plugin_dir;
    return dir + "/strata_exporter_" + cfg.kind + ".so";
}

namespace {

// The module of `cfg`, loaded; null with `error` naming the exporter's conf line.
const module_api* load_for(const config::exporter_config& cfg, const std::string& plugin_dir, std::string& error) {
    const auto* api = load(module_path(cfg, plugin_dir), error);
    if (!api) error = cfg.defined_at + ": exporter " + cfg.name + ": " + error;
    return api;
}

}  // namespace

bool probe_module(const config::exporter_config& cfg, const std::string& plugin_dir, std::string& error) {
    return load_for(cfg, plugin_dir, error) != nullptr;
}

std::unique_ptr<sink> load_module_sink(std::shared_ptr<const config::exporter_config> shared,
                                       const std::string& password, const std::string& plugin_dir,
                                       std::string& error) {
    const auto& cfg = *shared;
    const auto* api = load_for(cfg, plugin_dir, error);
    if (!api) return nullptr;
    auto c = std::make_unique<c_config>(std::move(shared), password);
    std::array<char, 2048> message{};
    strata_exporter* handle = api->create(&c->c, message.data(), message.size());
    message.back() = '\0';
    if (!handle) {
        // strata's own modules name the conf line already; another's gets it here.
        const std::string why = message[0] ? message.data() : api->path + " refused its configuration";
        error = why.starts_with(cfg.defined_at) ? why : cfg.defined_at + ": exporter " + cfg.name + ": " + why;
        return nullptr;
    }
    return std::make_unique<module_sink>(*api, std::move(c), handle);
}

}  // namespace strata::exporters
