// The broker as a connection sees it (protocol::broker_port), in memory and
// with no broker behind it: the protocol layer's own tests run on this.
// It keeps what a connection needs to work (sessions by client id, with
// takeover; a password table; subscriptions per session) and records the
// rest (what was published, released, detached, deferred), so that a test
// can check what the protocol layer asked of the broker, and script the
// broker's answers (refusals, a SUBACK that waits, a store that acknowledges
// later). Nothing is routed: a test delivers to a session itself.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/broker_config.hpp"
#include "core/broker_stats.hpp"
#include "core/logger.hpp"
#include "plugin/worker_hooks.hpp"
#include "protocol/broker_port.hpp"
#include "protocol/connection.hpp"
#include "protocol_client_util.hpp"
#include "session/session.hpp"

namespace strata::test {

class fake_broker_port final : public protocol::broker_port, public client_host {
public:
    explicit fake_broker_port(const std::function<void(config::broker_config&)>& tweak = {}) {
        cfg_.allow_anonymous = true;
        cfg_.log.types = 0;  // quiet
        if (tweak) tweak(cfg_);
        log_ = std::make_unique<logger>(cfg_.log);
        hooks_ = std::make_unique<plugin::worker_hooks>(0, *log_);
        limits_.max_inflight_messages = cfg_.max_inflight_messages;
        limits_.max_queued_messages = cfg_.max_queued_messages;
        limits_.queue_qos0_messages = cfg_.queue_qos0_messages;
    }

    // ---- what a test scripts ----
    std::map<std::string, std::string> passwords;          // username -> password
    std::map<std::string, std::chrono::milliseconds> blocked;  // address -> back-off
    std::set<std::string> refused_topics;                  // may_publish: not_authorized
    std::set<std::string> refused_filters;                 // may_subscribe: not_authorized
    std::set<std::string> refused_will_topics;
    std::uint32_t home_worker = 0;    // claim_client_id's answer
    bool store_writable = true;       // can_keep
    bool acks_at_once = true;         // false: QoS 1/2 wait for acknowledge()
    bool subscriptions_pending = false;  // a SUBACK waits for make_interest_visible()
    bool over_memory = false;
    bool paused = false;
    bool no_subscribers = false;      // what a PUBACK says about matching (5.0: 0x10)
    std::optional<codec::reason_code> pubcomp_rc = codec::reason_code::success;  // release_publish's answer

    // ---- what a test reads ----
    struct accepted_message {
        std::string client_id;
        std::string topic;
        std::string payload;
        std::uint8_t qos = 0;
        bool retain = false;
        std::uint16_t packet_id = 0;
    };
    std::vector<accepted_message> accepted;
    std::vector<std::pair<std::string, std::uint16_t>> released;  // client id, packet id
    struct retained_request {
        std::string filter;
        std::uint8_t retain_handling = 0;
    };
    std::vector<retained_request> retained_requests;
    std::vector<std::string> detached;     // client ids, in order
    std::vector<std::string> wills_now;    // client ids whose will was to go out at detach
    std::vector<std::string> started;      // session_started
    std::map<std::string, std::map<std::string, subscription_options>> subscriptions;  // client id -> filter
    std::vector<std::int64_t> timers;  // after(): the delays asked for, in ms

    session* session_of(const std::string& client_id) {
        auto it = sessions_.find(client_id);
        return it == sessions_.end() ? nullptr : it->second.get();
    }
    // The store committed (or refused) what `client_id` published with `packet_id`.
    void acknowledge(const std::string& client_id, commit_wait_kind kind, std::uint16_t packet_id, bool stored = true) {
        session* s = session_of(client_id);
        REQUIRE(s);
        REQUIRE(s->sink());
        s->sink()->acknowledge_stored(kind, packet_id, stored, no_subscribers);
    }
    // Every worker routes by the new subscriptions: waiting SUBACKs go out.
    void make_interest_visible() {
        subscriptions_pending = false;
        for (auto& then : std::exchange(interest_waiters_, {})) then();
    }
    // Runs the work of after() calls, as if their time had come.
    void fire_timers() {
        timers.clear();
        for (auto& work : std::exchange(timed_, {})) work();
    }
    bool has_deferred() const { return !deferred_.empty(); }

