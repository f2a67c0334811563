// Worker lifecycle, sessions, timers and shutdown. Routing is in router.cpp.
#include "core/worker.hpp"

#include <utility>

#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/logger.hpp"
#include "protocol/connection.hpp"

namespace strata::core {

namespace {

constexpr std::uint32_t never_expires = 0xFFFFFFFF;
constexpr auto tick_period = std::chrono::milliseconds(250);

delivery_limits limits_from(const config::broker_config& cfg, worker_stats& stats, const memory_guard& memory) {
    delivery_limits l;
    l.dropped_messages = &stats.messages_dropped;
    l.over_memory_limit = &memory.over_limit_flag();
    l.max_inflight_messages = cfg.max_inflight_messages;
    l.max_inflight_bytes = cfg.max_inflight_bytes;
    l.max_queued_messages = cfg.max_queued_messages;
    l.max_queued_bytes = cfg.max_queued_bytes;
    l.queue_qos0_messages = cfg.queue_qos0_messages;
    l.upgrade_outgoing_qos = cfg.upgrade_outgoing_qos;
    return l;
}

}  // namespace

worker::worker(broker& owner, std::size_t index, std::shared_ptr<const config::broker_config> cfg)
    : broker_(owner),
      index_(index),
      io_(std::make_unique<boost::asio::io_context>(1)),
      config_(std::move(cfg)),
      security_(auth::security::none()),
      limits_(limits_from(*config_, stats_, owner.memory())),  // only addresses: stats_ is constructed next
      hooks_(static_cast<std::uint32_t>(index), owner.log()) {
    tick_timer_.emplace(*io_);
}

worker::~worker() {
    tick_timer_.reset();
    io_.reset();
}

logger& worker::log() { return broker_.log(); }

void worker::run() {
    auto guard = boost::asio::make_work_guard(*io_);
    start_tick_timer();
    io_->run();
}

void worker::stop() { io_->stop(); }

void worker::apply_config(std::shared_ptr<const config::broker_config> cfg) {
    config_ = std::move(cfg);
    limits_ = limits_from(*config_, stats_, broker_.memory());
}

void worker::apply_security(std::shared_ptr<const auth::security> s) {
    security_ = std::move(s);
    if (!security_->any_acl()) return;
    for (auto& [client_id, sess] : sessions_) {
        const auto* acl = acl_of(*sess);
        if (!acl || sess->queued_count() == 0) continue;
        const auto dropped = sess->drop_queued_if([acl](const message& m) { return !acl->may_receive(m.topic()); });
        if (dropped > 0) {
            log().notice("Dropped ", dropped, " queued message(s) of client ", client_id,
                         ": the ACL file no longer lets it read them.");
        }
    }
}

const auth::client_acl* worker::acl_of(session& s) {
    const auto& source = security_->for_listener(s.listener).acl;
    if (!source) return nullptr;
    if (s.acl_source != source || !s.acl) {
        bool unsafe = false;
        s.acl = std::make_unique<auth::client_acl>(
            source->resolve(s.has_username ? &s.username : nullptr, s.client_id(), &unsafe));
        s.acl_source = source;
        if (unsafe) {
            log().notice("ACL patterns do not apply to client ", s.client_id(),
                         ": its id or username contains +, # or /.");
        }
    }
    return s.acl.get();
}

session* worker::find_session(std::uint64_t id) {
    auto it = sessions_by_id_.find(id);
    return it == sessions_by_id_.end() ? nullptr : it->second;
}

std::string worker::make_client_id() {
    // Mosquitto's form: the prefix, then 128 random bits as 8-4-4-4-12
    // upper-case hex digits, so ids differ across restarts and look alike.
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string id = config_->auto_id_prefix;
    id.reserve(id.size() + 36);
    int digits = 0;
    for (int part = 0; part < 2; ++part) {
        auto bits = client_id_random_();
        for (int i = 0; i < 16; ++i, bits >>= 4) {
            if (digits == 8 || digits == 12 || digits == 16 || digits == 20) id.push_back('-');
            id.push_back(hex[bits & 0xF]);
            ++digits;
        }
    }
    return id;
}

void worker::end_authentication(const std::string& client_id) {
    const auto it = authenticating_.find(client_id);
    if (it == authenticating_.end() || --it->second > 0) return;
    authenticating_.erase(it);
    // Refused before any session existed here: the id is free again.
    if (!sessions_.contains(client_id)) broker_.registry().release(client_id, index_);
}

void worker::release_unused_claim(const std::string& client_id) {
    if (!sessions_.contains(client_id) && !authenticating_.contains(client_id)) {
        broker_.registry().release(client_id, index_);
    }
}

attach_result worker::attach(protocol::connection& c, const std::string& client_id, bool clean_start) {
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
        if (auto* old = static_cast<protocol::connection*>(it->second->sink())) {
            // What the old connection received before this CONNECT counts
            // first: a client that sent DISCONNECT and connected again at once
            // ends (or leaves) its session, it is not taken over. The old
            // connection lives on this worker, so its socket is read here. The
            // session may end meanwhile: the claim on the id stays with this
            // worker, for the session made below.
            ++authenticating_[client_id];
            old->read_pending_input();
            if (--authenticating_[client_id] == 0) authenticating_.erase(client_id);
        }
    }
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
        session& s = *it->second;
        ++s.timer_generation;  // cancels a pending will delay and expiry
        if (auto* old = static_cast<protocol::connection*>(s.sink())) {
            // Session takeover [MQTT-3.1.4-3]: the old connection goes, with its will
            // unless it is delayed and the session carries on.
            log().notice("Client ", client_id, " already connected, closing old connection.");
            s.detach();
            old->release_session();
            if (s.will && (s.will_delay == 0 || clean_start)) publish_will(s);
            s.will.reset();
            old->disconnect(codec::reason_code::session_taken_over, true);
        } else if (s.will) {
            // A delayed will is cancelled by a new connection, unless the session ends now.
            if (clean_start) publish_will(s);
            s.will.reset();
        }
        if (!clean_start) {
            s.attach(&c);
            return {&s, true};
        }
        end_session(s, false);
    }
    session& s = new_session(client_id);
    // A new life of this client id: records an ended one left on their way
    // to the store cannot be taken for this one's (1 in 16 million apart).
    s.set_incarnation(static_cast<std::uint32_t>(client_id_random_() % 0xFFFFFF) + 1);
    s.attach(&c);
    return {&s, false};
}

