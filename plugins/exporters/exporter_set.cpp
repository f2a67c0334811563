#include "exporter_set.hpp"
#include "core/thread_name.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "sinks.hpp"
#include "store.hpp"

namespace strata::exporters {

namespace {

// How often the log is cut below the slowest cursor.
constexpr auto prune_every = std::chrono::seconds(10);

}  // namespace

std::unique_ptr<exporter_set> exporter_set::create(const config::broker_config& cfg, storage::store& store,
                                                   logger& log, std::string& error) {
    std::unique_ptr<exporter_set> set(new exporter_set(store));
    for (const auto& e : cfg.exporters) {
        std::string password;
        if (!read_exporter_password(e, password, error)) return nullptr;
        auto s = make_sink(e, password, error);
        if (!s) return nullptr;
        set->runners_.push_back(
            std::make_unique<runner>(std::make_shared<const config::exporter_config>(e), store, log, std::move(s)));
    }
    return set;
}

exporter_set::~exporter_set() { stop(); }

void exporter_set::start() {
    for (auto& r : runners_) r->start();
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
    for (auto& r : runners_) r->stop();
}

std::vector<exporter_status> exporter_set::status() const {
    std::vector<exporter_status> all;
    for (const auto& r : runners_) all.push_back(r->status());
    return all;
}

void exporter_set::prune_loop() {
    std::uint64_t pruned_below = 0;
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, prune_every, [this] { return stopping_; })) {
        if (runners_.empty()) continue;
        std::uint64_t slowest = UINT64_MAX;
        for (const auto& r : runners_) slowest = std::min(slowest, r->cursor());
        // Every exporter has exported up to `slowest`: its entries are not needed again.
        if (slowest + 1 > pruned_below) {
            lock.unlock();
            store_.prune_log(slowest + 1);
            lock.lock();
            pruned_below = slowest + 1;
        }
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
                        {"errors", s.errors},
                        {"expired", s.expired},
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
    }
    return out;
}

}  // namespace strata::exporters
