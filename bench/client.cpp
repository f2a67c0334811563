#include "client.hpp"

#include <iostream>

namespace strata::bench {

namespace asio = boost::asio;
using asio::ip::tcp;
using codec::packet_type;

namespace {

constexpr std::size_t write_batch_bytes = 64 * 1024;

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count());
}

}  // namespace

client::client(asio::io_context& io, const options& o, run_totals& totals, std::string client_id)
    : io_(io),
      opts_(o),
      totals_(totals),
      client_id_(std::move(client_id)),
      version_(static_cast<codec::protocol_version>(o.version)),
      socket_(io),
      pace_timer_(io),
      in_(64 * 1024) {}

void client::connect(const tcp::endpoint& broker, std::optional<asio::ip::address> source,
                     std::function<void(bool)> done) {
    on_connack_ = std::move(done);
    boost::system::error_code ec;
    socket_.open(broker.protocol(), ec);
    if (!ec && source) socket_.bind(tcp::endpoint(*source, 0), ec);
    if (ec) {
        fail("socket");
        return;
    }
    socket_.async_connect(broker, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec) {
            self->fail("connect");
            return;
        }
        boost::system::error_code ignored;
        self->socket_.set_option(tcp::no_delay(true), ignored);
        if (!self->opts_.ssl) {
            self->send_connect();
            return;
        }
        self->tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(self->socket_, *self->opts_.ssl);
        SSL_set_tlsext_host_name(self->tls_->native_handle(), self->opts_.host.c_str());
        self->tls_->async_handshake(asio::ssl::stream_base::client, [self](const boost::system::error_code& ec) {
            if (ec) {
                if (self->opts_.debug) std::cerr << self->client_id_ << ": TLS: " << ec.message() << "\n";
                self->fail("TLS handshake");
                return;
            }
            self->send_connect();
        });
    });
}

void client::send_connect() {
    codec::connect_packet c;
    c.version = version_;
    c.clean_start = true;
    c.keep_alive = static_cast<std::uint16_t>(opts_.keepalive);
    c.client_id = client_id_;
    c.has_username = !opts_.username.empty();
    c.username = opts_.username;
    c.has_password = !opts_.password.empty();
    c.password = codec::as_bytes(opts_.password);
    if (version_ == codec::protocol_version::v5) c.props.receive_maximum = 65535;
    codec::encode_connect(out_, c);
    flush();
    start_reading();
}

template <class Buffers, class Handler>
void client::async_write_all(const Buffers& b, Handler&& h) {
    if (tls_) asio::async_write(*tls_, b, std::forward<Handler>(h));
    else asio::async_write(socket_, b, std::forward<Handler>(h));
}

void client::subscribe(const std::string& filter, std::uint8_t qos, std::function<void(bool)> done) {
    on_suback_ = std::move(done);
    codec::subscribe_packet s;
    s.packet_id = next_packet_id();
    s.subscriptions.push_back({filter, qos, false, false, 0});
    codec::encode_subscribe(out_, version_, s);
    flush();
}

void client::publish(publish_plan plan, std::function<void()> done) {
    plan_ = std::move(plan);
    on_published_ = std::move(done);
    payload_.assign(static_cast<std::size_t>(opts_.size), 'x');
    if (plan_.count == 0) {
        on_published_();
        return;
    }
    if (totals_.first_publish == steady::time_point{}) totals_.first_publish = steady::now();
    next_due_ = steady::now();
    if (plan_.interval.count() > 0) schedule_paced();
    else fill_publishes();
}

void client::publish_one(const std::string& topic, std::string payload, std::function<void()> done) {
    on_single_ack_ = std::move(done);
    codec::publish_packet p;
    p.topic = topic;
    p.qos = static_cast<std::uint8_t>(opts_.qos);
    p.retain = opts_.retain;
    p.packet_id = p.qos ? next_packet_id() : 0;
    p.payload = codec::as_bytes(payload);
    codec::encode_publish(out_, version_, p);
    if (totals_.first_publish == steady::time_point{}) totals_.first_publish = steady::now();
    flush();
    if (p.qos == 0) {
        ++totals_.published;
        totals_.last_ack = steady::now();
        auto cb = std::move(on_single_ack_);
        if (cb) cb();
    }
}

void client::schedule_paced() {
    pace_timer_.expires_at(next_due_);
    pace_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        self->fill_publishes();
    });
}

