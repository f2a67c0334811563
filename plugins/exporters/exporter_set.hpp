// Every configured exporter of the running broker: started after the store,
// stopped before it; changed on SIGHUP (apply). Also prunes the export log
// below the slowest cursor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/broker_config.hpp"
#include "runner.hpp"

namespace strata::exporters {

class exporter_set {
public:
    // Builds a runner per exporter (reading passwords); null with `error` when
    // one cannot be set up (unknown kind, unreadable password file).
    static std::unique_ptr<exporter_set> create(const config::broker_config& cfg, storage::store& store, logger& log,
                                                std::string& error);
    ~exporter_set();

    void start();
    void stop();
    std::vector<exporter_status> status() const;

    // A reloaded configuration (SIGHUP): starts the exporters it adds, stops
    // the ones it removes (their cursors stay in the store), restarts the ones
    // it changes at their cursors, and re-reads every password file or
    // variable (an exporter whose password changed restarts with the new one).
    // Each change is logged; what cannot be applied (an exporter that cannot
    // be set up, an unreadable password file) is logged in one line naming the
    // exporter and the setting, and the running exporter (if any) carries on.
    void apply(const config::broker_config& next);

    // One pass of the pruner: deletes the log entries every exporter is past.
    // False when the store refused (logged at most every minute; the next
    // pass tries again).
    bool prune();

private:
    exporter_set(storage::store& store, logger& log) : store_(store), log_(log) {}
    void prune_loop();

    // A running exporter and what it was made from.
    struct member {
        std::shared_ptr<const config::exporter_config> cfg;
        std::string password;
        std::unique_ptr<runner> run;
    };
    // A runner for `cfg` with `password`, its module found in `plugin_dir`
    // (exporter_plugin_dir); null with `error` (file:line and why).
    std::unique_ptr<runner> make_runner(std::shared_ptr<const config::exporter_config> cfg,
                                        const std::string& password, const std::string& plugin_dir,
                                        std::optional<std::uint64_t> resume_at, std::string& error);

    storage::store& store_;
    logger& log_;
    bool started_ = false;  // main thread

    mutable std::mutex members_mutex_;  // members_ (status() reads them from other threads)
    std::vector<member> members_;
    // Held by apply() and by each prune pass: the log is never cut while an
    // exporter is being replaced (its cursor is in no runner for a moment).
    std::mutex prune_mutex_;
    std::uint64_t pruned_below_ = 0;  // under prune_mutex_
    std::chrono::steady_clock::time_point last_prune_log_{};
    bool prune_failing_ = false;

    std::thread pruner_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
};

// SIGHUP for the exporters: set->apply(next), or, without a set (strata
// started with no exporter, so the store keeps no export log), one line
// saying that exporters configured since take effect at restart.
void reload_exporters(exporter_set* set, const config::broker_config& next, logger& log);

// Whether two configurations of one exporter differ in anything but where
// they were written (routes, url, options, batching, start...).
bool same_exporter_settings(const config::exporter_config& a, const config::exporter_config& b);

// The statuses as JSON (GET /api/v1/exporters) and as $SYS topic/value pairs.
std::string status_json(const std::vector<exporter_status>& all);
std::vector<std::pair<std::string, std::string>> status_topics(const std::vector<exporter_status>& all);

}  // namespace strata::exporters
