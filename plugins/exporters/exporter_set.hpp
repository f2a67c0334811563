// Every configured exporter of the running broker: started after the store,
// stopped before it. Also prunes the export log below the slowest cursor.
#pragma once

#include <memory>
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

private:
    exporter_set(storage::store& store) : store_(store) {}
    void prune_loop();

    storage::store& store_;
    std::vector<std::unique_ptr<runner>> runners_;
    std::thread pruner_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
};

// The statuses as JSON (GET /api/v1/exporters) and as $SYS topic/value pairs.
std::string status_json(const std::vector<exporter_status>& all);
std::vector<std::pair<std::string, std::string>> status_topics(const std::vector<exporter_status>& all);

}  // namespace strata::exporters
