#include "core/broker.hpp"
#include "core/thread_name.hpp"

#include <latch>

#include <boost/asio/post.hpp>

#include "core/logger.hpp"

namespace strata::core {

broker::broker(std::shared_ptr<const config::broker_config> cfg, logger& log)
    : log_(log), started_at_(steady_clock::now()) {
    unsigned n = cfg->threads;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    workers_.reserve(n);
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(*this, i, cfg));
    for (auto& w : workers_) w->set_peer_count(n);
    login_throttle_.configure(cfg->failed_login_limit, std::chrono::seconds(cfg->failed_login_block_max));
    memory_.set_limit(cfg->memory_limit);
}

broker::~broker() {
    for (auto& w : workers_) w->stop();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
}

void broker::share_restored_interest() {
    for (auto& from : workers_) {
        const auto changes = from->routing().take_pending_interest();
        if (changes.empty()) continue;
        for (auto& to : workers_) {
            if (to != from) to->routing().apply_interest(changes);
        }
    }
}

void broker::start() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        threads_.emplace_back([&w = *workers_[i], i] {
            name_this_thread("strata-io-" + std::to_string(i));
            w.run();
        });
    }
}

void broker::on_each_worker_and_wait(const std::function<void(worker&)>& fn) {
    std::latch done(static_cast<std::ptrdiff_t>(workers_.size()));
    for (auto& w : workers_) {
        boost::asio::post(w->io(), [&fn, &done, &w] {
            fn(*w);
            done.count_down();
        });
    }
    done.wait();
}

void broker::apply_config(std::shared_ptr<const config::broker_config> cfg) {
    login_throttle_.configure(cfg->failed_login_limit, std::chrono::seconds(cfg->failed_login_block_max));
    memory_.set_limit(cfg->memory_limit);
    on_each_worker_and_wait([&cfg](worker& w) { w.apply_config(cfg); });
}

void broker::apply_security(std::shared_ptr<const auth::security> s) {
    if (threads_.empty()) {  // not started: nothing runs on the workers yet
        for (auto& w : workers_) w->apply_security(s);
        return;
    }
    on_each_worker_and_wait([&s](worker& w) { w.apply_security(s); });
}

void broker::shutdown(std::chrono::milliseconds grace) {
    // 1. Wills go out while every subscriber is still connected. Each worker
    //    hands its wills to the others before this step completes, so they are
    //    queued there ahead of step 2.
    on_each_worker_and_wait([](worker& w) {
        w.publish_all_wills();
        w.flush_outboxes();
    });
    // 2. Tell every client; the transports write the DISCONNECT and close.
    on_each_worker_and_wait([](worker& w) { w.disconnect_all(); });
    // 3. Wait (bounded) for the connections to be gone.
    const auto deadline = steady_clock::now() + grace;
    for (;;) {
        std::atomic<std::size_t> open{0};
        on_each_worker_and_wait([&open](worker& w) { open += w.connection_count(); });
        if (open == 0 || steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop_threads();
}

void broker::stop_threads() {
    for (auto& w : workers_) w->stop();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

}  // namespace strata::core
