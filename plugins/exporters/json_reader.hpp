// Reads JSON payloads for the exporters' routes with simdjson (Debian's
// libsimdjson-dev), which parses and validates a payload several times faster
// than nlohmann::json's own parser, and converts to nlohmann::json only what a
// route keeps: with a field list, the listed fields and nothing else. Parsing
// was half of an exporter reader's time with nlohmann::json alone
// (bench/RESULTS.md). Whatever simdjson refuses (a byte-order mark, an integer
// beyond 64 bits, nesting deeper than 1024) is parsed again by nlohmann::json,
// so a payload is JSON here exactly when nlohmann::json takes it.
//
// One reader per exporter reader thread: it keeps its buffers between payloads.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace simdjson::dom {
class parser;
}

namespace strata::exporters {

class json_reader {
public:
    json_reader();
    ~json_reader();
    json_reader(const json_reader&) = delete;
    json_reader& operator=(const json_reader&) = delete;

    // The payload as JSON; nullopt when it is not JSON.
    std::optional<nlohmann::json> parse(std::string_view payload);

    enum class shape { not_json, not_object, object };
    // The top-level fields `names` of the payload into picked(), in the order
    // of `names` (nullopt: the payload has no such field; with a name twice in
    // the payload, the last). picked() is filled only for a JSON object.
    shape pick(std::string_view payload, std::span<const std::string> names);
    // The last pick()'s values; the caller may move them out.
    std::vector<std::optional<nlohmann::json>>& picked() { return picked_; }

private:
    std::unique_ptr<simdjson::dom::parser> parser_;
    std::vector<std::optional<nlohmann::json>> picked_;
};

}  // namespace strata::exporters
