#include "core/worker_port.hpp"

#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/broker.hpp"
#include "core/worker.hpp"

namespace strata::core {

std::uint32_t worker_port::worker_index() const { return worker_.worker_index(); }
const config::broker_config& worker_port::config() const { return worker_.config(); }
logger& worker_port::log() { return worker_.log(); }
worker_stats& worker_port::stats() { return worker_.stats(); }
plugin::worker_hooks& worker_port::hooks() { return worker_.hooks(); }
protocol::packet_scratch& worker_port::scratch() { return worker_.scratch(); }

void worker_port::defer(std::function<void()> work) { boost::asio::post(worker_.io(), std::move(work)); }

void worker_port::after(std::chrono::milliseconds delay, std::function<void()> work) {
    auto timer = std::make_shared<boost::asio::steady_timer>(worker_.io(), delay);
    timer->async_wait([timer, work = std::move(work)](const boost::system::error_code& ec) {
        if (!ec) work();
    });
}

void worker_port::add_connection(protocol::connection* c) { worker_.add_connection(c); }
void worker_port::remove_connection(protocol::connection* c) { worker_.remove_connection(c); }
protocol::connection* worker_port::find_connection(std::uint64_t id) { return worker_.find_connection(id); }

bool worker_port::intake_paused() const { return worker_.intake_paused(); }
bool worker_port::memory_over_limit() const { return worker_.owner().memory().over_limit(); }

std::chrono::milliseconds worker_port::login_blocked_for(const std::string& address) const {
    return worker_.access().login_blocked_for(address);
}

codec::reason_code worker_port::check_password(std::uint16_t listener, bool anonymous_allowed,
                                               const std::string& address, const codec::connect_packet& p) {
    return worker_.access().check_password(listener, anonymous_allowed, address, p);
}

bool worker_port::may_publish_will(std::uint16_t listener, const std::string* username, const std::string& client_id,
                                   std::string_view topic) const {
    return worker_.access().may_publish_will(listener, username, client_id, topic);
}

std::string worker_port::make_client_id() { return worker_.make_client_id(); }

std::uint32_t worker_port::claim_client_id(const std::string& client_id) {
    return static_cast<std::uint32_t>(worker_.owner().registry().claim(client_id, worker_.index()));
}

void worker_port::release_unused_claim(const std::string& client_id) { worker_.release_unused_claim(client_id); }
void worker_port::begin_authentication(const std::string& client_id) { worker_.begin_authentication(client_id); }
void worker_port::end_authentication(const std::string& client_id) { worker_.end_authentication(client_id); }

protocol::attach_result worker_port::attach(protocol::connection& c, const std::string& client_id, bool clean_start) {
    return worker_.attach(c, client_id, clean_start);
}

void worker_port::session_started(session& s) { worker_.session_started(s); }
void worker_port::detach(session& s, bool publish_will_now) { worker_.detach(s, publish_will_now); }

codec::reason_code worker_port::may_publish(session& s, const plugin::client_view& who, std::string_view topic,
                                            const codec::publish_packet& p, const plugin::message_draft*& rewritten,
                                            std::string& reason) {
    return worker_.access().may_publish(s, who, topic, p, rewritten, reason);
}

bool worker_port::can_keep(std::uint8_t qos) const { return worker_.intake().can_keep(qos); }

void worker_port::accept_publish(session& s, std::uint8_t qos, std::uint16_t packet_id, const message::init& in) {
    worker_.intake().accept(s, qos, packet_id, in);
}

std::optional<codec::reason_code> worker_port::release_publish(session& s, std::uint16_t packet_id) {
    return worker_.intake().release(s, packet_id);
}

codec::reason_code worker_port::may_subscribe(session& s, const plugin::client_view& who, std::string_view raw_filter,
                                              std::string_view mounted_filter, std::string_view mount_point,
                                              const topic::subscription_filter& f, subscription_options& o,
                                              std::uint32_t identifier) {
    return worker_.access().may_subscribe(s, who, raw_filter, mounted_filter, mount_point, f, o, identifier);
}

codec::reason_code worker_port::may_unsubscribe(const plugin::client_view& who, std::string_view mount_point,
                                                const topic::subscription_filter& f) {
    return worker_.access().may_unsubscribe(who, mount_point, f);
}

bool worker_port::subscribe(session& s, std::string_view filter, const subscription_options& o,
                            std::uint32_t identifier) {
    return worker_.routing().subscribe(s, filter, o, identifier);
}

bool worker_port::unsubscribe(session& s, std::string_view filter) { return worker_.routing().unsubscribe(s, filter); }

void worker_port::send_retained(session& s, std::string_view filter, const subscription_options& o,
                                std::uint32_t identifier) {
    worker_.routing().send_retained(s, filter, o, identifier);
}

bool worker_port::interest_pending() const { return worker_.routing().interest_pending(); }
void worker_port::when_interest_visible(std::function<void()> then) { worker_.routing().when_interest_visible(std::move(then)); }

}  // namespace strata::core
