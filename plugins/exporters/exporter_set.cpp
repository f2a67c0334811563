#include "exporter_set.hpp"
#include "core/thread_name.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/logger.hpp"
#include "module_sink.hpp"
#include "store.hpp"

namespace strata::exporters {

namespace {

// How often the log is cut below the slowest cursor.
constexpr auto prune_every = std::chrono::seconds(10);
// A failing prune is logged at most this often.
constexpr auto prune_log_every = std::chrono::seconds(60);

bool same_route(const config::export_route_config& a, const config::export_route_config& b) {
    return a.filter == b.filter && a.target == b.target && a.fields == b.fields && a.field_types == b.field_types &&
           a.field_names == b.field_names && a.all_fields == b.all_fields && a.payload == b.payload && a.key == b.key;
}

}  // namespace

bool same_exporter_settings(const config::exporter_config& a, const config::exporter_config& b) {
    return a.name == b.name && a.kind == b.kind && a.plugin == b.plugin && a.url == b.url && a.password_file == b.password_file &&
           a.password_env == b.password_env && a.batch_size == b.batch_size && a.batch_time_ms == b.batch_time_ms &&
           a.retry_min_ms == b.retry_min_ms && a.retry_max_ms == b.retry_max_ms && a.start_at_end == b.start_at_end &&
           a.options == b.options &&
           std::equal(a.routes.begin(), a.routes.end(), b.routes.begin(), b.routes.end(), same_route);
}

std::unique_ptr<exporter_set> exporter_set::create(const config::broker_config& cfg, storage::store& store,
                                                   logger& log, std::string& error) {
    std::unique_ptr<exporter_set> set(new exporter_set(store, log));
    for (const auto& e : cfg.exporters) {
        member m;
        m.cfg = std::make_shared<const config::exporter_config>(e);
        if (!read_exporter_password(e, m.password, error)) return nullptr;
        m.run = set->make_runner(m.cfg, m.password, cfg.exporter_plugin_dir, std::nullopt, error);
        if (!m.run) return nullptr;
        set->members_.push_back(std::move(m));
    }
    return set;
}

std::unique_ptr<runner> exporter_set::make_runner(std::shared_ptr<const config::exporter_config> cfg,
                                                  const std::string& password, const std::string& plugin_dir,
                                                  std::optional<std::uint64_t> resume_at, std::string& error) {
    auto s = load_module_sink(cfg, password, plugin_dir, error);
    if (!s) return nullptr;
    return std::make_unique<runner>(std::move(cfg), store_, log_, std::move(s), resume_at);
}

exporter_set::~exporter_set() { stop(); }

void exporter_set::start() {
    started_ = true;
    for (auto& m : members_) m.run->start();
    pruner_ = std::thread([this] {
        name_this_thread("strata-prune");
        prune_loop();
    });
}

void exporter_set::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    if (pruner_.joinable()) pruner_.join();
    for (auto& m : members_) m.run->stop();
}

std::vector<exporter_status> exporter_set::status() const {
    std::lock_guard lock(members_mutex_);
    std::vector<exporter_status> all;
    for (const auto& m : members_) all.push_back(m.run->status());
    return all;
}

void exporter_set::apply(const config::broker_config& next) {
    std::lock_guard guard(prune_mutex_);
    // Takes a member out of the list (status() no longer shows it) and stops
    // it; returns its cursor, which it saved on stopping.
    const auto take_out = [this](const std::string& name) {
        member m;
        {
            std::lock_guard lock(members_mutex_);
            const auto it = std::find_if(members_.begin(), members_.end(),
                                         [&](const member& x) { return x.cfg->name == name; });
            m = std::move(*it);
            members_.erase(it);
        }
        m.run->stop();
        return m.run->cursor();
    };
    std::vector<std::string> removed;
    {
        std::lock_guard lock(members_mutex_);
        for (const auto& m : members_) {
            const bool kept = std::any_of(next.exporters.begin(), next.exporters.end(),
                                          [&](const config::exporter_config& e) { return e.name == m.cfg->name; });
            if (!kept) removed.push_back(m.cfg->name);
        }
    }
    for (const auto& name : removed) {
        const auto cursor = take_out(name);
        log_.notice("Exporter ", name, " removed by the reloaded configuration; its cursor (log position ", cursor,
                    ") stays in the store.");
    }
    for (const auto& e : next.exporters) {
        std::shared_ptr<const config::exporter_config> running;
        std::string running_password;
        {
            std::lock_guard lock(members_mutex_);
            for (const auto& m : members_) {
                if (m.cfg->name == e.name) running = m.cfg, running_password = m.password;
            }
        }
        std::string password, error;
        if (!read_exporter_password(e, password, error)) {
            log_.error("Error: ", error, running ? "; the exporter keeps running as it was." : "; it is not started.");
            continue;
        }
        if (running && same_exporter_settings(*running, e) && running_password == password) continue;
        auto cfg = std::make_shared<const config::exporter_config>(e);
        // The new sink first: a configuration it refuses leaves the running exporter as it is.
        auto s = load_module_sink(cfg, password, next.exporter_plugin_dir, error);
        if (!s) {
            log_.error("Error: ", error, running ? "; the exporter keeps running as it was." : "; it is not started.");
            continue;
        }
        std::optional<std::uint64_t> resume_at;
        if (running) resume_at = take_out(e.name);
        auto r = std::make_unique<runner>(cfg, store_, log_, std::move(s), resume_at);
        if (started_) r->start();
        if (!running) {
            log_.notice("Exporter ", e.name, " (", e.kind, ") added by the reloaded configuration.");
        } else if (same_exporter_settings(*running, e)) {
            log_.notice("Exporter ", e.name, ": its password changed; restarted at log position ", *resume_at, ".");
        } else {
            log_.notice("Exporter ", e.name, ": its configuration changed; restarted at log position ", *resume_at,
                        ".");
        }
        std::lock_guard lock(members_mutex_);
        members_.push_back({std::move(cfg), std::move(password), std::move(r)});
    }
    // In the order of the configuration, as at start-up.
    std::lock_guard lock(members_mutex_);
    std::stable_sort(members_.begin(), members_.end(), [&](const member& a, const member& b) {
        const auto at = [&](const member& m) {
            return std::find_if(next.exporters.begin(), next.exporters.end(),
                                [&](const config::exporter_config& e) { return e.name == m.cfg->name; });
        };
        return at(a) < at(b);
    });
}

