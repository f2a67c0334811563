#include "app/server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "app/store_runtime.hpp"
#include "exporter_set.hpp"
#include "module_sink.hpp"
#include "auth/security.hpp"
#include "config/config_parser.hpp"
#include "core/broker.hpp"
#include "core/logger.hpp"
#include "http/server.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "plugin/host.hpp"
#include "plugin/http_requests.hpp"

namespace strata::app {

namespace {

constexpr auto shutdown_grace = std::chrono::milliseconds(2000);

// The configuration from -c (or Mosquitto's defaults) with the command line
// applied; errors are printed as file:line: reason.
std::optional<config::broker_config> load_configuration(const options& opts, std::ostream& errors) {
    config::broker_config cfg;
    if (opts.config_file.empty()) {
        cfg = config::default_config();
    } else {
        auto result = config::load_file(opts.config_file);
        if (!result.config) {
            for (const auto& e : result.errors) errors << e.to_string() << '\n';
            return std::nullopt;
        }
        cfg = std::move(*result.config);
    }
    config::apply_command_line(cfg, opts.ports, opts.verbose, !opts.config_file.empty());
    // Both read the history of messages, which only `storage rocksdb` keeps.
    if (!cfg.http.listeners.empty() && !cfg.storage.keep_history) {
        errors << cfg.http.listeners.front().defined_at << ": http_listener needs the history of messages: "
               << "storage rocksdb (persistence true keeps only sessions and retained messages)\n";
        return std::nullopt;
    }
    if (!cfg.exporters.empty() && !cfg.storage.keep_history) {
        errors << cfg.exporters.front().defined_at << ": exporters need the history of messages: storage rocksdb "
               << "(persistence true keeps only sessions and retained messages)\n";
        return std::nullopt;
    }
    return cfg;
}

bool write_ports_file(const std::string& path, const std::vector<std::unique_ptr<net::listener>>& listeners,
                      const http::server* http_api) {
    // Written to a temporary name and renamed, so a reader never sees half a file.
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& l : listeners) {
            const bool ws = l->settings().protocol == config::listener_protocol::websockets;
            const bool tls = l->settings().tls.enabled();
            const char* kind = ws ? (tls ? "wss" : "ws") : (tls ? "mqtts" : "mqtt");
            for (const auto& ep : l->endpoints()) out << kind << ' ' << ep.address << ' ' << ep.port << '\n';
        }
        if (http_api) {
            for (const auto& ep : http_api->endpoints()) {
                out << (ep.tls ? "https " : "http ") << ep.address << ' ' << ep.port << '\n';
            }
        }
        if (!out) return false;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    return !ec;
}

// The HTTP API's server, not open yet. `store` keeps the history of messages.
std::unique_ptr<http::server> make_http_api(store_runtime& store, logger& log, core::broker& broker,
                                            plugin::http_requests& plugins,
                                            const std::unique_ptr<exporters::exporter_set>& exporters) {
    auto api = std::make_unique<http::server>(store.store(), log, broker.login_throttle(), &plugins);
    if (exporters) api->set_exporters_source([&exporters] { return exporters::status_json(exporters->status()); });
    return api;
}

// SIGHUP's listener changes, logged; what fails leaves the rest running.
void log_http_reload(const http::listeners_report& report, logger& log) {
    for (const auto& e : report.not_opened) log.error("Error: HTTP listener not opened: ", e, ".");
    for (const auto& e : report.tls_not_reloaded) {
        log.error("Error: HTTP listener's TLS files not reloaded, keeping the current ones: ", e, ".");
    }
}

bool daemonise() {
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid > 0) ::_exit(0);
    if (::setsid() < 0) return false;
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) ::close(null);
    }
    return true;
}

bool drop_privileges(const std::string& user, logger& log) {
    if (user.empty() || ::geteuid() != 0) return true;
    const passwd* pw = ::getpwnam(user.c_str());
    if (!pw) {
        log.fatal("Error: invalid user '", user, "'.");
        return false;
    }
    if (::initgroups(user.c_str(), pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
        log.fatal("Error: unable to drop privileges to '", user, "'.");
        return false;
    }
    return true;
}

// Settings that only take effect on restart; SIGHUP warns when they change.
bool same_listeners(const config::broker_config& a, const config::broker_config& b) {
    if (a.listeners.size() != b.listeners.size() || a.threads != b.threads) return false;
    for (std::size_t i = 0; i < a.listeners.size(); ++i) {
        const auto& x = a.listeners[i];
        const auto& y = b.listeners[i];
        if (x.port != y.port || x.bind_address != y.bind_address || x.domain != y.domain ||
            x.mount_point != y.mount_point || x.max_connections != y.max_connections || x.protocol != y.protocol ||
            x.tls.enabled() != y.tls.enabled()) {
            return false;
        }
    }
    return true;
}

}  // namespace

