// strata-bench settings: mqtt-bench's flags plus strata's extensions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace strata::bench {

enum class action { publish, subscribe, pubsub, connections, replay };
// How topics connect publishers and subscribers in -action pubsub.
enum class pattern { p2p, fanin, fanout, shared };

struct options {
    // mqtt-bench
    std::string broker = "tcp://127.0.0.1:1883";
    std::string action_text = "p";
    std::int64_t clients = 10;          // publishers (or subscribers for -action sub)
    std::int64_t count = 100;           // messages per publisher
    std::int64_t size = 1024;           // payload bytes
    std::int64_t qos = 0;
    bool retain = false;
    std::string topic = "/mqtt-bench/benchmark";
    std::int64_t interval_ms = 0;       // pause between two messages of one client
    std::int64_t pretime_ms = 3000;     // wait after connecting, before publishing
    std::string tls;                    // mqtt-bench's "server:CA_FILE" or "client:CA_FILE,CERT_FILE,KEY_FILE"
    std::string username;
    std::string password;
    bool debug = false;

    // extensions
    std::int64_t version = 4;           // -V 3|4|5 (MQTT 3.1, 3.1.1, 5.0)
    std::string pattern_text = "p2p";
    std::int64_t subscribers = -1;      // -1: as many as publishers (p2p, shared), 1 (fanin), clients (fanout)
    double rate = 0;                    // total messages per second over all publishers; 0 = as fast as possible
    std::int64_t inflight = 0;          // QoS 1/2 window per publisher; 0 = the broker's Receive Maximum (20 for 3.1.1)
    std::int64_t timeout_s = 120;       // overall bound of a run
    std::int64_t quiet_ms = 2000;       // subscribers: stop after this long without a message once publishers are done
    std::int64_t progress_s = 1;        // progress line period on runs longer than that; 0 = off
    bool json = false;
    // Connect in a shuffled order (fixed seed) rather than subscribers, then
    // publishers: as devices and applications arrive in a deployment, so that
    // a broker dealing connections round robin does not pair them by chance.
    bool shuffle = false;
    std::int64_t hold_s = 10;           // -action conn: how long to hold the connections
    std::int64_t sources = 1;           // -action conn: source addresses 127.0.0.1..N (beyond ~28k ports each)
    std::int64_t keepalive = 60;
    std::string payload_kind = "binary"; // binary (sequence header + padding) or json (an object of -size bytes)
    std::string file;                   // -action replay: CSV file
    double speed = 0;                   // -action replay: 0 = as fast as possible, N = N times the recorded pace

    // derived
    action act = action::publish;
    pattern pat = pattern::p2p;
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    bool use_tls = false;                              // ssl:// or tls:// broker
    std::shared_ptr<boost::asio::ssl::context> ssl;   // its client context, made by parse_options
};

// Parses argv into `o`; false with a message (usage included) on error.
bool parse_options(int argc, char** argv, options& o, std::string& error);
// The TLS client context of an ssl:// broker from -tls.
bool make_tls_context(options& o, std::string& error);

}  // namespace strata::bench
