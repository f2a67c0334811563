#include "app/query_command.hpp"

#include <filesystem>
#include <iostream>

#include "app/store_runtime.hpp"
#include "config/config_parser.hpp"
#include "http/api.hpp"
#include "reader.hpp"
#include "store.hpp"

namespace strata::app {

namespace {

// The store and its retention, from --store and/or the configuration file.
struct store_choice {
    std::string path;
    storage::retention_policy retention;
    storage::durability mode = storage::durability::wal;
    std::vector<config::http_listener_config> http_listeners;
};

std::optional<store_choice> choose_store(const options& opts, const char* what) {
    store_choice out;
    if (!opts.config_file.empty()) {
        auto loaded = config::load_file(opts.config_file);
        if (!loaded.config) {
            for (const auto& e : loaded.errors) std::cerr << e.to_string() << '\n';
            return std::nullopt;
        }
        const auto& cfg = *loaded.config;
        if (opts.store_dir.empty() && !cfg.storage.enabled) {
            std::cerr << "strata " << what << ": " << opts.config_file
                      << " does not turn the store on (storage rocksdb); name a store directory with --store DIR\n";
            return std::nullopt;
        }
        out.path = store_path(cfg);
        // The broker's retention applies to what the query shows, as it does in the broker.
        for (const auto& r : cfg.storage.retention) out.retention.rules.push_back({r.filter, r.seconds});
        out.retention.default_seconds = cfg.storage.default_retention;
        out.mode = static_cast<storage::durability>(cfg.storage.mode);
        out.http_listeners = cfg.http.listeners;
    } else if (opts.store_dir.empty()) {
        std::cerr << "strata " << what << ": name the store: -c CONFIG_FILE or --store DIRECTORY\n";
        return std::nullopt;
    }
    if (!opts.store_dir.empty()) out.path = opts.store_dir;
    return out;
}

int print(const http::api_response& r, bool pretty, const char* what) {
    if (r.status != 200) {
        const auto& e = r.body.find("error");
        std::cerr << "strata " << what << ": "
                  << (e != r.body.end() && e->is_string() ? e->get<std::string>() : http::to_text(r.body)) << '\n';
        return r.status == 400 ? 2 : 1;
    }
    std::cout << http::to_text(r.body, pretty ? 2 : -1) << '\n';
    return 0;
}

// A store opened only to purge produces no completions (nothing is published).
class no_completions final : public storage::completion_sink {
public:
    void deliver(std::uint32_t, std::vector<std::pair<std::function<void(bool)>, bool>>) override {}
};

}  // namespace

int run_query(const options& opts) {
    const auto choice = choose_store(opts, "query");
    if (!choice) return 1;
    std::string error;
    auto reader = storage::reader::open_secondary(choice->path, choice->retention, error);
    if (!reader) {
        std::cerr << "strata query: " << error << '\n';
        return 1;
    }
    http::api api(*reader, nullptr);
    return print(api.handle("GET", "/api/v1/" + opts.query_endpoint, opts.query_params), opts.pretty, "query");
}

int run_purge(const options& opts) {
    const auto choice = choose_store(opts, "purge");
    if (!choice) return 1;
    std::error_code ec;
    // store::open would create a missing store; a purge must not.
    if (!std::filesystem::exists(std::filesystem::path(choice->path) / "CURRENT", ec)) {
        std::cerr << "strata purge: store " << choice->path << " does not exist (no RocksDB store in that directory)\n";
        return 1;
    }
    storage::store_options so;
    so.path = choice->path;
    so.mode = choice->mode;
    so.retention = choice->retention;
    so.record_mode = false;  // a purge does not change what the broker's store keeps
    std::string error;
    auto store = storage::store::open(so, error);
    if (!store) {
        std::cerr << "strata purge: " << error << '\n';
        if (error.find("in use by another process") != std::string::npos) {
            std::string url = "http://HOST:PORT";
            if (!choice->http_listeners.empty()) {
                const auto& h = choice->http_listeners.front();
                const std::string host = h.bind_address.empty() ? "127.0.0.1" : h.bind_address;
                url = (h.tls.enabled() ? "https://" : "http://") +
                      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                      (h.port == 0 ? std::string("PORT") : std::to_string(h.port));
            }
            std::cerr << "strata purge: the broker is running with this store; stop it first, or purge through its "
                         "HTTP API (http_listener) as a user named in http_admin: curl -u USER -X DELETE '"
                      << url << "/api/v1/messages?topic=FILTER&before=TIME' (docs/http-api.md)\n";
        }
        return 1;
    }
    // The purge runs on the store's writer thread, as in the broker.
    no_completions sink;
    store->start(sink);
    int code = 0;
    {
        storage::reader reader(*store);
        http::api api(reader, store.get());
        code = print(api.handle("DELETE", "/api/v1/messages", opts.query_params), opts.pretty, "purge");
    }
    store->stop();
    return code;
}

}  // namespace strata::app