    // ---- client_host ----
    protocol::broker_port& port_of(std::size_t) override { return *this; }
    void poll() override {
        for (int round = 0; round < 100 && !deferred_.empty(); ++round) {
            for (auto& work : std::exchange(deferred_, {})) work();
        }
        REQUIRE(deferred_.empty());
    }

    // ---- broker_port: environment ----
    std::uint32_t worker_index() const override { return 0; }
    const config::broker_config& config() const override { return cfg_; }
    logger& log() override { return *log_; }
    core::worker_stats& stats() override { return stats_; }
    plugin::worker_hooks& hooks() override { return *hooks_; }
    protocol::packet_scratch& scratch() override { return scratch_; }
    void defer(std::function<void()> work) override { deferred_.push_back(std::move(work)); }
    void after(std::chrono::milliseconds delay, std::function<void()> work) override {
        timers.push_back(delay.count());
        timed_.push_back(std::move(work));
    }

    void add_connection(protocol::connection* c) override {
        c->id = next_connection_id_++;
        connections_[c->id] = c;
    }
    void remove_connection(protocol::connection* c) override { connections_.erase(c->id); }
    protocol::connection* find_connection(std::uint64_t id) override {
        auto it = connections_.find(id);
        return it == connections_.end() ? nullptr : it->second;
    }

    bool intake_paused() const override { return paused; }
    bool memory_over_limit() const override { return over_memory; }

    // ---- logging in ----
    std::chrono::milliseconds login_blocked_for(const std::string& address) const override {
        auto it = blocked.find(address);
        return it == blocked.end() ? std::chrono::milliseconds{0} : it->second;
    }
    codec::reason_code check_password(std::uint16_t, bool anonymous_allowed, const std::string&,
                                      const codec::connect_packet& p) override {
        if (!p.has_username) return anonymous_allowed ? codec::reason_code::success : codec::reason_code::not_authorized;
        auto it = passwords.find(std::string(p.username));
        const bool ok = it != passwords.end() && p.has_password &&
                        it->second == std::string(codec::as_chars(p.password));
        return ok ? codec::reason_code::success : codec::reason_code::not_authorized;
    }
    bool may_publish_will(std::uint16_t, const std::string*, const std::string&, std::string_view topic) const override {
        return !refused_will_topics.contains(std::string(topic));
    }

    // ---- sessions ----
    std::string make_client_id() override { return "auto-" + std::to_string(next_client_number_++); }
    std::uint32_t claim_client_id(const std::string&) override { return home_worker; }
    void release_unused_claim(const std::string&) override {}
    void begin_authentication(const std::string&) override {}
    void end_authentication(const std::string&) override {}
    protocol::attach_result attach(protocol::connection& c, const std::string& client_id, bool clean_start) override {
        if (auto it = sessions_.find(client_id); it != sessions_.end()) {
            session& s = *it->second;
            if (auto* old = static_cast<protocol::connection*>(s.sink())) {
                s.detach();
                old->release_session();
                old->disconnect(codec::reason_code::session_taken_over, true);
            }
            if (!clean_start) {
                s.attach(&c);
                return {&s, true};
            }
            subscriptions.erase(client_id);
            sessions_.erase(it);
        }
        auto s = std::make_unique<session>(client_id, next_session_id_++, limits_);
        session* raw = s.get();
        sessions_.emplace(client_id, std::move(s));
        raw->attach(&c);
        return {raw, false};
    }
    void session_started(session& s) override { started.push_back(s.client_id()); }
    void detach(session& s, bool publish_will_now) override {
        detached.push_back(s.client_id());
        if (publish_will_now && s.will) wills_now.push_back(s.client_id());
        s.detach();
        if (s.expiry_interval == 0) {
            subscriptions.erase(s.client_id());
            sessions_.erase(s.client_id());
        }
    }

