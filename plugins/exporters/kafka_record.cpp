#include "kafka_record.hpp"

#include <charconv>

namespace strata::exporters {

kafka_record make_kafka_record(const export_row& row) {
    const auto& route = *row.route;
    kafka_record r;
    const bool dead_letter = !row.error.empty();
    r.topic = destination_of(row);
    if (route.key == "client_id") {
        r.key = row.client_id;
    } else if (!route.key.empty()) {
        for (const auto& [name, value] : row.captures) {
            if (name == route.key) r.key = value;
        }
    }
    if (dead_letter || route.payload != "json") {
        r.value = row.payload;
    } else {
        r.value = row.fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    r.timestamp_ms = static_cast<std::int64_t>(row.key.ts_us / 1000);
    r.headers.reserve(6 + row.captures.size() + (dead_letter ? 1 : 0));
    r.headers.emplace_back("strata.id", row.unique_id());
    r.headers.emplace_back("strata.ts_us", std::to_string(row.key.ts_us));
    r.headers.emplace_back("mqtt.topic", row.topic);
    r.headers.emplace_back("mqtt.client_id", row.client_id);
    r.headers.emplace_back("mqtt.qos", std::to_string(row.qos));
    r.headers.emplace_back("mqtt.retain", row.retain ? "true" : "false");
    for (const auto& [name, value] : row.captures) r.headers.emplace_back("capture." + name, value);
    if (dead_letter) r.headers.emplace_back("reason", row.error);
    return r;
}

std::optional<std::string> parse_kafka_bootstrap(const std::string& url) {
    std::string out;
    std::size_t at = 0;
    for (;;) {
        const auto comma = std::min(url.find(',', at), url.size());
        std::string_view server(url.data() + at, comma - at);
        while (!server.empty() && server.front() == ' ') server.remove_prefix(1);
        while (!server.empty() && server.back() == ' ') server.remove_suffix(1);
        std::string_view host = server, port;
        if (!server.empty() && server.front() == '[') {
            const auto close = server.find(']');
            if (close == std::string_view::npos || close == 1) return std::nullopt;
            host = server.substr(0, close + 1);
            if (close + 1 < server.size()) {
                if (server[close + 1] != ':') return std::nullopt;
                port = server.substr(close + 2);
                if (port.empty()) return std::nullopt;
            }
        } else if (const auto colon = server.find(':'); colon != std::string_view::npos) {
            host = server.substr(0, colon);
            port = server.substr(colon + 1);
            if (port.empty()) return std::nullopt;
        }
        if (host.empty() || host.find_first_of("/@ ") != std::string_view::npos) return std::nullopt;
        unsigned number = 9092;
        if (!port.empty()) {
            const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
            if (ec != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
                return std::nullopt;
            }
        }
        if (!out.empty()) out += ',';
        out.append(host);
        out += ':' + std::to_string(number);
        if (comma == url.size()) break;
        at = comma + 1;
    }
    return out;
}

}  // namespace strata::exporters
