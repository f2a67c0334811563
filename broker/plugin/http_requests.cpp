#include "plugin/http_requests.hpp"

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "core/worker.hpp"
#include "plugin/host.hpp"

namespace strata::plugin {

struct http_requests::pending {
    std::uint64_t id = 0;  // the connection number plugins see (http_request_bit set)
    std::uint32_t worker = 0;
    http_client client;
    std::shared_ptr<const table> registrations;  // the worker's, when the chain starts
    std::size_t index = 0;                       // the registration asked next
    std::uint32_t sequence = 0;                  // of the current deferral
    bool done = false;
    http_verdict verdict = http_verdict::failed;
    std::vector<bool> readable;                  // may_read
};

namespace {

client_view view_of(const http_client& c, std::uint64_t id) {
    client_view v;
    v.client_id = c.username;
    v.username = c.username;
    v.has_username = c.has_username;
    v.peer = c.peer;
    v.protocol_version = 0;  // HTTP
    v.listener_port = c.listener_port;
    v.connection = id;
    return v;
}

}  // namespace

http_requests::http_requests(core::broker& b, host& plugins) : broker_(b), plugins_(plugins) {}

http_requests::~http_requests() { stop(); }

bool http_requests::authenticates() const { return plugins_.current()->wants(STRATA_EVENT_AUTH_BASIC); }
bool http_requests::checks_acl() const { return plugins_.current()->wants(STRATA_EVENT_ACL); }

std::size_t http_requests::worker_for(std::uint64_t id) const { return (id & ~http_request_bit) % broker_.worker_count(); }

http_verdict http_requests::authenticate(const http_client& c, std::chrono::milliseconds timeout) {
    auto p = std::make_shared<pending>();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return http_verdict::failed;
        p->id = http_request_bit | next_id_++;
    }
    p->worker = static_cast<std::uint32_t>(worker_for(p->id));
    p->client = c;
    boost::asio::post(broker_.worker_at(p->worker).io(), [this, p] { run_chain(p); });
    std::unique_lock lock(mutex_);
    const bool answered = done_.wait_for(lock, timeout, [&] { return p->done || stopping_; });
    deferred_.erase(p->id);  // a late resume() finds nothing
    if (!answered || !p->done) {
        broker_.worker_at(p->worker).log().warning("Warning: an auth_basic plugin did not answer an HTTP request within ",
                                                   timeout.count(), " ms; refused.");
        return http_verdict::failed;
    }
    return p->verdict;
}

void http_requests::run_chain(const std::shared_ptr<pending>& p) {
    auto& w = broker_.worker_at(p->worker);
    if (!p->registrations) p->registrations = w.hooks().snapshot();
    const auto& regs = p->registrations->at(STRATA_EVENT_AUTH_BASIC);
    const auto view = view_of(p->client, p->id);
    const strata_client client = view.to_c();
    while (p->index < regs.size()) {
        const auto& r = regs[p->index];
        strata_event_auth_basic ev;
        init_event(ev, STRATA_EVENT_AUTH_BASIC, p->worker);
        ev.client = &client;
        ev.has_password = p->client.has_password ? 1 : 0;
        ev.password = to_c_bytes(reinterpret_cast<const std::uint8_t*>(p->client.password.data()),
                                 p->client.password.size());
        ev.defer = strata_defer{p->id, p->worker, p->sequence + 1};
        const auto a = call(r, STRATA_EVENT_AUTH_BASIC, ev.header);
        switch (a.result) {
            case STRATA_PASS: ++p->index; continue;
            case STRATA_OK: return finish(*p, http_verdict::accepted);
            case STRATA_DENY: return finish(*p, http_verdict::refused);
            case STRATA_DEFER: {
                std::lock_guard lock(mutex_);
                ++p->sequence;
                if (!p->done) deferred_[p->id] = p;
                return;
            }
            case STRATA_ERROR: return finish(*p, http_verdict::failed);
            default: w.hooks().log_bad_result(r, STRATA_EVENT_AUTH_BASIC, a.result); return finish(*p, http_verdict::failed);
        }
    }
    finish(*p, http_verdict::undecided);
}

void http_requests::resume(std::uint64_t connection, std::uint32_t sequence, answer a) {
    // Looked up on the worker: a plugin may answer from its own thread before
    // the callback that deferred has returned and parked the request there.
    boost::asio::post(broker_.worker_at(worker_for(connection)).io(), [this, connection, sequence, a = std::move(a)] {
        std::shared_ptr<pending> p;
        {
            std::lock_guard lock(mutex_);
            const auto it = deferred_.find(connection);
            if (it == deferred_.end() || it->second->sequence != sequence) return;  // answered, timed out, or stale
            p = std::move(it->second);
            deferred_.erase(it);
        }
        switch (a.result) {
            case STRATA_PASS: ++p->index; return run_chain(p);
            case STRATA_OK: return finish(*p, http_verdict::accepted);
            case STRATA_DENY: return finish(*p, http_verdict::refused);
            default: return finish(*p, http_verdict::failed);
        }
    });
}

void http_requests::finish(pending& p, http_verdict v) {
    {
        std::lock_guard lock(mutex_);
        p.verdict = v;
        p.done = true;
    }
    done_.notify_all();
}

std::vector<bool> http_requests::may_read(const http_client& c, const std::vector<std::string>& topics,
                                          std::chrono::milliseconds timeout) {
    auto p = std::make_shared<pending>();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return std::vector<bool>(topics.size(), false);
        p->id = http_request_bit | next_id_++;
    }
    p->worker = static_cast<std::uint32_t>(worker_for(p->id));
    p->client = c;
    // The topics are copied: the waiting side may give up and return first.
    boost::asio::post(broker_.worker_at(p->worker).io(), [this, p, topics] {
        auto& hooks = broker_.worker_at(p->worker).hooks();
        const auto view = view_of(p->client, p->id);
        std::vector<bool> readable(topics.size());
        for (std::size_t i = 0; i < topics.size(); ++i) {
            readable[i] = hooks.acl(view, STRATA_ACCESS_READ, topics[i], {}, 0, false, {}) == codec::reason_code::success;
        }
        {
            std::lock_guard lock(mutex_);
            p->readable = std::move(readable);
        }
        finish(*p, http_verdict::accepted);
    });
    std::unique_lock lock(mutex_);
    if (!done_.wait_for(lock, timeout, [&] { return p->done || stopping_; }) || !p->done) {
        return std::vector<bool>(topics.size(), false);
    }
    return std::move(p->readable);
}

void http_requests::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        deferred_.clear();
    }
    done_.notify_all();
}

}  // namespace strata::plugin
