#include "json_reader.hpp"

// GCC 12 takes simdjson 3.0's result wrappers for dangling pointers (a false
// positive, fixed in later simdjson releases).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#include <simdjson.h>
#pragma GCC diagnostic pop

namespace strata::exporters {

namespace {

// nlohmann::json's types for what it would have parsed itself: it keeps a
// non-negative integer as unsigned.
// The element as a T; the caller checked its type, so the get() cannot fail.
template <class T>
T as(simdjson::dom::element e) {
    T value{};
    if (e.get(value) != simdjson::SUCCESS) return T{};
    return value;
}

nlohmann::json to_json(simdjson::dom::element e) {
    using type = simdjson::dom::element_type;
    switch (e.type()) {
        case type::OBJECT: {
            auto out = nlohmann::json::object();
            for (const auto field : as<simdjson::dom::object>(e)) out[std::string(field.key)] = to_json(field.value);
            return out;
        }
        case type::ARRAY: {
            auto out = nlohmann::json::array();
            for (const auto item : as<simdjson::dom::array>(e)) out.push_back(to_json(item));
            return out;
        }
        case type::STRING: return std::string(as<std::string_view>(e));
        case type::INT64: {
            const auto v = as<std::int64_t>(e);
            if (v >= 0) return static_cast<std::uint64_t>(v);
            return v;
        }
        case type::UINT64: return as<std::uint64_t>(e);
        case type::DOUBLE: return as<double>(e);
        case type::BOOL: return as<bool>(e);
        default: return nullptr;
    }
}

std::optional<nlohmann::json> parse_slowly(std::string_view payload) {
    auto parsed = nlohmann::json::parse(payload, nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
}

}  // namespace

json_reader::json_reader() : parser_(std::make_unique<simdjson::dom::parser>()) {}
json_reader::~json_reader() = default;

std::optional<nlohmann::json> json_reader::parse(std::string_view payload) {
    simdjson::dom::element root;
    if (parser_->parse(payload.data(), payload.size()).get(root) != simdjson::SUCCESS) return parse_slowly(payload);
    return to_json(root);
}

json_reader::shape json_reader::pick(std::string_view payload, std::span<const std::string> names) {
    auto& values = picked_;
    values.assign(names.size(), std::nullopt);
    simdjson::dom::element root;
    if (parser_->parse(payload.data(), payload.size()).get(root) == simdjson::SUCCESS) {
        simdjson::dom::object object;
        if (root.get(object) != simdjson::SUCCESS) return shape::not_object;
        for (const auto field : object) {
            for (std::size_t i = 0; i < names.size(); ++i) {
                if (field.key == names[i]) values[i] = to_json(field.value);
            }
        }
        return shape::object;
    }
    auto parsed = parse_slowly(payload);
    if (!parsed) return shape::not_json;
    if (!parsed->is_object()) return shape::not_object;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (const auto it = parsed->find(names[i]); it != parsed->end()) values[i] = std::move(*it);
    }
    return shape::object;
}

}  // namespace strata::exporters