void client::write_publish(std::uint16_t packet_id) {
    codec::publish_packet p;
    p.topic = plan_.topic;
    p.qos = static_cast<std::uint8_t>(opts_.qos);
    p.retain = opts_.retain;
    p.packet_id = packet_id;
    if (opts_.payload_kind == "json") {
        // A reading as IoT devices send it, padded to -size bytes: what exporters map to columns.
        json_payload_ = "{\"pub\":" + std::to_string(plan_.publisher_id) + ",\"seq\":" + std::to_string(sent_) +
                        ",\"value\":" + std::to_string(20.0 + static_cast<double>(sent_ % 1000) / 100.0) +
                        ",\"pad\":\"";
        const std::size_t target = static_cast<std::size_t>(opts_.size);
        if (json_payload_.size() + 2 < target) json_payload_.append(target - json_payload_.size() - 2, 'x');
        json_payload_ += "\"}";
        p.payload = codec::as_bytes(json_payload_);
    } else {
        payload_header h{plan_.publisher_id, static_cast<std::uint32_t>(sent_), now_ns()};
        if (payload_.size() >= payload_header::size) h.write(payload_.data());
        p.payload = payload_;
    }
    codec::encode_publish(out_, version_, p);
    ++sent_;
    ++publishes_queued_;
}

// Adds as many PUBLISH packets as the window, the pace and the batch size allow.
void client::fill_publishes() {
    if (closing_) return;
    const bool paced = plan_.interval.count() > 0;
    const auto now = steady::now();
    while (sent_ < plan_.count && out_.size() < write_batch_bytes) {
        if (paced && now < next_due_) break;
        if (opts_.qos > 0) {
            if (inflight_ >= window_) break;
            ++inflight_;
            write_publish(next_packet_id());
        } else {
            write_publish(0);
        }
        if (paced) next_due_ += plan_.interval;
    }
    flush();
    if (paced && sent_ < plan_.count && (opts_.qos == 0 || inflight_ < window_)) schedule_paced();
}

void client::acked() {
    --inflight_;
    ++acked_;
    ++totals_.published;
    totals_.last_ack = steady::now();
    if (on_single_ack_) {
        auto cb = std::move(on_single_ack_);
        on_single_ack_ = nullptr;
        cb();
        return;
    }
    if (acked_ == plan_.count) {
        ++totals_.publishers_done;
        if (on_published_) on_published_();
        return;
    }
    if (plan_.interval.count() == 0 || steady::now() >= next_due_) fill_publishes();
    else if (inflight_ + 1 == window_) schedule_paced();  // the window had stalled the pace
}

std::uint16_t client::next_packet_id() {
    last_packet_id_ = static_cast<std::uint16_t>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    return last_packet_id_;
}

void client::flush() {
    if (write_in_flight_ || out_.empty() || !socket_.is_open()) return;
    std::swap(out_, writing_);
    out_.clear();
    publishes_writing_ = publishes_queued_;
    publishes_queued_ = 0;
    write_in_flight_ = true;
    last_sent_ = steady::now();
    async_write_all(asio::buffer(writing_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->write_in_flight_ = false;
        self->writing_.clear();
        if (ec) {
            self->fail("write");
            return;
        }
        // QoS 0: what was just written counts as published.
        const auto written = std::exchange(self->publishes_writing_, 0);
        if (self->opts_.qos == 0 && self->plan_.count > 0) {
            self->acked_ += written;
            self->totals_.published += written;
            self->totals_.last_ack = steady::now();
            if (self->acked_ == self->plan_.count && written > 0) {
                ++self->totals_.publishers_done;
                if (self->on_published_) self->on_published_();
            } else if (self->plan_.interval.count() == 0) {
                self->fill_publishes();
            }
        }
        self->flush();
    });
}

void client::start_reading() {
    auto on_read = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->on_read(ec, n);
    };
    const auto room = asio::buffer(in_.data() + in_used_, in_.size() - in_used_);
    if (tls_) tls_->async_read_some(room, std::move(on_read));
    else socket_.async_read_some(room, std::move(on_read));
}

void client::on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
        if (!closing_) fail("read");
        return;
    }
    in_used_ += n;
    std::size_t at = 0;
    for (;;) {
        codec::fixed_header h;
        const auto st = codec::parse_fixed_header(codec::bytes_view(in_.data() + at, in_used_ - at), h);
        if (st == codec::frame_status::malformed) {
            fail("malformed packet from broker");
            return;
        }
        if (st == codec::frame_status::incomplete || in_used_ - at < h.total_length()) {
            if (st == codec::frame_status::complete && h.total_length() > in_.size()) in_.resize(h.total_length());
            break;
        }
        handle(h, codec::bytes_view(in_.data() + at + h.header_length, h.remaining_length));
        at += h.total_length();
        if (closing_) return;
    }
    if (at > 0) {
        std::copy(in_.begin() + static_cast<std::ptrdiff_t>(at), in_.begin() + static_cast<std::ptrdiff_t>(in_used_), in_.begin());
        in_used_ -= at;
    }
    flush();
    start_reading();
}

