#include "http/query_pool.hpp"

#include <string>

#include "core/thread_name.hpp"
#include "http/api.hpp"
#include "reader.hpp"
#include "store.hpp"

namespace strata::http {

struct query_pool::slot {
    slot(storage::store& s, std::chrono::milliseconds time_limit) : reader(s), api(reader, &s) {
        reader.set_time_limit(time_limit);
    }
    storage::reader reader;
    http::api api;
};

query_pool::query_pool(storage::store& s, std::size_t threads, std::size_t max_waiting,
                       std::chrono::milliseconds time_limit)
    : max_waiting_(max_waiting) {
    for (std::size_t i = 0; i < threads; ++i) slots_.push_back(std::make_unique<slot>(s, time_limit));
}

query_pool::~query_pool() { stop(); }

void query_pool::set_exporters_source(const std::function<std::string()>& source) {
    for (auto& s : slots_) s->api.set_exporters_source(source);
}

void query_pool::start() {
    for (auto& s : slots_) {
        threads_.emplace_back([this, &s = *s] {
            name_this_thread("strata-query");
            run(s);
        });
    }
}

void query_pool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        jobs_.clear();
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

bool query_pool::submit(std::function<void(api&)> job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || jobs_.size() >= max_waiting_) return false;
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

void query_pool::run(slot& s) {
    for (;;) {
        std::function<void(api&)> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job(s.api);
    }
}

}  // namespace strata::http
