#include "mongodb_mapping.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace strata::exporters {

namespace {

// Metadata fields, in document order.
constexpr std::string_view fixed_fields[] = {"_id", "ts", "ts_us", "topic", "client_id", "qos", "retain"};

// Room left in an error document for everything but the payload.
constexpr std::size_t error_document_overhead = 64 * 1024;

int key_length(std::string_view key) { return static_cast<int>(key.size()); }

// Why MongoDB would refuse `key` as a field name; empty when it takes it.
std::string check_key(std::string_view key) {
    if (key.empty()) return "an empty field name";
    if (key.find('\0') != std::string_view::npos) return "field name with a NUL character";
    if (key.front() == '$') return "field name '" + std::string(key) + "' starts with '$'";
    if (key.find('.') != std::string_view::npos) return "field name '" + std::string(key) + "' contains '.'";
    return {};
}

bool append_string(bson_t* doc, std::string_view key, std::string_view value) {
    return bson_append_utf8(doc, key.data(), key_length(key), value.data(), static_cast<int>(value.size()));
}

// Appends a JSON value under `key` with its JSON type. False with `problem`
// for what a document cannot hold.
bool append_json(bson_t* doc, std::string_view key, const nlohmann::json& value, std::string& problem) {
    const char* k = key.data();
    const int kl = key_length(key);
    switch (value.type()) {
        case nlohmann::json::value_t::null: return bson_append_null(doc, k, kl);
        case nlohmann::json::value_t::boolean: return bson_append_bool(doc, k, kl, value.get<bool>());
        case nlohmann::json::value_t::number_integer: {
            const auto v = value.get<std::int64_t>();
            if (v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max()) {
                return bson_append_int32(doc, k, kl, static_cast<std::int32_t>(v));
            }
            return bson_append_int64(doc, k, kl, v);
        }
        case nlohmann::json::value_t::number_unsigned: {
            const auto v = value.get<std::uint64_t>();
            if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
                return bson_append_int32(doc, k, kl, static_cast<std::int32_t>(v));
            }
            if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return bson_append_int64(doc, k, kl, static_cast<std::int64_t>(v));
            }
            return bson_append_double(doc, k, kl, static_cast<double>(v));  // beyond int64: as JSON readers do
        }
        case nlohmann::json::value_t::number_float: return bson_append_double(doc, k, kl, value.get<double>());
        case nlohmann::json::value_t::string: {
            const auto& s = value.get_ref<const std::string&>();  // UTF-8: checked by the JSON parser
            return bson_append_utf8(doc, k, kl, s.data(), static_cast<int>(s.size()));
        }
        case nlohmann::json::value_t::object: {
            bson_t child;
            if (!bson_append_document_begin(doc, k, kl, &child)) return false;
            for (const auto& [name, v] : value.items()) {
                if (auto why = check_key(name); !why.empty()) {
                    problem = std::move(why);
                    bson_append_document_end(doc, &child);
                    return false;
                }
                if (!append_json(&child, name, v, problem)) {
                    bson_append_document_end(doc, &child);
                    return false;
                }
            }
            return bson_append_document_end(doc, &child);
        }
        case nlohmann::json::value_t::array: {
            bson_t child;
            if (!bson_append_array_begin(doc, k, kl, &child)) return false;
            std::uint32_t i = 0;
            for (const auto& v : value) {
                char buf[16];
                const char* index_key = nullptr;
                const auto n = bson_uint32_to_string(i++, &index_key, buf, sizeof buf);
                if (!append_json(&child, std::string_view(index_key, n), v, problem)) {
                    bson_append_array_end(doc, &child);
                    return false;
                }
            }
            return bson_append_array_end(doc, &child);
        }
        case nlohmann::json::value_t::binary: {
            const auto& b = value.get_binary();
            return bson_append_binary(doc, k, kl, BSON_SUBTYPE_BINARY, b.data(), static_cast<std::uint32_t>(b.size()));
        }
        default: problem = "a JSON value BSON cannot hold"; return false;
    }
}

