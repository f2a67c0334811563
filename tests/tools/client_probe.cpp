// strata_client_probe: a command-line MQTT client on the client role of
// strata's protocol layer (protocol::client_connection) over a plain TCP
// socket. The end-to-end tests run it against strata and Mosquitto to show
// that the client role speaks to real servers; it is not shipped.
//
//   strata_client_probe PORT VERSION CLIENT_ID [options]
//     VERSION: 3 (MQTT 3.1), 4 (3.1.1) or 5
//     --clean 0|1          clean session / clean start (default 1)
//     --expiry SECONDS     session expiry (MQTT 5)
//     --bridge             the bridge bit in CONNECT's protocol level
//     --sub FILTER:QOS     subscribe after CONNACK (repeatable)
//     --pub TOPIC:QOS:TEXT publish once every SUBACK is in (repeatable)
//     --expect N           messages to receive before finishing (default 0)
//     --drop               finish by closing the socket, without DISCONNECT
//     --timeout SECONDS    give up (exit 1) after this long (default 10)
//
// One line per event on stdout: "connack SESSION_PRESENT REASON",
// "suback REASON...", "message TOPIC QOS TEXT", "published TOKEN REASON",
// "closing REASON WHY". Exit 0 once every publish is done and N messages
// arrived; 1 on a timeout, a refused CONNACK or a closed connection.
#include <utility>  // before Boost.Asio 1.74

#include <boost/asio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocol/client_connection.hpp"

namespace {

namespace asio = boost::asio;
using namespace strata;
using clock_type = protocol::client_clock;

struct publication {
    std::string topic;
    std::uint8_t qos = 0;
    std::string text;
};

struct settings {
    unsigned short port = 0;
    protocol::client_options options;
    std::vector<std::pair<std::string, std::uint8_t>> subscriptions;
    std::vector<publication> publications;
    std::size_t expect = 0;
    bool drop = false;
    int timeout = 10;
};

// "A:B:C" split at the first `parts - 1` colons.
std::vector<std::string> split(const std::string& s, std::size_t parts) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (out.size() + 1 < parts) {
        const auto colon = s.find(':', at);
        if (colon == std::string::npos) break;
        out.push_back(s.substr(at, colon - at));
        at = colon + 1;
    }
    out.push_back(s.substr(at));
    return out;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "strata_client_probe: %s\n", why);
    std::exit(2);
}

settings parse(int argc, char** argv) {
    if (argc < 4) usage("usage: strata_client_probe PORT VERSION CLIENT_ID [options]");
    settings s;
    s.port = static_cast<unsigned short>(std::atoi(argv[1]));
    const int version = std::atoi(argv[2]);
    if (version < 3 || version > 5) usage("VERSION is 3, 4 or 5");
    s.options.version = static_cast<codec::protocol_version>(version);
    s.options.client_id = argv[3];
    for (int i = 4; i < argc; ++i) {
        const std::string flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage("a flag lacks its value");
            return argv[++i];
        };
        if (flag == "--clean") s.options.clean_start = value() == "1";
        else if (flag == "--expiry") s.options.session_expiry = static_cast<std::uint32_t>(std::stoul(value()));
        else if (flag == "--bridge") s.options.bridge = true;
        else if (flag == "--expect") s.expect = std::stoul(value());
        else if (flag == "--drop") s.drop = true;
        else if (flag == "--timeout") s.timeout = std::stoi(value());
        else if (flag == "--sub") {
            const auto p = split(value(), 2);
            if (p.size() != 2) usage("--sub FILTER:QOS");
            s.subscriptions.emplace_back(p[0], static_cast<std::uint8_t>(std::stoi(p[1])));
        } else if (flag == "--pub") {
            const auto p = split(value(), 3);
            if (p.size() != 3) usage("--pub TOPIC:QOS:TEXT");
            s.publications.push_back({p[0], static_cast<std::uint8_t>(std::stoi(p[1])), p[2]});
        } else {
            usage("unknown flag");
        }
    }
    return s;
}

class probe final : public protocol::client_handler {
public:
    explicit probe(settings s) : settings_(std::move(s)), client_(settings_.options, *this) {}

