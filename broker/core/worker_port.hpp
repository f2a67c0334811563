// The broker as one worker's connections see it (protocol/broker_port.hpp):
// each call goes to the worker, its publish intake, its access checks or
// the broker's client registry and memory guard.
#pragma once

#include "protocol/broker_port.hpp"

namespace strata::core {

class worker;

class worker_port final : public protocol::broker_port {
public:
    explicit worker_port(worker& w) : worker_(w) {}

    std::uint32_t worker_index() const override;
    const config::broker_config& config() const override;
    logger& log() override;
    worker_stats& stats() override;
    plugin::worker_hooks& hooks() override;
    protocol::packet_scratch& scratch() override;
    void defer(std::function<void()> work) override;
    void after(std::chrono::milliseconds delay, std::function<void()> work) override;

    void add_connection(protocol::connection* c) override;
    void remove_connection(protocol::connection* c) override;
    protocol::connection* find_connection(std::uint64_t id) override;

    bool intake_paused() const override;
    bool memory_over_limit() const override;

    std::chrono::milliseconds login_blocked_for(const std::string& address) const override;
    codec::reason_code check_password(std::uint16_t listener, bool anonymous_allowed, const std::string& address,
                                      const codec::connect_packet& p) override;
    bool may_publish_will(std::uint16_t listener, const std::string* username, const std::string& client_id,
                          std::string_view topic) const override;

    std::string make_client_id() override;
    std::uint32_t claim_client_id(const std::string& client_id) override;
    void release_unused_claim(const std::string& client_id) override;
    void begin_authentication(const std::string& client_id) override;
    void end_authentication(const std::string& client_id) override;
    protocol::attach_result attach(protocol::connection& c, const std::string& client_id, bool clean_start) override;
    void session_started(session& s) override;
    void detach(session& s, bool publish_will_now) override;

    codec::reason_code may_publish(session& s, const plugin::client_view& who, std::string_view topic,
                                   const codec::publish_packet& p, const plugin::message_draft*& rewritten,
                                   std::string& reason) override;
    bool can_keep(std::uint8_t qos) const override;
    void accept_publish(session& s, std::uint8_t qos, std::uint16_t packet_id, const message::init& in) override;
    std::optional<codec::reason_code> release_publish(session& s, std::uint16_t packet_id) override;

    codec::reason_code may_subscribe(session& s, const plugin::client_view& who, std::string_view raw_filter,
                                     std::string_view mounted_filter, std::string_view mount_point,
                                     const topic::subscription_filter& f, subscription_options& o,
                                     std::uint32_t identifier) override;
    codec::reason_code may_unsubscribe(const plugin::client_view& who, std::string_view mount_point,
                                       const topic::subscription_filter& f) override;
    bool subscribe(session& s, std::string_view filter, const subscription_options& o,
                   std::uint32_t identifier) override;
    bool unsubscribe(session& s, std::string_view filter) override;
    void send_retained(session& s, std::string_view filter, const subscription_options& o,
                       std::uint32_t identifier) override;
    bool interest_pending() const override;
    void when_interest_visible(std::function<void()> then) override;

private:
    worker& worker_;
};

}  // namespace strata::core
