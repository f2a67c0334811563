// One MQTT client of strata-bench on an Asio socket, using strata's codec.
// Publishers keep a window of QoS 1/2 messages in flight (or, at QoS 0, one
// write of up to 64 KiB in flight) so that the generator is cheap per
// message; subscribers acknowledge and record latency and sequence numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <utility>  // before Boost.Asio 1.74
#include <boost/asio.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "codec/packets.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace strata::bench {

using steady = std::chrono::steady_clock;

// Counters shared by the clients of one run (one thread).
struct run_totals {
    std::uint64_t published = 0;      // QoS 0 written / QoS 1-2 acknowledged
    std::uint64_t received = 0;       // PUBLISH packets received by subscribers
    std::uint64_t connected = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t errors = 0;         // connections lost during the run
    std::uint64_t subscribed = 0;
    std::uint64_t publishers_done = 0;
    latency_histogram latency;
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0;
    std::uint64_t unique = 0;
    steady::time_point first_publish{};
    steady::time_point last_ack{};
    steady::time_point first_receive{};
    steady::time_point last_receive{};
};

class client : public std::enable_shared_from_this<client> {
public:
    struct publish_plan {
        std::string topic;
        std::uint64_t count = 0;
        std::uint32_t publisher_id = 0;
        std::chrono::nanoseconds interval{0};  // 0 = as fast as the window allows
    };

    client(boost::asio::io_context& io, const options& o, run_totals& totals, std::string client_id);

    // Connects (binding to `source` if set); `done(ok)` after CONNACK.
    void connect(const boost::asio::ip::tcp::endpoint& broker, std::optional<boost::asio::ip::address> source,
                 std::function<void(bool)> done);
    // Subscribes; `done(ok)` after SUBACK.
    void subscribe(const std::string& filter, std::uint8_t qos, std::function<void(bool)> done);
    // Starts publishing `plan`; `done()` when every message is written (QoS 0) or acknowledged.
    void publish(publish_plan plan, std::function<void()> done);
    // Publishes one message now (replay mode); `done()` once acknowledged (QoS 0: written).
    void publish_one(const std::string& topic, std::string payload, std::function<void()> done);
    void disconnect();
    // Sends PINGREQ if nothing was sent for half the keep alive.
    void keep_alive(steady::time_point now);

    std::uint64_t unique_received() const { return sequences_.unique(); }
    bool connected() const { return connected_; }

private:
    void send_connect();
    // Reads and writes through TLS when it is on.
    template <class Buffers, class Handler>
    void async_write_all(const Buffers& b, Handler&& h);
    void start_reading();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void handle(const codec::fixed_header& h, codec::bytes_view body);
    void on_publish_received(const codec::publish_packet& p);
    void queue_bytes();
    void flush();
    void fill_publishes();
    void write_publish(std::uint16_t packet_id);
    void acked();
    void fail(const char* what);
    std::uint16_t next_packet_id();
    void schedule_paced();

    boost::asio::io_context& io_;
    const options& opts_;
    run_totals& totals_;
    std::string client_id_;
    codec::protocol_version version_;
    std::string json_payload_;  // -payload json: the message being written
    boost::asio::ip::tcp::socket socket_;
    // With an ssl:// broker: TLS over socket_ (null otherwise).
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
    boost::asio::steady_timer pace_timer_;

    std::vector<std::uint8_t> in_;
    std::size_t in_used_ = 0;
    codec::byte_buffer out_;       // being filled
    codec::byte_buffer writing_;   // being written
    bool write_in_flight_ = false;
    steady::time_point last_sent_{};
    bool connected_ = false;
    bool closing_ = false;

    std::function<void(bool)> on_connack_;
    std::function<void(bool)> on_suback_;
    std::function<void()> on_published_;
    std::function<void()> on_single_ack_;

    // Publishing state
    publish_plan plan_;
    std::uint64_t sent_ = 0;
    std::uint64_t acked_ = 0;              // QoS 0: written
    std::uint64_t publishes_queued_ = 0;   // in out_
    std::uint64_t publishes_writing_ = 0;  // in writing_
    std::uint32_t window_ = 20;
    std::uint32_t inflight_ = 0;
    std::uint16_t last_packet_id_ = 0;
    std::vector<std::uint8_t> payload_;
    steady::time_point next_due_{};

    codec::publish_packet rx_;
    codec::ack_packet ack_;
    sequence_tracker sequences_;
};

}  // namespace strata::bench