// The names already in a document: a later capture or field with one of them
// gets '_' in front until it is free.
class names {
public:
    names() {
        for (auto f : fixed_fields) taken_.emplace_back(f);
    }
    std::string claim(std::string_view wanted) {
        std::string name(wanted);
        while (std::find(taken_.begin(), taken_.end(), name) != taken_.end()) name.insert(name.begin(), '_');
        taken_.push_back(name);
        return name;
    }

private:
    std::vector<std::string> taken_;
};

bool append_metadata(bson_t* doc, const export_row& row) {
    const std::string id = row.unique_id();
    return append_string(doc, "_id", id) &&
           bson_append_date_time(doc, "ts", 2, static_cast<std::int64_t>(row.key.ts_us / 1000)) &&
           bson_append_int64(doc, "ts_us", 5, static_cast<std::int64_t>(row.key.ts_us)) &&
           append_string(doc, "topic", row.topic) && append_string(doc, "client_id", row.client_id) &&
           bson_append_int32(doc, "qos", 3, row.qos) && bson_append_bool(doc, "retain", 6, row.retain);
}

}  // namespace

bson_ptr mongodb_document(const export_row& row, std::string& problem) {
    bson_ptr doc(bson_new());
    auto fail = [&](std::string why) {
        problem = why.empty() ? "the document cannot be built" : std::move(why);
        return nullptr;
    };
    if (!append_metadata(doc.get(), row)) return fail({});
    names used;
    for (const auto& [name, value] : row.captures) {
        if (!append_string(doc.get(), used.claim(name), value)) return fail({});
    }
    const auto& route = *row.route;
    if (route.payload == "json") {
        if (!row.fields.is_object()) return fail("payload is not a JSON object");
        for (const auto& [name, value] : row.fields.items()) {
            if (auto why = check_key(name); !why.empty()) return fail(std::move(why));
            if (!append_json(doc.get(), used.claim(name), value, problem)) return fail(std::move(problem));
        }
    } else if (route.payload == "text") {
        if (!bson_utf8_validate(row.payload.data(), row.payload.size(), false)) {
            return fail("payload is not UTF-8 text");
        }
        if (!append_string(doc.get(), used.claim("payload"), row.payload)) return fail({});
    } else {
        const auto key = used.claim("payload");
        if (!bson_append_binary(doc.get(), key.data(), key_length(key), BSON_SUBTYPE_BINARY,
                                reinterpret_cast<const std::uint8_t*>(row.payload.data()),
                                static_cast<std::uint32_t>(row.payload.size()))) {
            return fail({});
        }
    }
    if (doc->len > mongodb_max_document) {
        return fail("document of " + std::to_string(doc->len) + " bytes exceeds MongoDB's 16 MiB");
    }
    return doc;
}

bson_ptr mongodb_error_document(const export_row& row, const std::string& reason) {
    bson_ptr doc(bson_new());
    append_metadata(doc.get(), row);
    append_string(doc.get(), "reason", reason);
    std::string_view payload = row.payload;
    std::string dumped;
    if (payload.empty() && !row.fields.is_null()) {
        // A row that mapped but could not be stored: its JSON stands in for the payload.
        dumped = row.fields.dump();
        payload = dumped;
    }
    const std::size_t room = mongodb_max_document - error_document_overhead;
    const bool cut = payload.size() > room;
    bson_append_binary(doc.get(), "payload", 7, BSON_SUBTYPE_BINARY,
                       reinterpret_cast<const std::uint8_t*>(payload.data()),
                       static_cast<std::uint32_t>(cut ? room : payload.size()));
    if (cut) bson_append_int64(doc.get(), "payload_size", 12, static_cast<std::int64_t>(payload.size()));
    return doc;
}

std::string mongodb_json(const bson_t& doc) {
    std::size_t n = 0;
    char* text = bson_as_relaxed_extended_json(&doc, &n);
    if (!text) return {};
    std::string out(text, n);
    bson_free(text);
    return out;
}

}  // namespace strata::exporters
