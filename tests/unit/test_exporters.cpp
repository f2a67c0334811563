// Exporter configuration, routes (captures, fields, types, misfits) and the
// SQL mapping shared by the SQL sinks, the Kafka record mapping. The sinks themselves are tested
// end to end against real databases (tests/e2e/test_exporters_*.py).
#include <doctest/doctest.h>

#include "config/config_parser.hpp"
#include "kafka_record.hpp"
#include "route.hpp"
#include "sinks.hpp"
#include "sql_mapping.hpp"

namespace cfg = strata::config;
using namespace strata::exporters;

namespace {

cfg::broker_config parse(const std::string& text) {
    auto r = cfg::load_text(text, "t.conf");
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    INFO(all);
    REQUIRE(r.config.has_value());
    return *r.config;
}

std::string error(const std::string& text) {
    auto r = cfg::load_text(text, "t.conf");
    REQUIRE_FALSE(r.config.has_value());
    return r.errors.front().to_string();
}

export_row map(const cfg::export_route_config& rc, std::string topic, std::string payload) {
    route r(rc);
    export_row row;
    row.topic = std::move(topic);
    REQUIRE(r.matches(row.topic));
    r.map(payload, row);
    return row;
}

}  // namespace

TEST_CASE("exporters: configuration blocks") {
    const auto c = parse(
        "exporter db mysql\nexporter_url mysql://strata@127.0.0.1:3306/iot\nexporter_password_env DB_PW\n"
        "exporter_route sensors/+room/+kind readings fields=value,unit:text,raw:json\n"
        "exporter_route logs/# logs payload=text\nexporter_batch_size 500\nexporter_batch_time 50\n"
        "exporter_retry_min 100\nexporter_retry_max 2000\nexporter_start newest\nexporter_option tls off\n"
        "exporter q kafka\nexporter_url 127.0.0.1:9092\nexporter_route # mqtt key=client_id\n");
    REQUIRE(c.exporters.size() == 2);
    const auto& e = c.exporters[0];
    CHECK(e.name == "db");
    CHECK(e.kind == "mariadb");  // mysql is the same exporter
    CHECK(e.password_env == "DB_PW");
    REQUIRE(e.routes.size() == 2);
    CHECK(e.routes[0].filter == "sensors/+room/+kind");
    CHECK(e.routes[0].fields == std::vector<std::string>{"value", "unit", "raw"});
    CHECK(e.routes[0].field_types == std::vector<std::string>{"number", "text", "json"});
    CHECK_FALSE(e.routes[0].all_fields);
    CHECK(e.routes[1].payload == "text");
    CHECK(e.batch_size == 500);
    CHECK(e.batch_time_ms == 50);
    CHECK(e.retry_min_ms == 100);
    CHECK(e.retry_max_ms == 2000);
    CHECK(e.start_at_end);
    CHECK(e.options == std::vector<std::pair<std::string, std::string>>{{"tls", "off"}});
    CHECK(c.exporters[1].routes[0].filter == "#");  // '#' is a filter here, not a comment
    CHECK(c.exporters[1].routes[0].key == "client_id");

    CHECK(error("exporter_url x\n") == "t.conf:1: exporter_url: must come after an 'exporter NAME KIND' line");
    CHECK(error("exporter db oracle\n").starts_with("t.conf:1: exporter: unknown exporter kind 'oracle'"));
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t\nexporter a sqlite\n") ==
          "t.conf:4: exporter: exporter 'a' is already defined at t.conf:1");
    CHECK(error("exporter a sqlite\nexporter_route # t\n") == "t.conf:1: exporter 'a' needs exporter_url");
    CHECK(error("exporter a sqlite\nexporter_url x\n") == "t.conf:1: exporter 'a' needs at least one exporter_route");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route a/+b/+b t\n") ==
          "t.conf:3: exporter_route: capture name 'b' used twice");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route a/#/b t\n") ==
          "t.conf:3: exporter_route: invalid topic filter 'a/#/b'");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t fields=a:date\n") ==
          "t.conf:3: exporter_route: field type 'date' must be number, text or json");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t colour=red\n")
              .starts_with("t.conf:3: exporter_route: unknown route option 'colour=red'"));
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t fields=value,seq\n")
              .starts_with("t.conf:3: exporter_route: field 'seq' is a column every row has"));
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # readings_errors\n") ==
          "t.conf:3: exporter_route: target 'readings_errors' ends in _errors, which names the misfits of target "
          "'readings'; choose another name");
    CHECK(error("exporter k kafka\nexporter_url 127.0.0.1:9092\nexporter_route # mqtt_errors\n")
              .starts_with("t.conf:3: exporter_route: target 'mqtt_errors' ends in _errors"));
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t fields=a>ts\n")
              .starts_with("t.conf:3: exporter_route: field 'ts' is a column every row has"));
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t fields=a,b>a\n") ==
          "t.conf:3: exporter_route: name 'a' is given twice (fields and +levels of a route each need a name of "
          "their own)");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route +room/# t fields=room\n")
              .starts_with("t.conf:3: exporter_route: name 'room' is given twice"));
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t fields=a>b/c\n") ==
          "t.conf:3: exporter_route: name 'b/c' must be letters, digits, _ or -");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route +topic/# t\n") ==
          "t.conf:3: exporter_route: capture name 'topic' is a column every row has; choose another");
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # t key=client_id\n") ==
          "t.conf:1: exporter 'a': key= is for kafka routes");
}

