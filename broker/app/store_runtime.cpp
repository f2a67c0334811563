#include "app/store_runtime.hpp"

#include <filesystem>

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/worker.hpp"
#include "core/logger.hpp"
#include "restore.hpp"

namespace strata::app {

// Runs the writer's completions on the workers they belong to.
class store_runtime::completions final : public storage::completion_sink {
public:
    explicit completions(core::broker& b) : broker_(b) {}
    void deliver(std::uint32_t worker, std::vector<std::pair<std::function<void(bool)>, bool>> work) override {
        boost::asio::post(broker_.worker_at(worker).io(), [items = std::move(work)]() mutable {
            for (auto& [fn, committed] : items) fn(committed);
        });
    }

private:
    core::broker& broker_;
};

std::string store_path(const config::broker_config& cfg) {
    if (!cfg.storage.path.empty()) return cfg.storage.path;
    if (!cfg.persistence_location.empty()) return cfg.persistence_location;
    return "strata-data";
}

namespace {

storage::retention_policy retention_of(const config::broker_config& cfg) {
    storage::retention_policy p;
    for (const auto& r : cfg.storage.retention) p.rules.push_back({r.filter, r.seconds});
    p.default_seconds = cfg.storage.default_retention;
    return p;
}

bool same_retention(const config::storage_config& a, const config::storage_config& b) {
    if (a.default_retention != b.default_retention || a.retention.size() != b.retention.size()) return false;
    for (std::size_t i = 0; i < a.retention.size(); ++i) {
        if (a.retention[i].filter != b.retention[i].filter || a.retention[i].seconds != b.retention[i].seconds) {
            return false;
        }
    }
    return true;
}

}  // namespace

void store_runtime::reload(const config::broker_config& running, const config::broker_config& next, logger& log) {
    std::string restart_only;
    const auto name = [&](bool changed, const char* key) {
        if (changed) restart_only += (restart_only.empty() ? "" : ", ") + std::string(key);
    };
    name(store_path(running) != store_path(next), "storage_path / persistence_location");
    name(running.storage.mode != next.storage.mode, "storage_durability");
    name(running.storage.enabled != next.storage.enabled || running.storage.keep_history != next.storage.keep_history,
         "storage / persistence");
    if (!restart_only.empty()) log.warning("Warning: ", restart_only, " take effect at restart only.");
    store_->set_limits(next.storage.min_free_bytes, next.storage.max_queued_bytes);
    if (!same_retention(running.storage, next.storage)) {
        store_->set_retention(retention_of(next));
        log.notice("Retention changed: ", what_is_kept(next, store_path(running)));
    }
}

std::string what_is_kept(const config::broker_config& cfg, const std::string& path) {
    static constexpr const char* durability_names[] = {"none", "wal", "fsync"};
    const std::string durability = durability_names[static_cast<int>(cfg.storage.mode)];
    if (!cfg.storage.keep_history) {
        return "Store " + path + " keeps persistent sessions, their queued and in-flight messages and retained "
               "messages (persistence true, as Mosquitto), not the history of messages (storage rocksdb keeps "
               "it); durability " + durability + ".";
    }
    std::string retention;
    for (const auto& r : cfg.storage.retention) {
        retention += r.filter + " " + (r.seconds == 0 ? "forever" : std::to_string(r.seconds) + " s") + ", ";
    }
    retention += (cfg.storage.retention.empty() ? "every topic " : "other topics ") +
                 (cfg.storage.default_retention == 0 ? std::string("forever")
                                                     : std::to_string(cfg.storage.default_retention) + " s");
    return "Store " + path + " keeps every message (retention: " + retention +
           "), persistent sessions and retained messages; durability " + durability + ".";
}

store_runtime::store_runtime(core::broker& b, std::unique_ptr<storage::store> s)
    : broker_(b), store_(std::move(s)), completions_(std::make_unique<completions>(b)) {}

store_runtime::~store_runtime() { stop(); }

std::unique_ptr<store_runtime> store_runtime::open(const config::broker_config& cfg, core::broker& b, logger& log,
                                                   std::shared_ptr<storage::release_list> releases,
                                                   std::string& error) {
    storage::store_options options;
    options.path = store_path(cfg);
    options.mode = static_cast<storage::durability>(cfg.storage.mode);
    options.retention = retention_of(cfg);
    options.min_free_bytes = cfg.storage.min_free_bytes;
    options.keep_log = !cfg.exporters.empty();
    options.keep_history = cfg.storage.keep_history;
    options.releases = std::move(releases);
    options.max_queued_bytes = cfg.storage.max_queued_bytes;
    // The writer caught up: every worker reads its clients again.
    options.drained = [&b] {
        for (std::size_t i = 0; i < b.worker_count(); ++i) {
            boost::asio::post(b.worker_at(i).io(), [&w = b.worker_at(i)] { w.resume_intake(); });
        }
    };
    options.log = [&log](std::string_view line) { log.warning("Store: ", line); };
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) {
        error = "store " + options.path + ": cannot create the directory (" + ec.message() + ")";
        return nullptr;
    }
    auto s = storage::store::open(options, error);
    if (!s) return nullptr;
    const auto report = storage::restore_into(*s, b);
    log.notice("Store ", options.path, " opened: ", report.sessions, " sessions, ", report.deliveries,
               " queued or in-flight messages, ", report.retained, " retained messages restored.");
    log.notice(what_is_kept(cfg, options.path));
    if (report.ended_sessions_records > 0) {
        log.notice("Store: ", report.ended_sessions_records, " delivery records of sessions that had ended removed.");
    }
    if (report.unreferenced_removed > 0) {
        log.notice("Store: ", report.unreferenced_removed, " messages no session needs any more removed.");
    }
    for (const auto& w : report.warnings) log.warning("Store: ", w, ".");
    return std::unique_ptr<store_runtime>(new store_runtime(b, std::move(s)));
}

void store_runtime::start() {
    store_->start(*completions_);
    running_ = true;
}

void store_runtime::stop() {
    if (!running_) return;
    running_ = false;
    for (std::size_t i = 0; i < broker_.worker_count(); ++i) {
        if (auto* p = broker_.worker_at(i).store()) p->flush();
    }
    store_->stop();
}

}  // namespace strata::app
