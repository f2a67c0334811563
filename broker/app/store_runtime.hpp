// The store in the running broker: opening it (with clear errors), restoring
// sessions and retained messages into the workers, routing the writer's
// completions back to the workers, and the shutdown order (workers first,
// then the writer, so nothing submitted is lost).
#pragma once

#include <memory>
#include <string>

#include "config/broker_config.hpp"
#include "store.hpp"

namespace strata {
class logger;
}
namespace strata::core {
class broker;
}

namespace strata::app {

// Directory of the store: storage_path, else persistence_location, else "strata-data".
std::string store_path(const config::broker_config& cfg);
// The start-up line saying what the store keeps, where, and the retention in force.
std::string what_is_kept(const config::broker_config& cfg, const std::string& path);

class store_runtime {
public:
    // Opens the store and restores it into `b` (whose threads must not run
    // yet). `releases` must outlive `b` (see storage::release_list).
    static std::unique_ptr<store_runtime> open(const config::broker_config& cfg, core::broker& b, logger& log,
                                               std::shared_ptr<storage::release_list> releases, std::string& error);
    ~store_runtime();

    storage::store& store() { return *store_; }
    // SIGHUP: applies the retention and the store's limits of `next`, and logs
    // one line naming what changed but takes effect at restart only.
    void reload(const config::broker_config& running, const config::broker_config& next, logger& log);
    // Starts the writer thread.
    void start();
    // After the broker's threads have stopped: hands every worker's last
    // write set to the writer, commits them and stops it.
    void stop();

private:
    class completions;
    store_runtime(core::broker& b, std::unique_ptr<storage::store> s);

    core::broker& broker_;
    std::unique_ptr<storage::store> store_;
    std::unique_ptr<completions> completions_;
    bool running_ = false;
};

}  // namespace strata::app
