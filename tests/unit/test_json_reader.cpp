// json_reader: simdjson's parse, converted to what nlohmann::json::parse gives
// for the same payload, and the same verdict on what is JSON at all (the
// payloads simdjson refuses go through nlohmann::json itself).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "json_reader.hpp"

using strata::exporters::json_reader;
using nlohmann::json;

namespace {

// nlohmann::json's own answer, with its number types.
void check_same_as_nlohmann(json_reader& reader, const std::string& payload) {
    INFO(payload);
    const auto expected = json::parse(payload, nullptr, false);
    const auto got = reader.parse(payload);
    REQUIRE(got.has_value() == !expected.is_discarded());
    if (!got) return;
    CHECK(*got == expected);
    CHECK(got->dump() == expected.dump());  // equal as text too: same number types, same key order
}

}  // namespace

TEST_CASE("json_reader: parses what nlohmann::json parses, to the same values and types") {
    json_reader reader;
    const std::vector<std::string> payloads = {
        R"({"pub": 3, "n": 17, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})",
        R"({"a": -5, "b": 5, "c": 9223372036854775807, "d": 18446744073709551615, "e": -9223372036854775808})",
        R"({"f": 0.1, "g": 1e300, "h": -2.5e-7, "i": 1.0, "j": 0, "k": -0})",
        R"({"s": "ünïcode \u00e9 \ud83d\ude00 \"quoted\" \\ \/ \n\t", "empty": ""})",
        R"({"nested": {"list": [1, "a", null, true, false, {"x": [[]]}]}, "o": {}})",
        R"([1, 2, 3])", R"("bare")", "42", "-1", "3.25", "true", "null", " \n {\"ws\" : 1 } \t",
        "\xEF\xBB\xBF{\"bom\": 1}",                       // a byte-order mark: nlohmann::json skips it
        R"({"big": 123456789012345678901234567890})",       // beyond 64 bits: a double in nlohmann::json
        std::string(2000, '[') + std::string(2000, ']'),  // deeper than simdjson's 1024 levels
        R"({"dup": 1, "dup": 2})",                          // the last of a name twice
        "21.5 C", "{", R"({"a": 1,})", "[1 2]", "{'a': 1}", "NaN", "", "   ",
        "{\"bad\": \"\xC3\x28\"}",                         // invalid UTF-8 in a string
        std::string("{\"a\": 1}\0", 9),                 // a NUL after the value
    };
    for (const auto& p : payloads) check_same_as_nlohmann(reader, p);
}

TEST_CASE("json_reader: pick() takes only the listed top-level fields") {
    json_reader reader;
    const std::vector<std::string> names = {"value", "unit", "missing", "dup"};
    REQUIRE(reader.pick(R"({"value": 21.5, "unit": "C", "extra": {"x": 1}, "dup": 1, "dup": [2]})", names) ==
            json_reader::shape::object);
    const auto& v = reader.picked();
    REQUIRE(v.size() == 4);
    CHECK(*v[0] == json(21.5));
    CHECK(*v[1] == json("C"));
    CHECK_FALSE(v[2].has_value());
    CHECK(*v[3] == json::array({2}));

    CHECK(reader.pick("21.5 C", names) == json_reader::shape::not_json);
    CHECK(reader.pick("[1, 2]", names) == json_reader::shape::not_object);
    CHECK(reader.pick("42", names) == json_reader::shape::not_object);
    // Through nlohmann::json (a byte-order mark, a 100-bit integer): the same answers.
    REQUIRE(reader.pick("\xEF\xBB\xBF{\"value\": 123456789012345678901234567890}", names) ==
            json_reader::shape::object);
    CHECK(reader.picked()[0]->is_number_float());
    CHECK_FALSE(reader.picked()[1].has_value());
    // A non-negative integer is unsigned, as nlohmann::json has it.
    REQUIRE(reader.pick(R"({"value": 7})", names) == json_reader::shape::object);
    CHECK(reader.picked()[0]->is_number_unsigned());
}
