// The threads that answer HTTP requests: each has its own reader of the
// store and its own api, so a slow query (up to its time budget) holds one
// thread while the others go on answering. The I/O thread hands them jobs
// and gets the answers back by a post; it never reads the store, hashes a
// password or waits for a plugin itself.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace strata::storage {
class reader;
class store;
}  // namespace strata::storage

namespace strata::http {

class api;

class query_pool {
public:
    // `threads` threads, each with a reader of `s` limited to `time_limit` per query.
    query_pool(storage::store& s, std::size_t threads, std::size_t max_waiting, std::chrono::milliseconds time_limit);
    ~query_pool();
    query_pool(const query_pool&) = delete;
    query_pool& operator=(const query_pool&) = delete;

    void start();
    // Lets the running jobs finish, drops the waiting ones, joins the threads.
    void stop();

    // False when `max_waiting` jobs already wait (the caller answers 503).
    bool submit(std::function<void(api&)> job);
    // Before start(): where GET /api/v1/exporters gets its answer.
    void set_exporters_source(const std::function<std::string()>& source);

private:
    struct slot;
    void run(slot& s);

    std::vector<std::unique_ptr<slot>> slots_;
    std::size_t max_waiting_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void(api&)>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace strata::http
