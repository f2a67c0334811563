#include "exporter_set.hpp"
#include "core/thread_name.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/logger.hpp"
#include "sinks.hpp"
#include "store.hpp"

namespace strata::exporters {

namespace {

// How often the log is cut below the slowest cursor.
constexpr auto prune_every = std::chrono::seconds(10);
// A failing prune is logged at most this often.
constexpr auto prune_log_every = std::chrono::seconds(60);

}  // namespace

std::unique_ptr<exporter_set> exporter_set::create(const config::broker_config& cfg, storage::store& store,
                                                   logger& log, std::string& error) {
    std::unique_ptr<exporter_set> set(new exporter_set(store, log));
    for (const auto& e : cfg.exporters) {
        member m;
        m.cfg = std::make_shared<const config::exporter_config>(e);
        if (!read_exporter_password(e, m.password, error)) return nullptr;
        m.run = set->make_runner(m.cfg, m.password, std::nullopt, error);
        if (!m.run) return nullptr;
        set->members_.push_back(std::move(m));
    }
    return set;
}

std::unique_ptr<runner> exporter_set::make_runner(std::shared_ptr<const config::exporter_config> cfg,
                                                  const std::string& password,
                                                  std::optional<std::uint64_t> resume_at, std::string& error) {
    auto s = make_sink(*cfg, password, error);
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