int check_configuration(const options& opts) {
    auto cfg = load_configuration(opts, std::cerr);
    if (!cfg) return 1;
    // Plugins are loaded (not initialised) to see that they would start.
    bool plugins_ok = true;
    for (const auto& p : cfg->plugins) {
        std::string error;
        if (!plugin::host::probe(p, error)) {
            std::cerr << p.defined_at << ": plugin: " << error << '\n';
            plugins_ok = false;
        }
    }
    // Exporter modules are loaded too: a missing file or client library shows now.
    for (const auto& e : cfg->exporters) {
        std::string error;
        if (!exporters::probe_module(e, cfg->exporter_plugin_dir, error)) {
            std::cerr << error << '\n';
            plugins_ok = false;
        }
    }
    if (!plugins_ok) return 1;
    // TLS files are read as at start-up, so that a missing key or a certificate
    // that does not match it shows now.
    bool tls_ok = true;
    for (const auto& l : cfg->listeners) {
        if (!l.tls.enabled()) continue;
        std::string error;
        if (!net::tls_context::create(l.tls, error)) {
            std::cerr << l.defined_at << ": listener: " << error << '\n';
            tls_ok = false;
        }
    }
    if (!tls_ok) return 1;
    std::string error;
    const auto security = auth::security::load(*cfg, error);
    if (!security) {
        std::cerr << error << '\n';
        return 1;
    }
    for (const auto& w : security->warnings()) std::cerr << "Warning: " << w << '\n';
    std::cout << (opts.config_file.empty() ? std::string("defaults") : opts.config_file) << ": configuration OK\n";
    return 0;
}