TEST_CASE("exporters: exporter_option is checked by the exporter's kind") {
    const auto sink_error = [](const std::string& text) {
        const auto c = parse(text);
        std::string why;
        const bool made = make_sink(c.exporters.at(0), "", why) != nullptr;
        return made ? std::string("made") : why;
    };
    const std::string sqlite = "exporter a sqlite\nexporter_url /nonexistent/x.db\nexporter_route # t\n";
    const std::string mariadb = "exporter m mariadb\nexporter_url mysql://u@127.0.0.1:1/db\nexporter_route # t\n";
    CHECK(sink_error(sqlite) == "made");
    CHECK(sink_error(sqlite + "exporter_option journal off\n") ==
          "t.conf:1: exporter a: a sqlite exporter has no exporter_option, got 'journal off'");
    CHECK(sink_error(mariadb + "exporter_option bulk off\n") == "made");  // connects only when it writes
    CHECK(sink_error(mariadb + "exporter_option bulk maybe\n") ==
          "t.conf:1: exporter m: unknown mariadb option 'bulk maybe' (bulk on|off)");
}

TEST_CASE("exporters: fields=FIELD:TYPE>NAME maps a payload field to another name") {
    const auto c = parse("exporter a sqlite\nexporter_url x\n"
                         "exporter_route +room/# readings fields=ts:text>device_time,seq>device_seq,room>room_\n");
    const auto& rc = c.exporters[0].routes[0];
    CHECK(rc.fields == std::vector<std::string>{"ts", "seq", "room"});
    CHECK(rc.field_types == std::vector<std::string>{"text", "number", "number"});
    CHECK(rc.field_names == std::vector<std::string>{"device_time", "device_seq", "room_"});
    const auto row = map(rc, "kitchen/temp", R"({"ts": "2026-11-30T07:00:00Z", "seq": 7, "room": 3})");
    REQUIRE(row.error.empty());
    CHECK(row.fields == nlohmann::json::parse(R"({"device_time": "2026-11-30T07:00:00Z", "device_seq": 7,
                                                  "room_": 3})"));
    const auto columns = route_columns(rc);
    REQUIRE(columns.size() == 4);
    CHECK(columns[0].name == "room");  // the captured level
    CHECK(columns[1].name == "device_time");
    CHECK(*column_value(row, columns[1]) == "2026-11-30T07:00:00Z");
    CHECK(*column_value(row, columns[2]) == "7");
    // A missing field is reported by its name in the payload.
    CHECK(map(rc, "kitchen/temp", R"({"ts": "x", "room": 1})").error == "field 'seq' missing");
}

TEST_CASE("exporters: routes capture levels and map payloads") {
    cfg::export_route_config fields;
    fields.filter = "sensors/+room/+kind";
    fields.target = "readings";
    fields.all_fields = false;
    fields.fields = {"value", "unit"};
    fields.field_names = fields.fields;
    fields.field_types = {"number", "text"};
    auto row = map(fields, "sensors/r1/temp", R"({"value": 21.5, "unit": "C", "extra": true})");
    CHECK(row.error.empty());
    CHECK(row.captures == std::vector<std::pair<std::string, std::string>>{{"room", "r1"}, {"kind", "temp"}});
    CHECK(row.fields == nlohmann::json{{"value", 21.5}, {"unit", "C"}});

    CHECK(map(fields, "sensors/r1/temp", "21.5 C").error == "payload is not JSON");
    CHECK(map(fields, "sensors/r1/temp", R"({"unit": "C"})").error == "field 'value' missing");
    CHECK(map(fields, "sensors/r1/temp", R"({"value": "hot", "unit": "C"})").error == "field 'value' is not a number");
    CHECK(map(fields, "sensors/r1/temp", R"({"value": 1, "unit": 3})").error == "field 'unit' is not a string");
    CHECK(map(fields, "sensors/r1/temp", "[1,2]").error == "payload is JSON but not an object with fields");
    // The raw payload stays with a misfit, for the error table.
    CHECK(map(fields, "sensors/r1/temp", "21.5 C").payload == "21.5 C");

    cfg::export_route_config all;
    all.filter = "#";
    all.target = "t";
    CHECK(map(all, "a/b", R"({"x": [1, 2]})").fields == nlohmann::json{{"x", {1, 2}}});
    CHECK(map(all, "a/b", "42").fields == nlohmann::json{{"value", 42}});  // a bare value is kept under "value"
    cfg::export_route_config text = all;
    text.payload = "text";
    const auto t = map(text, "a/b", "not json at all");
    CHECK(t.error.empty());
    CHECK(t.payload == "not json at all");
    CHECK(t.fields.is_null());
    // Text that is not UTF-8 is a misfit, kept as it came: a database would refuse it.
    const auto latin1 = map(text, "a/b", "caf\xE9");
    CHECK(latin1.error == "payload is not UTF-8 text");
    CHECK(latin1.payload == "caf\xE9");
    cfg::export_route_config bytes = all;
    bytes.payload = "bytes";
    CHECK(map(bytes, "a/b", "caf\xE9").error.empty());

    route_table table({fields, all});
    CHECK(table.find("sensors/r1/temp")->config().target == "readings");
    CHECK(table.find("sensors/r1")->config().target == "t");  // first match wins, in order
}