void worker::session_started(session& s) {
    if (!persistence_) return;
    if (s.expiry_interval != 0) {
        s.set_journal(persistence_.get());
        persistence_->save_session(s, s.protocol_version, 0);
        schedule_flush();
    } else if (s.journaled()) {
        // Resumed with expiry 0: it ends at disconnect, so it leaves the store now.
        persistence_->remove_session(s);
        s.set_journal(nullptr);
        schedule_flush();
    }
}

void worker::detach(session& s, bool publish_will_allowed) {
    ++s.timer_generation;
    if (!publish_will_allowed) s.will.reset();
    const auto now = steady_clock::now();
    // The will goes now unless delayed; a session that ends now sends it too [MQTT-3.1.3-9].
    if (s.will && (s.will_delay == 0 || s.expiry_interval == 0)) publish_will(s);
    if (s.expiry_interval == 0) {
        end_session(s, true);
        return;
    }
    if (s.journaled()) {
        // The disconnect time lets a restart continue the expiry countdown.
        persistence_->save_session(s, s.protocol_version,
                                   static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                                  std::chrono::system_clock::now().time_since_epoch())
                                                                  .count()));
        schedule_flush();
    }
    s.expire_at = s.expiry_interval == never_expires ? time_point::max() : now + std::chrono::seconds(s.expiry_interval);
    if (s.will) {
        s.will_at = now + std::chrono::seconds(s.will_delay);
        schedule(s, s.will_at);
    }
    if (s.expire_at != time_point::max()) schedule(s, s.expire_at);
}

void worker::publish(message* raw, std::string_view client_id, std::function<void(bool)> ack) {
    mutable_message_ref m(raw);
    if (m->retain()) m->set_retain_order(broker_.next_retain_order());
    // The broker's own $SYS messages are not kept.
    if (persistence_ && !m->topic().starts_with("$SYS")) {
        persistence_->store_message(*m, client_id, std::move(ack));
        if (m->retain()) persistence_->retained(*m);
        schedule_flush();
    } else if (persistence_ && ack) {
        // Nothing to keep (a plugin rewrote the message onto $SYS): still
        // acknowledged, after what this client sent before is committed, so
        // its acknowledgements keep their order [MQTT-4.6.0-2].
        persistence_->after_commit(std::move(ack));
        schedule_flush();
    }
    router_.distribute(message_ref(std::move(m)));
}

void worker::schedule_flush() {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    // Runs after the current handler: every message of this event-loop turn
    // travels to each other worker in one post.
    boost::asio::post(*io_, [this] { flush_outboxes(); });
}

void worker::flush_outboxes() {
    flush_scheduled_ = false;
    if (persistence_) persistence_->flush();
    router_.post_outboxes();
}

void worker::publish_will(session& s) {
    mutable_message_ref will = std::move(s.will);
    s.will.reset();
    if (!will) return;
    will->set_received_at(steady_clock::now());  // message expiry counts from publication
    log().debug("Sending will of ", s.client_id(), " to '", will->topic(), "'.");
    publish(will.get(), s.client_id());
}