void client::handle(const codec::fixed_header& h, codec::bytes_view body) {
    switch (h.type) {
        case packet_type::connack: {
            codec::connack_packet c;
            const bool ok = codec::decode_connack(body, version_, c) == codec::reason_code::success && c.reason == 0;
            if (ok) {
                connected_ = true;
                ++totals_.connected;
                window_ = c.props.receive_maximum.value_or(version_ == codec::protocol_version::v5 ? 65535 : 20);
                if (opts_.inflight > 0) window_ = static_cast<std::uint32_t>(opts_.inflight);
            } else {
                ++totals_.connect_failures;
                if (opts_.debug) std::cerr << client_id_ << ": CONNACK refused (" << int(c.reason) << ")\n";
            }
            if (auto cb = std::move(on_connack_)) cb(ok);
            return;
        }
        case packet_type::suback: {
            codec::subscribe_ack_packet s;
            const bool ok = codec::decode_subscribe_ack(body, h.type, version_, s) == codec::reason_code::success &&
                            !s.reasons.empty() && s.reasons[0] < 0x80;
            if (ok) ++totals_.subscribed;
            if (auto cb = std::move(on_suback_)) cb(ok);
            return;
        }
        case packet_type::publish:
            if (codec::decode_publish(body, h.flags, version_, rx_) == codec::reason_code::success) on_publish_received(rx_);
            return;
        case packet_type::puback:
        case packet_type::pubcomp:
            acked();
            return;
        case packet_type::pubrec:
            if (codec::decode_ack(body, h.type, version_, ack_) == codec::reason_code::success) {
                codec::ack_packet rel;
                rel.type = packet_type::pubrel;
                rel.packet_id = ack_.packet_id;
                codec::encode_ack(out_, version_, rel);
            }
            return;
        case packet_type::pubrel:
            if (codec::decode_ack(body, h.type, version_, ack_) == codec::reason_code::success) {
                codec::ack_packet comp;
                comp.type = packet_type::pubcomp;
                comp.packet_id = ack_.packet_id;
                codec::encode_ack(out_, version_, comp);
            }
            return;
        case packet_type::disconnect:
            fail("DISCONNECT from broker");
            return;
        default:
            return;
    }
}

void client::on_publish_received(const codec::publish_packet& p) {
    const auto now = steady::now();
    ++totals_.received;
    if (totals_.first_receive == steady::time_point{}) totals_.first_receive = now;
    totals_.last_receive = now;
    payload_header h;
    if (payload_header::read(p.payload.data(), p.payload.size(), h)) {
        const auto t = now_ns();
        if (t >= h.sent_ns) totals_.latency.record(t - h.sent_ns);
        const auto dups = sequences_.duplicates();
        const auto reordered = sequences_.reordered();
        if (sequences_.record(h.publisher, h.seq)) ++totals_.unique;
        totals_.duplicates += sequences_.duplicates() - dups;
        totals_.reordered += sequences_.reordered() - reordered;
    }
    if (p.qos > 0) {
        codec::ack_packet a;
        a.type = p.qos == 1 ? packet_type::puback : packet_type::pubrec;
        a.packet_id = p.packet_id;
        codec::encode_ack(out_, version_, a);
    }
}

void client::keep_alive(steady::time_point now) {
    if (!connected_ || closing_ || opts_.keepalive == 0) return;
    if (now - last_sent_ < std::chrono::seconds(opts_.keepalive) / 2) return;
    codec::encode_pingreq(out_);
    flush();
}

void client::disconnect() {
    if (closing_) return;
    closing_ = true;
    pace_timer_.cancel();
    if (connected_ && socket_.is_open()) {
        codec::disconnect_packet d;
        codec::encode_disconnect(out_, version_, d);
        std::swap(out_, writing_);
        boost::system::error_code ec;
        if (tls_) asio::write(*tls_, asio::buffer(writing_), ec);
        else asio::write(socket_, asio::buffer(writing_), ec);
        writing_.clear();
    }
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
}

void client::fail(const char* what) {
    if (closing_) return;
    closing_ = true;
    if (connected_) ++totals_.errors;
    if (opts_.debug) std::cerr << client_id_ << ": " << what << "\n";
    boost::system::error_code ec;
    socket_.close(ec);
    pace_timer_.cancel();
    if (auto cb = std::move(on_connack_)) {
        ++totals_.connect_failures;
        cb(false);
    }
    if (auto cb = std::move(on_suback_)) cb(false);
}

}  // namespace strata::bench
