// The MongoDB exporter's documents (mongodb_mapping.hpp): metadata, captures,
// typed fields, text and bytes payloads, name clashes, the rows MongoDB would
// refuse; and what the replies of failed inserts mean (mongodb_reply.hpp). The
// sink itself is tested end to end against FerretDB
// (tests/e2e/test_exporters_mongodb.py).
#include <doctest/doctest.h>

#include "mongodb_mapping.hpp"
#include "mongodb_reply.hpp"
#include "route.hpp"
#include "sinks.hpp"

namespace cfg = strata::config;
using namespace strata::exporters;
using nlohmann::json;

namespace {

export_row map_row(const cfg::export_route_config& rc, std::string topic, std::string payload) {
    route r(rc);
    export_row row;
    row.key = {7, 1'796'005'316'171'563ull, 42};
    row.topic = std::move(topic);
    row.client_id = "pub-1";
    row.qos = 1;
    row.retain = true;
    REQUIRE(r.matches(row.topic));
    r.map(payload, row);
    return row;
}

// The document of a row, as JSON (relaxed Extended JSON parsed back).
json document(const export_row& row, std::string* problem = nullptr) {
    std::string why;
    auto doc = mongodb_document(row, why);
    if (problem) *problem = why;
    if (!doc) return nullptr;
    return json::parse(mongodb_json(*doc));
}

}  // namespace

TEST_CASE("exporters: MongoDB documents") {
    cfg::export_route_config fields;
    fields.filter = "sensors/+room/+kind";
    fields.target = "readings";
    fields.all_fields = false;
    fields.fields = {"value", "unit", "raw"};
    fields.field_names = fields.fields;
    fields.field_types = {"number", "text", "json"};
    const auto d = document(map_row(fields, "sensors/r1/temp", R"({"value": 21, "unit": "C", "raw": {"a": [1, 2.5]},
                                                                    "extra": true})"));
    CHECK(d["_id"] == "7-1796005316171563-42");
    CHECK(d["ts"] == json{{"$date", "2026-11-30T02:21:56.171Z"}});  // a BSON date, in ms
    CHECK(d["ts_us"] == 1'796'005'316'171'563ll);
    CHECK(d["topic"] == "sensors/r1/temp");
    CHECK(d["client_id"] == "pub-1");
    CHECK(d["qos"] == 1);
    CHECK(d["retain"] == true);
    CHECK(d["room"] == "r1");
    CHECK(d["kind"] == "temp");
    CHECK(d["value"].is_number_integer());  // numbers keep their JSON type
    CHECK(d["value"] == 21);
    CHECK(d["unit"] == "C");
    CHECK(d["raw"] == json{{"a", {1, 2.5}}});
    CHECK_FALSE(d.contains("extra"));  // not among the route's fields
    // Document order: metadata, captures, fields (in the JSON's order of names).
    std::string why;
    const auto ordered = nlohmann::ordered_json::parse(
        mongodb_json(*mongodb_document(map_row(fields, "sensors/r1/temp", R"({"value": 1, "unit": "C", "raw": 0})"),
                                       why)));
    std::vector<std::string> keys;
    for (const auto& [k, v] : ordered.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"_id", "ts", "ts_us", "topic", "client_id", "qos", "retain", "room", "kind",
                                           "raw", "unit", "value"});

    cfg::export_route_config all;
    all.filter = "docs/+ts";
    all.target = "docs";
    // A payload's own ts (and a capture named ts) do not overwrite the metadata.
    const auto clash = document(map_row(all, "docs/x", R"({"ts": 5, "_id": "mine", "big": 9007199254740993,
                                                           "f": 0.5, "n": null, "s": "ünï"})"));
    CHECK(clash["ts"] == json{{"$date", "2026-11-30T02:21:56.171Z"}});
    CHECK(clash["_ts"] == "x");   // the capture came first
    CHECK(clash["__ts"] == 5);    // then the field
    CHECK(clash["_id"] == "7-1796005316171563-42");
    CHECK(clash["__id"] == "mine");
    CHECK(clash["big"] == 9007199254740993ll);  // int64, not rounded through a double
    CHECK(clash["f"] == 0.5);
    CHECK(clash["n"].is_null());
    CHECK(clash["s"] == "ünï");
    CHECK(document(map_row(all, "docs/y", "42"))["value"] == 42);  // a bare value, kept under "value"

    // Field names MongoDB refuses make the row a misfit, with the reason.
    std::string problem;
    CHECK(document(map_row(all, "docs/x", R"({"$set": 1})"), &problem).is_null());
    CHECK(problem == "field name '$set' starts with '$'");
    CHECK(document(map_row(all, "docs/x", R"({"a": {"b.c": 1}})"), &problem).is_null());
    CHECK(problem == "field name 'b.c' contains '.'");

    cfg::export_route_config text = all;
    text.filter = "logs/#";
    text.payload = "text";
    CHECK(document(map_row(text, "logs/a", "plain ünïcode"))["payload"] == "plain ünïcode");
    CHECK(document(map_row(text, "logs/a", std::string("\xff\xfe", 2)), &problem).is_null());
    CHECK(problem == "payload is not UTF-8 text");

    cfg::export_route_config bytes = text;
    bytes.payload = "bytes";
    const auto b = document(map_row(bytes, "logs/a", std::string("\0\x01\xff", 3)));
    CHECK(b["payload"] == json{{"$binary", {{"base64", "AAH/"}, {"subType", "00"}}}});
}

TEST_CASE("exporters: MongoDB error documents") {
    cfg::export_route_config fields;
    fields.filter = "sensors/+room/+kind";
    fields.target = "readings";
    fields.all_fields = false;
    fields.fields = {"value"};
    fields.field_names = fields.fields;
    fields.field_types = {"number"};
    const auto row = map_row(fields, "sensors/r1/temp", "21.5 C");
    REQUIRE(row.error == "payload is not JSON");
    const auto e = json::parse(mongodb_json(*mongodb_error_document(row, row.error)));
    CHECK(e["_id"] == "7-1796005316171563-42");
    CHECK(e["topic"] == "sensors/r1/temp");
    CHECK(e["reason"] == "payload is not JSON");
    CHECK(e["payload"] == json{{"$binary", {{"base64", "MjEuNSBD"}, {"subType", "00"}}}});  // "21.5 C"
    CHECK_FALSE(e.contains("payload_size"));

    // A payload too large for a document is cut, and its size kept.
    cfg::export_route_config bytes;
    bytes.filter = "#";
    bytes.target = "blobs";
    bytes.payload = "bytes";
    const auto big = map_row(bytes, "a", std::string(mongodb_max_document + 10, 'x'));
    std::string problem;
    CHECK(mongodb_document(big, problem) == nullptr);
    CHECK(problem.find("exceeds MongoDB's 16 MiB") != std::string::npos);
    auto doc = mongodb_error_document(big, problem);
    CHECK(doc->len <= mongodb_max_document);
    const auto cut = json::parse(mongodb_json(*doc));
    CHECK(cut["payload_size"] == mongodb_max_document + 10);
}

TEST_CASE("exporters: MongoDB insert replies") {
    bson_error_t error{};
    bson_set_error(&error, 18, 11000, "E11000 duplicate key error");  // MONGOC_ERROR_SERVER (v2)
    auto reply = [](const char* json_text) {
        bson_error_t e;
        bson_ptr b(bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json_text), -1, &e));
        REQUIRE(b);
        return b;
    };

    SUBCASE("a replayed batch: duplicates only, success") {
        const auto r = reply(R"({"insertedCount": 1, "writeErrors": [
            {"index": 0, "code": 11000, "errmsg": "dup"}, {"index": 2, "code": 11000, "errmsg": "dup"}]})");
        const auto out = read_insert_failure(*r, error, 3);
        CHECK(out.retry.empty());
        CHECK(out.duplicates == 2);
        CHECK(out.refused.empty());
        // Which ones: the sink looks their _ids up (a duplicate on another unique index is a refusal).
        REQUIRE(out.duplicate_at.size() == 2);
        CHECK(out.duplicate_at[1] == std::pair<std::size_t, std::string>{2, "dup (code 11000)"});
    }
    SUBCASE("a write error of a code not known to pass refuses the document, not the batch") {
        const auto r = reply(R"({"insertedCount": 2, "writeErrors": [
            {"index": 1, "code": 4242, "errmsg": "a new refusal"}]})");
        const auto out = read_insert_failure(*r, error, 3);
        CHECK(out.retry.empty());
        REQUIRE(out.refused.size() == 1);
        CHECK(out.refused[0].second == "a new refusal (code 4242)");
    }
    SUBCASE("a document refused for good: to the error collection, with the reason") {
        const auto r = reply(R"({"insertedCount": 1, "writeErrors": [
            {"index": 1, "code": 2, "errmsg": "nested arrays are not supported"},
            {"index": 2, "code": 11000, "errmsg": "dup"}]})");
        const auto out = read_insert_failure(*r, error, 3);
        CHECK(out.retry.empty());
        REQUIRE(out.refused.size() == 1);
        CHECK(out.refused[0].first == 1);
        CHECK(out.refused[0].second == "nested arrays are not supported (code 2)");
    }
    SUBCASE("any other write error retries the batch") {
        const auto r = reply(R"({"insertedCount": 0, "writeErrors": [
            {"index": 0, "code": 91, "errmsg": "shutdown in progress"}]})");
        CHECK(read_insert_failure(*r, error, 1).retry == "shutdown in progress (code 91)");
    }
    SUBCASE("no write errors: the whole command failed (network, login)") {
        bson_error_t net{};
        bson_set_error(&net, 2, 1, "No suitable servers found");
        CHECK(read_insert_failure(*reply("{}"), net, 5).retry == "No suitable servers found");
    }
    SUBCASE("a reply that does not account for every document retries") {
        const auto r = reply(R"({"insertedCount": 1, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "dup"}]})");
        CHECK_FALSE(read_insert_failure(*r, error, 5).retry.empty());
    }
    SUBCASE("a write concern error retries") {
        const auto r = reply(R"({"insertedCount": 3, "writeErrors": [],
                                 "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication timed out"}]})");
        CHECK(read_insert_failure(*r, error, 3).retry.starts_with("write concern"));
    }
    CHECK(mongodb_refuses_document(57));
    CHECK(mongodb_refuses_document(4242));
    CHECK_FALSE(mongodb_refuses_document(11000));
    CHECK_FALSE(mongodb_refuses_document(6));    // HostUnreachable: transient
    CHECK_FALSE(mongodb_refuses_document(112));  // WriteConflict: transient
}

TEST_CASE("exporters: MongoDB exporter_url") {
    cfg::exporter_config c;
    c.name = "docs";
    c.kind = "mongodb";
    c.defined_at = "strata.conf:7";
    auto make = [&](std::string url, std::string password = {}) {
        c.url = std::move(url);
        std::string error;
        auto s = make_sink(c, password, error);  // checks the URL, connects only at the first write
        CHECK((s == nullptr) == !error.empty());
        return error;
    };
    CHECK(make("mongodb://127.0.0.1/iot").empty());
    CHECK(make("mongodb://strata@[::1]:27018/iot?authSource=admin&tls=false", "pw").empty());
    CHECK(make("mongodb://127.0.0.1").find("strata.conf:7: exporter docs: exporter_url must be mongodb://") == 0);
    CHECK_FALSE(make("mongodb://127.0.0.1/?authSource=admin").empty());     // no database
    CHECK_FALSE(make("mongodb://strata:secret@127.0.0.1/iot").empty());     // a password in the URL
    CHECK_FALSE(make("mysql://127.0.0.1/iot").empty());
    CHECK(make("mongodb://127.0.0.1/iot", "pw").find("a password is set but exporter_url names no user") !=
          std::string::npos);
}