    // ---- publishing ----
    codec::reason_code may_publish(session&, const plugin::client_view&, std::string_view topic,
                                   const codec::publish_packet&, const plugin::message_draft*& rewritten,
                                   std::string&) override {
        rewritten = nullptr;
        return refused_topics.contains(std::string(topic)) ? codec::reason_code::not_authorized
                                                           : codec::reason_code::success;
    }
    bool can_keep(std::uint8_t qos) const override { return qos == 0 || store_writable; }
    void accept_publish(session& s, std::uint8_t qos, std::uint16_t packet_id, const message::init& in) override {
        const message_ref m = message::create(in);
        accepted.push_back({s.client_id(), std::string(m->topic()), std::string(codec::as_chars(m->payload())), qos,
                            m->retain(), packet_id});
        if (qos == 2) {
            s.inbound_add(packet_id);
            if (acks_at_once) {
                s.sink()->acknowledge_stored(commit_wait_kind::pubrec, packet_id, true, false);
            } else {
                s.await_commit(commit_wait_kind::pubrec, packet_id);
            }
        } else if (qos == 1) {
            if (acks_at_once) {
                s.sink()->acknowledge_stored(commit_wait_kind::puback, packet_id, true, no_subscribers);
            } else {
                s.await_commit(commit_wait_kind::puback, packet_id);
            }
        }
    }
    std::optional<codec::reason_code> release_publish(session& s, std::uint16_t packet_id) override {
        released.emplace_back(s.client_id(), packet_id);
        if (!s.inbound_release(packet_id)) return codec::reason_code::packet_identifier_not_found;
        if (!pubcomp_rc) s.await_commit(commit_wait_kind::pubcomp, packet_id);
        return pubcomp_rc;
    }

    // ---- subscribing ----
    codec::reason_code may_subscribe(session&, const plugin::client_view&, std::string_view raw_filter,
                                     std::string_view, std::string_view, const topic::subscription_filter&,
                                     subscription_options&, std::uint32_t) override {
        return refused_filters.contains(std::string(raw_filter)) ? codec::reason_code::not_authorized
                                                                 : codec::reason_code::success;
    }
    codec::reason_code may_unsubscribe(const plugin::client_view&, std::string_view,
                                       const topic::subscription_filter&) override {
        return codec::reason_code::success;
    }
    bool subscribe(session& s, std::string_view filter, const subscription_options& o, std::uint32_t) override {
        return subscriptions[s.client_id()].insert_or_assign(std::string(filter), o).second;
    }
    bool unsubscribe(session& s, std::string_view filter) override {
        return subscriptions[s.client_id()].erase(std::string(filter)) > 0;
    }
    void send_retained(session&, std::string_view filter, const subscription_options& o, std::uint32_t) override {
        retained_requests.push_back({std::string(filter), o.retain_handling});
    }
    bool interest_pending() const override { return subscriptions_pending; }
    void when_interest_visible(std::function<void()> then) override { interest_waiters_.push_back(std::move(then)); }

private:
    config::broker_config cfg_;
    std::unique_ptr<logger> log_;
    std::unique_ptr<plugin::worker_hooks> hooks_;
    core::worker_stats stats_;
    protocol::packet_scratch scratch_;
    delivery_limits limits_;
    std::vector<std::function<void()>> deferred_;
    std::vector<std::function<void()>> timed_;
    std::vector<std::function<void()>> interest_waiters_;
    std::unordered_map<std::uint64_t, protocol::connection*> connections_;
    std::map<std::string, std::unique_ptr<session>> sessions_;
    std::uint64_t next_connection_id_ = 1;
    std::uint64_t next_session_id_ = 1;
    std::uint64_t next_client_number_ = 1;
};

}  // namespace strata::test
