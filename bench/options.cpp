#include "options.hpp"

#include <utility>  // before Boost.Asio 1.74
#include <boost/asio/ssl/context.hpp>

#include "flags.hpp"

namespace strata::bench {

namespace {

bool parse_broker(const std::string& uri, options& o, std::string& error) {
    std::string rest = uri;
    if (rest.starts_with("tcp://")) rest = rest.substr(6);
    else if (rest.starts_with("mqtt://")) rest = rest.substr(7);
    else if (rest.starts_with("ssl://") || rest.starts_with("tls://") || rest.starts_with("mqtts://")) {
        rest = rest.substr(rest.find("://") + 3);
        o.use_tls = true;
    }
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        error = "broker must look like tcp://host:port, got " + uri;
        return false;
    }
    o.host = rest.substr(0, colon);
    if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
    try {
        const int port = std::stoi(rest.substr(colon + 1));
        if (port <= 0 || port > 65535) throw std::out_of_range("port");
        o.port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
        error = "bad port in broker " + uri;
        return false;
    }
    return true;
}

}  // namespace

bool parse_options(int argc, char** argv, options& o, std::string& error) {
    flag_set f;
    f.add("broker", &o.broker, "URI of the MQTT broker");
    f.add("action", &o.action_text, "p|pub, s|sub, ps|pubsub (publishers and subscribers in one run), conn (idle connections), replay (CSV)");
    f.add("clients", &o.clients, "Number of clients (publishers in pubsub)");
    f.add("count", &o.count, "Number of messages per publishing client");
    f.add("size", &o.size, "Message size per publish (bytes)");
    f.add("qos", &o.qos, "MQTT QoS (0|1|2)");
    f.add("retain", &o.retain, "Publish with the retain flag");
    f.add("topic", &o.topic, "Base topic");
    f.add("intervaltime", &o.interval_ms, "Interval between messages of one client (ms)");
    f.add("pretime", &o.pretime_ms, "Wait before publishing (ms)");
    f.add("shuffle", &o.shuffle, "Connect the clients in a shuffled order (fixed seed), not subscribers first");
    f.add("tls", &o.tls, "TLS with an ssl:// broker: 'server:CA_FILE' (check the broker against the CA) or "
                         "'client:CA_FILE,CERT_FILE,KEY_FILE' (also present a client certificate); without it, "
                         "the broker's certificate is not checked");
    f.add("username", &o.username, "User name");
    f.add("password", &o.password, "Password");
    f.add("broker-username", &o.username, "User name (mqtt-bench spelling)");
    f.add("broker-password", &o.password, "Password (mqtt-bench spelling)");
    f.add("debug", &o.debug, "Print every connection event");
    f.add("V", &o.version, "MQTT version: 3 (3.1), 4 (3.1.1), 5");
    f.add("mode", &o.action_text, "Same as -action");
    f.add("pattern", &o.pattern_text, "pubsub topics: p2p, fanin (one subscriber on a wildcard), fanout (one publisher), shared ($share group)");
    f.add("subscribers", &o.subscribers, "Subscribers in pubsub (default: by pattern)");
    f.add("rate", &o.rate, "Total publish rate over all publishers (messages/s); 0 = as fast as possible");
    f.add("inflight", &o.inflight, "QoS 1/2 messages in flight per publisher (0 = the broker's Receive Maximum)");
    f.add("timeout", &o.timeout_s, "Bound of the whole run (s)");
    f.add("quiet", &o.quiet_ms, "Subscribers stop this long after the last message once publishers are done (ms)");
    f.add("progress", &o.progress_s, "Progress line period (s); 0 = off");
    f.add("json", &o.json, "Print a JSON summary as the last line");
    f.add("hold", &o.hold_s, "conn: seconds to hold the connections");
    f.add("sources", &o.sources, "conn: local source addresses 127.0.0.1..N");
    f.add("keepalive", &o.keepalive, "Keep alive (s)");
    f.add("file", &o.file, "replay: CSV file (Date,Time,S1_Temp,... as the UCI occupancy data)");
    f.add("payload", &o.payload_kind, "binary (default: a sequence header subscribers check, then padding) or json "
                                      "(an object {\"pub\",\"n\",\"value\",\"pad\"} of -size bytes, for exporters; "
                                      "subscribers count but cannot check order)");
    f.add("speed", &o.speed, "replay: N times the recorded pace; 0 = as fast as possible");
    if (!f.parse(argc, argv, error)) {
        error += "\nUsage of strata-bench:\n" + f.usage();
        return false;
    }
    const auto& a = o.action_text;
    if (a == "p" || a == "pub") o.act = action::publish;
    else if (a == "s" || a == "sub") o.act = action::subscribe;
    else if (a == "ps" || a == "pubsub") o.act = action::pubsub;
    else if (a == "conn") o.act = action::connections;
    else if (a == "replay") o.act = action::replay;
    else {
        error = "unknown -action " + a;
        return false;
    }
    const auto& p = o.pattern_text;
    if (p == "p2p") o.pat = pattern::p2p;
    else if (p == "fanin") o.pat = pattern::fanin;
    else if (p == "fanout") o.pat = pattern::fanout;
    else if (p == "shared") o.pat = pattern::shared;
    else {
        error = "unknown -pattern " + p;
        return false;
    }
    if (o.qos < 0 || o.qos > 2) error = "-qos must be 0, 1 or 2";
    else if (o.version < 3 || o.version > 5) error = "-V must be 3, 4 or 5";
    else if (o.clients < 1) error = "-clients must be at least 1";
    else if (o.count < 0) error = "-count must not be negative";
    else if (o.size < 0 || o.size > 268'435'000) error = "-size out of range";
    else if (o.act == action::replay && o.file.empty()) error = "-action replay needs -file";
    else if (o.payload_kind != "binary" && o.payload_kind != "json") error = "-payload must be binary or json";
    if (!error.empty()) return false;
    if (!parse_broker(o.broker, o, error)) return false;
    if (!o.tls.empty() && !o.use_tls) {
        error = "-tls needs an ssl:// broker";
        return false;
    }
    return !o.use_tls || make_tls_context(o, error);
}

bool make_tls_context(options& o, std::string& error) {
    namespace ssl = boost::asio::ssl;
    o.ssl = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    if (o.tls.empty()) {
        o.ssl->set_verify_mode(ssl::verify_none, ec);
        return true;
    }
    const auto colon = o.tls.find(':');
    const std::string mode = o.tls.substr(0, colon);
    std::vector<std::string> files;
    for (std::size_t at = colon == std::string::npos ? o.tls.size() : colon + 1; at <= o.tls.size();) {
        const auto comma = std::min(o.tls.find(',', at), o.tls.size());
        files.push_back(o.tls.substr(at, comma - at));
        at = comma + 1;
    }
    if ((mode != "server" && mode != "client") || files.empty() || files[0].empty() ||
        (mode == "client" && files.size() != 3) || (mode == "server" && files.size() != 1)) {
        error = "-tls must be 'server:CA_FILE' or 'client:CA_FILE,CERT_FILE,KEY_FILE', got '" + o.tls + "'";
        return false;
    }
    o.ssl->load_verify_file(files[0], ec);
    if (!ec) o.ssl->set_verify_mode(ssl::verify_peer, ec);
    if (!ec && mode == "client") o.ssl->use_certificate_chain_file(files[1], ec);
    if (!ec && mode == "client") o.ssl->use_private_key_file(files[2], ssl::context::pem, ec);
    if (ec) {
        error = "-tls " + o.tls + ": " + ec.message();
        return false;
    }
    return true;
}

}  // namespace strata::bench
