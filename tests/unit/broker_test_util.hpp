// The protocol layer on a real core::broker with one worker (or several)
// and no threads, for the tests of what the broker does with what the
// protocol layer hands it: routing between connections, sessions, retained
// messages (test_broker_*.cpp, test_output_limits.cpp). The
// protocol layer's own tests run on fake_broker_port.hpp instead.
#pragma once

#include <functional>
#include <memory>

#include "config/broker_config.hpp"
#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"
#include "protocol_client_util.hpp"

namespace strata::test {

// One broker with a single worker (or `threads` of them) driven by hand.
struct harness final : client_host {
    explicit harness(const std::function<void(config::broker_config&)>& tweak = {}) {
        auto c = std::make_shared<config::broker_config>();
        c->threads = 1;
        c->allow_anonymous = true;
        c->log.types = 0;  // quiet
        c->sys_interval = 0;
        if (tweak) tweak(*c);
        cfg = c;
        log = std::make_unique<logger>(c->log);
        broker = std::make_unique<core::broker>(cfg, *log);
    }
    core::worker& worker() { return broker->worker_at(0); }
    protocol::broker_port& port_of(std::size_t worker_index) override { return broker->worker_at(worker_index).port(); }
    // Runs work posted to the workers' event loops until none has any left.
    void poll() override {
        for (int round = 0; round < 100; ++round) {
            std::size_t ran = 0;
            for (std::size_t i = 0; i < broker->worker_count(); ++i) {
                auto& io = broker->worker_at(i).io();
                ran += io.poll();
                io.restart();
            }
            if (ran == 0) return;
        }
        FAIL("the workers kept posting work");
    }

    std::shared_ptr<const config::broker_config> cfg;
    std::unique_ptr<logger> log;
    std::unique_ptr<core::broker> broker;
};

}  // namespace strata::test
