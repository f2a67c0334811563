// What the Kafka exporter sends for a row (docs/exporters.md, Kafka), apart
// from librdkafka so that unit tests can check it:
//
//   topic      the route's target; `<target>_errors` (the dead-letter topic)
//              for a payload that does not fit the route
//   key        the route's key=: a captured topic level or the publisher's
//              client id; none without key=
//   value      payload=json: the JSON object (the route's fields, or all of
//              them), compact; payload=text|bytes and dead letters: the
//              payload as published
//   timestamp  the message's arrival at strata, in ms (CreateTime)
//   headers    strata.id (topicid-ts_us-seq, unique per stored message: the
//              de-duplication key), strata.ts_us, mqtt.topic, mqtt.client_id,
//              mqtt.qos, mqtt.retain (true|false), capture.NAME for each
//              captured level; dead letters also `reason`
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "export_row.hpp"

namespace strata::exporters {

struct kafka_record {
    std::string topic;
    std::optional<std::string> key;
    std::string value;
    std::int64_t timestamp_ms = 0;
    std::vector<std::pair<std::string, std::string>> headers;
};

kafka_record make_kafka_record(const export_row& row);

// exporter_url of a kafka exporter: HOST:PORT[,HOST:PORT...] (a HOST alone
// means port 9092; an IPv6 address is written [ADDRESS]:PORT). The list for
// librdkafka's bootstrap.servers, or nullopt when `url` does not have that shape.
std::optional<std::string> parse_kafka_bootstrap(const std::string& url);

}  // namespace strata::exporters