bool exporter_set::prune() {
    std::lock_guard guard(prune_mutex_);
    std::uint64_t slowest = UINT64_MAX;
    {
        std::lock_guard lock(members_mutex_);
        for (const auto& m : members_) slowest = std::min(slowest, m.run->cursor());
    }
    // Without exporters (all removed on SIGHUP) nothing needs the log: it is
    // cut to its end rather than left to grow.
    if (slowest == UINT64_MAX) slowest = store_.log_end() - 1;
    // Every exporter has exported up to `slowest`: its entries are not needed again.
    if (slowest + 1 <= pruned_below_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (!store_.prune_log(slowest + 1)) {
        if (!prune_failing_ || now - last_prune_log_ >= prune_log_every) {
            log_.warning("Exporters: cannot cut the export log below position ", slowest + 1,
                         " (the store refused the write); it grows until a later try succeeds (every ",
                         prune_every.count(), " s).");
            last_prune_log_ = now;
        }
        prune_failing_ = true;
        return false;
    }
    if (prune_failing_) log_.notice("Exporters: the export log is cut again (below position ", slowest + 1, ").");
    prune_failing_ = false;
    pruned_below_ = slowest + 1;
    return true;
}

void exporter_set::prune_loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, prune_every, [this] { return stopping_; })) {
        lock.unlock();
        prune();
        lock.lock();
    }
}

void reload_exporters(exporter_set* set, const config::broker_config& next, logger& log) {
    if (set) {
        set->apply(next);
    } else if (!next.exporters.empty()) {
        log.warning("Warning: exporter lines take effect at restart only: strata started without exporters, so the "
                    "store keeps no export log for them yet.");
    }
}

std::string status_json(const std::vector<exporter_status>& all) {
    auto list = nlohmann::json::array();
    for (const auto& s : all) {
        list.push_back({{"name", s.name},
                        {"kind", s.kind},
                        {"state", s.state},
                        {"cursor", s.cursor},
                        {"lag", s.lag},
                        {"rows", s.rows},
                        {"rows_per_second", s.rows_per_second},
                        {"error_rows", s.error_rows},
                        {"refused_rows", s.refused_rows},
                        {"errors", s.errors},
                        {"expired", s.expired},
                        {"undecodable", s.undecodable},
                        {"last_error", s.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.last_error)}});
    }
    return nlohmann::json({{"exporters", list}}).dump();
}

std::vector<std::pair<std::string, std::string>> status_topics(const std::vector<exporter_status>& all) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& s : all) {
        const std::string base = "$SYS/strata/exporters/" + s.name + "/";
        char rate[32];
        std::snprintf(rate, sizeof rate, "%.1f", s.rows_per_second);
        out.emplace_back(base + "state", s.state);
        out.emplace_back(base + "lag", std::to_string(s.lag));
        out.emplace_back(base + "rows", std::to_string(s.rows));
        out.emplace_back(base + "rows_per_second", rate);
        out.emplace_back(base + "errors", std::to_string(s.errors));
        out.emplace_back(base + "error_rows", std::to_string(s.error_rows));
        out.emplace_back(base + "refused_rows", std::to_string(s.refused_rows));
        out.emplace_back(base + "undecodable", std::to_string(s.undecodable));
    }
    return out;
}

}  // namespace strata::exporters