TEST_CASE("exporters: SQL columns and values") {
    cfg::export_route_config rc;
    rc.filter = "sensors/+room/x/+kind";
    rc.target = "readings";
    rc.all_fields = false;
    rc.fields = {"value", "unit", "raw"};
    rc.field_names = rc.fields;
    rc.field_types = {"number", "text", "json"};
    const auto columns = route_columns(rc);
    REQUIRE(columns.size() == 5);
    CHECK(columns[0].name == "room");
    CHECK(columns[1].name == "kind");
    CHECK(columns[2].type == sql_type::number);
    CHECK(columns[3].type == sql_type::text);
    CHECK(columns[4].type == sql_type::json);
    auto row = map(rc, "sensors/r7/x/temp", R"({"value": true, "unit": "C", "raw": {"a": [1]}})");
    CHECK(column_value(row, columns[0]) == "r7");
    CHECK(column_value(row, columns[2]) == "1");  // booleans as 1/0
    CHECK(column_value(row, columns[3]) == "C");
    CHECK(column_value(row, columns[4]) == R"({"a":[1]})");

    cfg::export_route_config whole;
    whole.filter = "#";
    whole.target = "t";
    const auto wc = route_columns(whole);
    REQUIRE(wc.size() == 1);
    CHECK(wc[0].name == "payload");
    CHECK(wc[0].type == sql_type::json);
    CHECK(column_value(map(whole, "a", R"({"k":"v"})"), wc[0]) == R"({"k":"v"})");
    whole.payload = "bytes";
    CHECK(route_columns(whole)[0].type == sql_type::bytes);

    CHECK(quote_identifier("a\"b") == "\"a\"\"b\"");
    CHECK(quote_identifier("t", '`') == "`t`");
    CHECK(iso_time(1'796'005'316'171'563ull) == "2026-11-30T02:21:56.171563Z");
}

TEST_CASE("exporters: kafka routes, topics and keys") {
    const std::string head = "exporter k kafka\nexporter_url 127.0.0.1:9092\n";
    const auto c = parse(head + "exporter_route sensors/+room/+kind iot.readings-v1_x key=room\n"
                                "exporter_route # all key=client_id\n");
    CHECK(c.exporters[0].routes[0].target == "iot.readings-v1_x");
    CHECK(c.exporters[0].routes[0].key == "room");
    CHECK(parse(head + "exporter_route # " + std::string(242, 't') + "\n").exporters[0].routes[0].target.size() == 242);

    const std::string bad_topic = "exporter_route: Kafka topic '";
    CHECK(error(head + "exporter_route # a/b\n").starts_with("t.conf:3: " + bad_topic + "a/b' must be"));
    CHECK(error(head + "exporter_route # ..\n").starts_with("t.conf:3: " + bad_topic + "..'"));
    CHECK(error(head + "exporter_route # .\n").starts_with("t.conf:3: " + bad_topic + ".'"));
    CHECK(error(head + "exporter_route # t\xc3\xa9\n").starts_with("t.conf:3: " + bad_topic));
    CHECK(error(head + "exporter_route # " + std::string(243, 't') + "\n").starts_with("t.conf:3: " + bad_topic));
    // Other kinds keep their stricter names (tables, collections, labels).
    CHECK(error("exporter a sqlite\nexporter_url x\nexporter_route # a.b\n") ==
          "t.conf:3: exporter_route: target 'a.b' must be letters, digits, _ or -");
    // key= names a captured level or client_id.
    CHECK(error(head + "exporter_route sensors/+room t key=kind\n") ==
          "t.conf:3: exporter_route: key=kind: not client_id nor a +kind level of 'sensors/+room'");
}

TEST_CASE("exporters: kafka bootstrap servers") {
    CHECK(parse_kafka_bootstrap("127.0.0.1:9092") == "127.0.0.1:9092");
    CHECK(parse_kafka_bootstrap("k1:9093, k2 ,[::1]:9094,[fe80::1]") == "k1:9093,k2:9092,[::1]:9094,[fe80::1]:9092");
    CHECK_FALSE(parse_kafka_bootstrap(""));
    CHECK_FALSE(parse_kafka_bootstrap("kafka://k1:9092"));
    CHECK_FALSE(parse_kafka_bootstrap("k1:9092,"));
    CHECK_FALSE(parse_kafka_bootstrap("k1:"));
    CHECK_FALSE(parse_kafka_bootstrap("k1:0"));
    CHECK_FALSE(parse_kafka_bootstrap("k1:70000"));
    CHECK_FALSE(parse_kafka_bootstrap("::1:9092"));
    CHECK_FALSE(parse_kafka_bootstrap("user@k1:9092"));
}

TEST_CASE("exporters: kafka records") {
    cfg::export_route_config rc;
    rc.filter = "sensors/+room/+kind";
    rc.target = "readings";
    rc.all_fields = false;
    rc.fields = {"value"};
    rc.field_names = rc.fields;
    rc.field_types = {"number"};
    rc.key = "room";
    auto row = map(rc, "sensors/r1/temp", R"({"value": 21.5, "unit": "C"})");
    row.key = {7, 1767225600123456, 3};
    row.client_id = "dev-1";
    row.qos = 1;
    row.retain = true;
    auto r = make_kafka_record(row);
    CHECK(r.topic == "readings");
    CHECK(r.key == std::optional<std::string>("r1"));
    CHECK(r.value == R"({"value":21.5})");
    CHECK(r.timestamp_ms == 1767225600123);
    CHECK(r.headers == std::vector<std::pair<std::string, std::string>>{
                           {"strata.id", "7-1767225600123456-3"}, {"strata.ts_us", "1767225600123456"},
                           {"mqtt.topic", "sensors/r1/temp"},    {"mqtt.client_id", "dev-1"},
                           {"mqtt.qos", "1"},                     {"mqtt.retain", "true"},
                           {"capture.room", "r1"},                {"capture.kind", "temp"}});

    // A misfit: the dead-letter topic, the raw payload, the reason.
    auto bad = map(rc, "sensors/r2/temp", "21.5 C");
    bad.key = {7, 1767225600200000, 0};
    r = make_kafka_record(bad);
    CHECK(r.topic == "readings_errors");
    CHECK(r.key == std::optional<std::string>("r2"));
    CHECK(r.value == "21.5 C");
    CHECK(r.headers.back() == std::pair<std::string, std::string>{"reason", "payload is not JSON"});

    cfg::export_route_config raw;
    raw.filter = "raw/#";
    raw.target = "blobs";
    raw.payload = "bytes";
    auto blob = map(raw, "raw/x", std::string("\0\xff", 2));
    blob.client_id = "c";
    r = make_kafka_record(blob);
    CHECK_FALSE(r.key);  // no key=: no key
    CHECK(r.value == std::string("\0\xff", 2));
    raw.key = "client_id";
    blob.route = &raw;
    CHECK(make_kafka_record(blob).key == std::optional<std::string>("c"));
}

TEST_CASE("exporters: kafka options and librdkafka properties") {
    // Checked when the sink is made (at start-up), before any connection.
    const std::string head = "exporter k kafka\nexporter_url 127.0.0.1:9092\nexporter_route # t\n";
    auto sink_error = [&](const std::string& options) {
        const auto c = parse(head + options);
        std::string error;
        auto s = make_sink(c.exporters[0], "", error);
        CHECK((s == nullptr) == !error.empty());
        return error;
    };
    CHECK(sink_error("") == "");
    CHECK(sink_error("exporter_option partitions 6\nexporter_option linger 0\nexporter_option compression zstd\n"
                     "exporter_option rdkafka.queue.buffering.max.messages 5000\n") == "");
    CHECK(sink_error("exporter_option rdkafka.no.such.property 1\n")
              .find("librdkafka refuses no.such.property=1") != std::string::npos);
    CHECK(sink_error("exporter_option rdkafka.acks lots\n").find("librdkafka refuses acks=lots") != std::string::npos);
    CHECK(sink_error("exporter_option partitions 0\n").find("not a kafka option") != std::string::npos);
    CHECK(sink_error("exporter_option compression brotli\n").find("not a kafka option") != std::string::npos);
    const auto c = parse("exporter k kafka\nexporter_url kafka://h:9092\nexporter_route # t\n");
    std::string error;
    CHECK_FALSE(make_sink(c.exporters[0], "", error));
    CHECK(error.find("exporter_url must be HOST:PORT[,HOST:PORT...]") != std::string::npos);
}