void worker::end_session(session& s, bool release_client_id) {
    router_.remove_all(s);
    if (s.journaled()) {
        persistence_->remove_session(s);
        schedule_flush();
    }
    // A connection still authenticating with this id keeps the claim (see end_authentication).
    if (release_client_id && !authenticating_.contains(s.client_id())) broker_.registry().release(s.client_id(), index_);
    take_session(s);  // destroyed here
}

std::unique_ptr<session> worker::take_session(session& s) {
    sessions_by_id_.erase(s.id());
    auto node = sessions_.extract(std::string_view(s.client_id()));
    stats_.add(stats_.sessions, static_cast<std::uint64_t>(-1));
    return std::move(node.mapped());
}

session& worker::register_session(std::unique_ptr<session> s) {
    session& registered = *s;
    sessions_by_id_.emplace(registered.id(), &registered);
    sessions_.emplace(registered.client_id(), std::move(s));  // keyed by a view of its own client id
    stats_.add(stats_.sessions);
    return registered;
}

session& worker::new_session(const std::string& client_id) {
    const std::uint64_t id = (static_cast<std::uint64_t>(index_) << 48) | next_session_number_++;
    return register_session(std::make_unique<session>(client_id, id, limits_));
}

session& worker::adopt_session(std::unique_ptr<session> moved) {
    session& s = register_session(std::move(moved));
    s.use_limits(limits_);
    if (s.journaled()) s.set_journal(persistence_.get());
    s.placement_streak = 0;
    log().debug("Client ", s.client_id(), " moved to worker ", index_, ", where its messages go.");
    return s;
}

session& worker::restore_session(const std::string& client_id, std::uint32_t expiry_interval,
                                 std::uint64_t disconnected_us, std::uint8_t protocol_version) {
    session& s = new_session(client_id);
    s.expiry_interval = expiry_interval;
    s.protocol_version = protocol_version;
    // The caller restores subscriptions and deliveries, then sets the journal.
    // The countdown continues from the last disconnect (or from now, for a
    // session whose connection was lost in a crash).
    const auto wall_now = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    const auto since_us = disconnected_us != 0 && static_cast<std::uint64_t>(wall_now) > disconnected_us
                              ? static_cast<std::uint64_t>(wall_now) - disconnected_us
                              : 0;
    const auto now = steady_clock::now();
    if (expiry_interval == never_expires) {
        s.expire_at = time_point::max();
    } else {
        s.expire_at = now + std::chrono::seconds(expiry_interval) - std::chrono::microseconds(since_us);
        schedule(s, s.expire_at);
    }
    return s;
}

void worker::schedule(session& s, time_point due) { timers_.schedule(s, due); }

void worker::run_timers(time_point now) {
    while (const auto t = timers_.next_due(now)) {
        session* found = find_session(t->session_id);
        if (!found) continue;
        session& s = *found;
        if (s.timer_generation != t->generation || s.online()) continue;
        if (s.will && now >= s.will_at) publish_will(s);
        if (now >= s.expire_at) {
            log().notice("Expiring client ", s.client_id(), ".");
            publish_will(s);  // a will still delayed goes out when the session ends
            end_session(s, true);
        }
    }
}

void worker::start_tick_timer() {
    tick_timer_->expires_after(tick_period);
    tick_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        tick();
        start_tick_timer();
    });
}

void worker::tick() {
    const auto now = steady_clock::now();
    // Connections only start closing here; they are removed later by their transport.
    for (std::size_t i = 0; i < connections_.size(); ++i) connections_.at(i)->tick(now);
    run_timers(now);
    if (index_ == 0) {
        broker_.retained().sweep(now);
        stats_.retained_messages.store(broker_.retained().size(), std::memory_order_relaxed);
        sys_.tick(broker_, *this, now);
        broker_.memory().sample(log());
    }
    hooks_.tick(now);
    if (broker_.worker_count() > 1) placement_.tick();
}

void worker::resume_intake() {
    // A transport may pause again while these run (the store filled up once
    // more): it then registers anew, after this list was taken.
    auto resume = std::exchange(paused_readers_, {});
    for (auto& r : resume) r();
}

void worker::publish_all_wills() {
    std::vector<session*> with_will;
    for (auto& [id, s] : sessions_) {
        if (s->will) with_will.push_back(s.get());
    }
    for (auto* s : with_will) publish_will(*s);
}

void worker::disconnect_all() {
    for (auto* c : connections_.snapshot()) c->disconnect(codec::reason_code::server_shutting_down, true);
}

}  // namespace strata::core
