// Plugins' say over HTTP API requests: the auth_basic chain for HTTP Basic
// credentials, and acl read for the topics a request would show. Plugin
// callbacks run on worker threads (plugins may keep one slot per worker), so
// each check is posted to a worker and the HTTP query thread that asked
// waits for the answer, at most `timeout`. A plugin may defer auth_basic as
// for a CONNECT; its host->resume() comes back here through the host.
//
// Plugins see an HTTP request as a client with protocol_version 0, the
// username as client id, the HTTP listener's port, and a connection number
// with its top bit set (never a connection's). docs/plugins.md says so.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plugin/table.hpp"

namespace strata::core {
class broker;
}

namespace strata::plugin {

class host;

// Connection numbers of HTTP requests have this bit set.
constexpr std::uint64_t http_request_bit = std::uint64_t{1} << 63;

// The asker, as plugins see them.
struct http_client {
    std::string username;
    bool has_username = false;
    std::string password;
    bool has_password = false;
    std::string peer;  // "address:port"
    std::uint16_t listener_port = 0;
};

enum class http_verdict {
    accepted,   // a plugin said OK
    refused,    // DENY
    undecided,  // every plugin passed: the password file decides
    failed,     // ERROR, a result auth_basic does not accept, no answer in time, or shutting down
};

class http_requests {
public:
    http_requests(core::broker& b, host& plugins);
    ~http_requests();
    http_requests(const http_requests&) = delete;
    http_requests& operator=(const http_requests&) = delete;

    // Whether any plugin has registered for the event (read on the caller's thread).
    bool authenticates() const;
    bool checks_acl() const;

    // Runs the auth_basic chain for `c` on a worker; blocks the calling thread.
    http_verdict authenticate(const http_client& c, std::chrono::milliseconds timeout);
    // acl read of each topic for `c` (username only) on a worker; blocks the
    // calling thread. A topic a plugin refuses, or every topic when the
    // worker does not answer in time, is false.
    std::vector<bool> may_read(const http_client& c, const std::vector<std::string>& topics,
                               std::chrono::milliseconds timeout);

    // host->resume() of a deferred auth_basic (any thread).
    void resume(std::uint64_t connection, std::uint32_t sequence, answer a);
    // Wakes every waiting thread with `failed` (shutdown).
    void stop();

private:
    struct pending;
    std::size_t worker_for(std::uint64_t id) const;
    // On the worker: asks the chain from `p.index` on, until a verdict or a deferral.
    void run_chain(const std::shared_ptr<pending>& p);
    void finish(pending& p, http_verdict v);

    core::broker& broker_;
    host& plugins_;
    std::mutex mutex_;
    std::condition_variable done_;
    std::unordered_map<std::uint64_t, std::shared_ptr<pending>> deferred_;  // by connection number
    std::uint64_t next_id_ = 1;
    bool stopping_ = false;
};

}  // namespace strata::plugin
