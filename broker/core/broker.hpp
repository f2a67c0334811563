// The broker: its worker threads and the little state they share (the client
// registry, connection count, the retained messages and their order). Listeners
// and signal handling live in the application layer around it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "auth/login_throttle.hpp"
#include "core/memory_guard.hpp"
#include "auth/security.hpp"
#include "config/broker_config.hpp"
#include "core/client_registry.hpp"
#include "core/retained_messages.hpp"
#include "core/worker.hpp"

namespace strata {
class logger;
}

namespace strata::core {

class broker {
public:
    // Creates `cfg.threads` workers (one per core when 0).
    broker(std::shared_ptr<const config::broker_config> cfg, logger& log);
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    std::size_t worker_count() const { return workers_.size(); }
    worker& worker_at(std::size_t i) { return *workers_[i]; }
    client_registry& registry() { return registry_; }
    logger& log() { return log_; }
    time_point started_at() const { return started_at_; }

    // Broker-wide order number for retained updates (last writer wins).
    std::uint64_t next_retain_order() { return retain_order_.fetch_add(1, std::memory_order_relaxed) + 1; }
    // After a restore: later retained updates order above the stored ones.
    void raise_retain_order(std::uint64_t at_least) {
        if (retain_order_.load(std::memory_order_relaxed) < at_least) retain_order_.store(at_least, std::memory_order_relaxed);
    }

    // The retained messages, one copy for every worker.
    retained_messages& retained() { return retained_; }

    // Connections currently open, for max_connections.
    std::atomic<int>& open_connections() { return open_connections_; }

    // Before start(), after sessions were restored: every worker learns the
    // subscriptions of the others at once (routing by interest).
    void share_restored_interest();
    // Starts one thread per worker.
    void start();
    // Graceful stop: wills are published and delivered, then every client is
    // sent DISCONNECT (server shutting down); after the connections are closed
    // (or `grace` has passed) the threads end.
    void shutdown(std::chrono::milliseconds grace);
    // Stops the event loops and joins the threads.
    void stop_threads();
    // Hands a new configuration to every worker.
    void apply_config(std::shared_ptr<const config::broker_config> cfg);
    // Hands the loaded password and ACL files to every worker (also before start()).
    void apply_security(std::shared_ptr<const auth::security> s);
    // Extra $SYS topics (topic, value), e.g. the exporters'; called on worker 0
    // every sys_interval, so it must not block. Set before start().
    using sys_source = std::function<std::vector<std::pair<std::string, std::string>>()>;
    void set_sys_source(sys_source s) { sys_source_ = std::move(s); }
    const sys_source& extra_sys_topics() const { return sys_source_; }
    // Failed logins per client address (docs/security.md).
    auth::login_throttle& login_throttle() { return login_throttle_; }
    // memory_limit: sampled by worker 0, read by every worker.
    memory_guard& memory() { return memory_; }

    // Runs `fn(worker&)` on every worker's thread and waits for all of them.
    void on_each_worker_and_wait(const std::function<void(worker&)>& fn);

private:
    logger& log_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    client_registry registry_;
    std::atomic<std::uint64_t> retain_order_{0};
    retained_messages retained_;
    std::atomic<int> open_connections_{0};
    auth::login_throttle login_throttle_;
    memory_guard memory_;
    sys_source sys_source_;
    time_point started_at_;
};

}  // namespace strata::core