int run_server(const options& opts) {
    auto loaded = load_configuration(opts, std::cerr);
    if (!loaded) return 1;
    auto cfg = std::make_shared<const config::broker_config>(std::move(*loaded));

    if (opts.daemon && !daemonise()) {
        std::cerr << "Error: unable to run in the background.\n";
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    logger log(cfg->log);
    if (opts.daemon) log.drop_console();
    log.notice("strata version ", STRATA_VERSION, " starting");
    if (!opts.config_file.empty()) log.notice("Config loaded from ", opts.config_file, ".");
    else log.notice("Starting in local only mode. Connections will only be possible from clients running on this machine.");

    if (!cfg->pid_file.empty()) {
        std::ofstream pid(cfg->pid_file, std::ios::trunc);
        pid << ::getpid() << '\n';
        if (!pid) {
            log.fatal("Error: unable to write pid file ", cfg->pid_file, ".");
            return 1;
        }
    }

    // Messages the store keeps only while sessions need them report here when
    // they go, which may be after the store has stopped: it outlives the broker.
    auto releases = std::make_shared<storage::release_list>();
    core::broker broker(cfg, log);
    // Plugins start before any client can connect; their callbacks reach the
    // workers before the threads run (docs/plugins.md).
    plugin::host plugins(broker, log);
    if (std::string error; !plugins.load(cfg->plugins, error)) {
        log.fatal("Error: ", error, ".");
        return 1;
    }
    plugins.install();
    std::unique_ptr<store_runtime> store;
    if (cfg->storage.enabled) {
        std::string error;
        store = store_runtime::open(*cfg, broker, log, releases, error);
        if (!store) {
            log.fatal("Error: ", error, ".");
            return 1;
        }
    }
    std::shared_ptr<const auth::security> security;
    {
        std::string error;
        security = auth::security::load(*cfg, error);
        if (!security) {
            log.fatal("Error: ", error, ".");
            return 1;
        }
        for (const auto& w : security->warnings()) log.warning("Warning: ", w, ".");
        broker.apply_security(security);
    }
    // Exporters read the store on threads of their own (docs/exporters.md).
    std::unique_ptr<exporters::exporter_set> exporters;
    if (store && !cfg->exporters.empty()) {
        std::string error;
        exporters = exporters::exporter_set::create(*cfg, store->store(), log, error);
        if (!exporters) {
            log.fatal("Error: ", error, ".");
            return 1;
        }
        broker.set_sys_source([&exporters] { return exporters::status_topics(exporters->status()); });
    }
    std::vector<std::unique_ptr<net::listener>> listeners;
    for (const auto& lc : cfg->listeners) {
        auto l = std::make_unique<net::listener>(broker, lc, static_cast<std::uint16_t>(listeners.size()));
        std::string error;
        if (!l->open(error)) {
            log.fatal("Error: ", error, ".");
            return 1;
        }
        listeners.push_back(std::move(l));
    }
    // The query API reads the store on a thread of its own (never a worker's).
    // Plugins answer for HTTP requests on the workers, as for MQTT clients.
    plugin::http_requests http_plugins(broker, plugins);
    plugins.set_http_requests(&http_plugins);
    std::unique_ptr<http::server> http_api;
    if (store && !cfg->http.listeners.empty()) {
        http_api = make_http_api(*store, log, broker, http_plugins, exporters);
        std::string error;
        if (!http_api->open(cfg->http, error)) {
            log.fatal("Error: ", error, ".");
            return 1;
        }
        http_api->configure(security, cfg->http);
    }
    if (!drop_privileges(cfg->user, log)) return 1;

    // Signals are handled on the main thread, away from the workers; the sets
    // exist before the workers start so no signal finds the default action.
    boost::asio::io_context main_io(1);
    boost::asio::signal_set stop_signals(main_io, SIGINT, SIGTERM);
    boost::asio::signal_set reload_signal(main_io, SIGHUP);
    // A SIGHUP whose handler is already queued when SIGTERM arrives is not
    // cancelled by cancel(): the flag keeps it from waiting for the next one,
    // which would keep main_io running and strata from stopping.
    bool stopping = false;
    stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        stopping = true;
        reload_signal.cancel();
    });
    std::function<void()> wait_reload = [&] {
        reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec || stopping) return;
            log.notice("Reloading config.");
            std::ostringstream errors;
            auto next = opts.config_file.empty() ? std::optional(*cfg) : load_configuration(opts, errors);
            if (!next) {
                log.error("Error: configuration not reloaded, keeping the running one:\n", errors.str());
            } else {
                if (!same_listeners(*cfg, *next)) {
                    log.warning("Warning: listener and thread changes take effect at restart only.");
                } else {
                    // Renewed certificates apply to new connections at once.
                    for (std::size_t i = 0; i < listeners.size(); ++i) {
                        std::string error;
                        if (!listeners[i]->reload_tls(next->listeners[i], error)) {
                            log.error("Error: TLS files not reloaded, keeping the current ones: ", error, ".");
                        }
                    }
                }
                if (store) store->reload(*cfg, *next, log);
                cfg = std::make_shared<const config::broker_config>(std::move(*next));
                log.reconfigure(cfg->log);
                broker.apply_config(cfg);
                // Password and ACL files are read again; connected clients get the new rules at once.
                std::string error;
                if (auto next_security = auth::security::load(*cfg, error)) {
                    for (const auto& w : next_security->warnings()) log.warning("Warning: ", w, ".");
                    security = std::move(next_security);
                    if (http_api) http_api->configure(security, cfg->http);
                    broker.apply_security(security);
                } else {
                    log.error("Error: password or ACL file not reloaded, keeping the current ones: ", error, ".");
                }
                // HTTP listeners open and close (docs/http-api.md, "Reloading"); the
                // API starts if strata started without one and its store can serve it.
                if (!http_api && !cfg->http.listeners.empty()) {
                    if (store && store->store().options().keep_history) {
                        http_api = make_http_api(*store, log, broker, http_plugins, exporters);
                        http_api->configure(security, cfg->http);
                        http_api->start();
                    } else {
                        log.warning("Warning: http_listener takes effect at restart only: the running store does not "
                                    "keep the history of messages the API reads (storage rocksdb).");
                    }
                }
                if (http_api) {
                    const auto report = http_api->reload(cfg->http);
                    log_http_reload(report, log);
                    // Tests and scripts find ephemeral ports there.
                    if (report.endpoints_changed && !opts.ports_file.empty() &&
                        !write_ports_file(opts.ports_file, listeners, http_api.get())) {
                        log.error("Error: unable to write ports file ", opts.ports_file, ".");
                    }
                }
                plugins.reload(cfg->plugins);
                exporters::reload_exporters(exporters.get(), *cfg, log);  // docs/exporters.md, "Reloading"
            }
            wait_reload();
        });
    };
    if (store) store->start();
    if (exporters) exporters->start();
    broker.start();
    for (auto& l : listeners) l->start();
    if (http_api) http_api->start();
    if (!opts.ports_file.empty() && !write_ports_file(opts.ports_file, listeners, http_api.get())) {
        log.error("Error: unable to write ports file ", opts.ports_file, ".");
    }
    log.notice("strata version ", STRATA_VERSION, " running");

    wait_reload();
    main_io.run();

    log.notice("strata version ", STRATA_VERSION, " terminating");
    // First: a purge in progress needs the store's writer, which stops last;
    // requests waiting for a plugin's answer are given up.
    http_plugins.stop();
    if (http_api) http_api->stop();
    plugins.set_http_requests(nullptr);
    for (auto& l : listeners) l->close();
    if (exporters) exporters->stop();  // what they did not export waits in the store for the next start
    broker.shutdown(shutdown_grace);
    plugins.shutdown();  // after the workers: no callback runs any more
    if (store) store->stop();  // after the workers: their last writes are committed
    if (!cfg->pid_file.empty()) {
        std::error_code ec;
        std::filesystem::remove(cfg->pid_file, ec);
    }
    return 0;
}

}  // namespace strata::app
