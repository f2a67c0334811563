#include "http/render.hpp"

#include "codec/byte_reader.hpp"
#include "codec/byte_writer.hpp"
#include "codec/properties.hpp"
#include "codec/utf8.hpp"
#include "query_params.hpp"
#include "records.hpp"

namespace strata::http {

namespace {

// The stored block is the PUBLISH's forwarded properties without their
// length prefix (see session/message.hpp); the codec reads whole blocks, so
// the prefix is put back first.
nlohmann::ordered_json properties_json(const storage::message_record& m) {
    auto out = nlohmann::ordered_json::object();
    if (m.has_expiry) out["message_expiry_interval"] = m.expiry_interval;
    if (m.properties.empty()) return out;
    codec::byte_buffer block;
    codec::byte_writer w(block);
    w.varint(static_cast<std::uint32_t>(m.properties.size()));
    w.raw(m.properties);
    codec::byte_reader r(block);
    codec::properties p;
    if (!codec::read_properties(r, codec::property_context::publish, p)) {
        // Never expected (the broker stored what it decoded); shown rather than hidden.
        out["undecodable"] = storage::base64_encode(m.properties);
        return out;
    }
    if (p.payload_format_indicator) out["payload_format_indicator"] = *p.payload_format_indicator;
    if (p.content_type) out["content_type"] = std::string(*p.content_type);
    if (p.response_topic) out["response_topic"] = std::string(*p.response_topic);
    // Binary data by definition, so always base64.
    if (p.correlation_data) out["correlation_data"] = storage::base64_encode(*p.correlation_data);
    if (!p.user_properties.empty()) {
        // Pairs in order: keys may repeat and their order is significant (MQTT 5, 3.3.2.3.7).
        auto pairs = nlohmann::ordered_json::array();
        for (const auto& up : p.user_properties) pairs.push_back({std::string(up.key), std::string(up.value)});
        out["user_properties"] = std::move(pairs);
    }
    return out;
}

}  // namespace

void put_time(nlohmann::ordered_json& doc, std::string_view name, std::uint64_t us) {
    doc[std::string(name)] = storage::format_time(us);
    doc[std::string(name) + "_ms"] = us / 1000;
}

nlohmann::ordered_json message_json(const storage::stored_message& sm) {
    nlohmann::ordered_json out;
    out["topic"] = sm.topic;
    put_time(out, "ts", sm.key.ts_us);
    storage::message_record m;
    if (!storage::decode_message(sm.value, m)) {
        out["error"] = "undecodable record";
        return out;
    }
    out["qos"] = m.qos;
    out["retain"] = m.retain;
    out["client_id"] = std::string(m.client_id);
    if (codec::is_valid_utf8(m.payload)) {
        out["payload"] = std::string(m.payload);
        out["encoding"] = "utf-8";
    } else {
        out["payload"] = storage::base64_encode(m.payload);
        out["encoding"] = "base64";
    }
    out["properties"] = properties_json(m);
    return out;
}

nlohmann::ordered_json topic_json(const storage::topic_entry& t) {
    nlohmann::ordered_json out;
    out["topic"] = t.name;
    out["count"] = t.stats.count;
    put_time(out, "first_ts", t.stats.first_us);
    put_time(out, "last_ts", t.stats.last_us);
    return out;
}

}  // namespace strata::http