    int run() {
        socket_.connect({asio::ip::make_address("127.0.0.1"), settings_.port});
        deadline_ = clock_type::now() + std::chrono::seconds(settings_.timeout);
        client_.start(clock_type::now());
        flush();
        read();
        tick();
        io_.run();
        return exit_code_;
    }

private:
    void on_connack(const protocol::connack_info& info) override {
        std::printf("connack %d %d\n", info.session_present ? 1 : 0, info.reason);
        if (info.reason != 0) return;
        if (settings_.subscriptions.empty()) {
            publish_all();
            return;
        }
        std::vector<codec::subscription_request> filters;
        for (const auto& [filter, qos] : settings_.subscriptions) filters.push_back({filter, qos, false, false, 0});
        client_.subscribe(filters);
    }
    void on_message(const codec::publish_packet& p, std::uint64_t) override {
        std::printf("message %.*s %d %.*s\n", static_cast<int>(p.topic.size()), p.topic.data(), p.qos,
                    static_cast<int>(p.payload.size()), reinterpret_cast<const char*>(p.payload.data()));
        ++received_;
        check_done();
    }
    void on_published(std::uint64_t token, codec::reason_code reason) override {
        std::printf("published %llu %d\n", static_cast<unsigned long long>(token), static_cast<int>(reason));
        ++published_;
        check_done();
    }
    void on_subscribe_ack(codec::packet_type, std::uint16_t, std::span<const std::uint8_t> reasons) override {
        std::printf("suback");
        for (auto r : reasons) std::printf(" %d", r);
        std::printf("\n");
        publish_all();
    }
    void on_closing(codec::reason_code reason, std::string_view why) override {
        std::printf("closing %d %.*s\n", static_cast<int>(reason), static_cast<int>(why.size()), why.data());
        if (!finished_) exit_code_ = 1;
        finished_ = true;
    }

    void publish_all() {
        for (std::size_t i = 0; i < settings_.publications.size(); ++i) {
            const auto& pub = settings_.publications[i];
            codec::publish_packet p;
            p.topic = pub.topic;
            p.qos = pub.qos;
            p.payload = codec::as_bytes(pub.text);
            if (client_.publish(p, i + 1) != protocol::client_connection::publish_result::sent) {
                std::printf("publish refused %s\n", pub.topic.c_str());
                exit_code_ = 1;
                finished_ = true;
                return;
            }
            if (pub.qos > 0) ++awaited_;
        }
        publishing_done_ = true;
        check_done();
    }
    void check_done() {
        if (finished_ || !publishing_done_ || published_ < awaited_ || received_ < settings_.expect) return;
        finished_ = true;
        exit_code_ = 0;
        if (!settings_.drop) client_.disconnect();
    }

    void flush() {
        if (client_.has_output()) {
            const auto bytes = client_.take_output();
            boost::system::error_code ec;
            asio::write(socket_, asio::buffer(bytes), ec);
        }
        if (finished_) stop();
    }
    void stop() {
        boost::system::error_code ignored;
        socket_.close(ignored);
        timer_.cancel();
    }
    void read() {
        socket_.async_read_some(asio::buffer(buffer_), [this](const boost::system::error_code& ec, std::size_t n) {
            if (ec) {
                if (!finished_) {
                    std::printf("closing -1 the server closed the connection\n");
                    exit_code_ = 1;
                    finished_ = true;
                }
                stop();
                return;
            }
            client_.on_input({buffer_.data(), n}, clock_type::now());
            flush();
            if (!finished_) read();
        });
    }
    void tick() {
        timer_.expires_after(std::chrono::milliseconds(200));
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            if (clock_type::now() > deadline_) {
                std::printf("timeout: %zu of %zu messages, %zu of %zu publishes done\n", received_, settings_.expect,
                            published_, awaited_);
                exit_code_ = 1;
                finished_ = true;
                stop();
                return;
            }
            client_.tick(clock_type::now());
            flush();
            if (!finished_) tick();
        });
    }

    settings settings_;
    protocol::client_connection client_;
    asio::io_context io_;
    asio::ip::tcp::socket socket_{io_};
    asio::steady_timer timer_{io_};
    std::array<std::uint8_t, 65536> buffer_{};
    clock_type::time_point deadline_{};
    std::size_t received_ = 0;
    std::size_t published_ = 0;
    std::size_t awaited_ = 0;
    bool publishing_done_ = false;
    bool finished_ = false;
    int exit_code_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        return probe(parse(argc, argv)).run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "strata_client_probe: %s\n", e.what());
        return 1;
    }
}
