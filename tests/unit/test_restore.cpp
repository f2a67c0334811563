// What a restart takes back from the store: a session's delivery records of
// its own incarnation, and nothing a session that had ended left behind.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "config/broker_config.hpp"
#include "core/broker.hpp"
#include "core/logger.hpp"
#include "keys.hpp"
#include "records.hpp"
#include "restore.hpp"
#include "session/session.hpp"
#include "store.hpp"

using namespace strata;
using namespace strata::storage;

TEST_CASE("restore: delivery records of ended sessions are neither restored nor kept") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("strata-unit-restore-" + std::to_string(std::random_device{}()));
    std::filesystem::remove_all(dir);
    store_options o;
    o.path = dir.string();
    std::string error;
    auto s = store::open(o, error);
    REQUIRE_MESSAGE(s, error);

    // A message, and the session "keeper" of incarnation 7.
    const auto topic = s->topic_id("q/t");
    const message_key key{topic, 1000, 1};
    message_record m;
    m.qos = 1;
    m.payload = "kept";
    std::string value;
    encode_message(value, m);
    REQUIRE(s->db().Put({}, s->messages(), encode_message_key(key), value).ok());
    session_record rec;
    rec.expiry_interval = 3600;
    rec.incarnation = 7;
    REQUIRE(s->db().Put({}, s->sessions(), session_key("keeper"), encode_session(rec)).ok());
    delivery_record d;
    d.qos = 1;
    d.message = key;
    const auto seq = [](std::uint64_t incarnation, std::uint64_t n) {
        return (incarnation << session::incarnation_shift) | n;
    };
    REQUIRE(s->db().Put({}, s->sessions(), delivery_key("keeper", seq(7, 1)), encode_delivery(d)).ok());
    // A QoS 2 plan committed after its session's removal: an earlier life of
    // "keeper" (incarnation 3), and a client whose session is gone.
    REQUIRE(s->db().Put({}, s->sessions(), delivery_key("keeper", seq(3, 1)), encode_delivery(d)).ok());
    REQUIRE(s->db().Put({}, s->sessions(), delivery_key("gone", seq(5, 2)), encode_delivery(d)).ok());

    auto cfg = std::make_shared<config::broker_config>();
    cfg->threads = 1;
    cfg->log.types = 0;
    logger log(cfg->log);
    core::broker b(cfg, log);
    const auto report = restore_into(*s, b);
    CHECK(report.sessions == 1);
    CHECK(report.deliveries == 1);
    CHECK(report.ended_sessions_records == 2);

    std::vector<std::string> left;
    std::unique_ptr<rocksdb::Iterator> it(s->db().NewIterator(rocksdb::ReadOptions(), s->sessions()));
    for (it->Seek("d"); it->Valid() && it->key().starts_with("d"); it->Next()) left.push_back(it->key().ToString());
    CHECK(left == std::vector<std::string>{delivery_key("keeper", seq(7, 1))});
    it.reset();  // before the store closes

    // Older records (before incarnations were kept) are incarnation 0 and still restored.
    session_record old = rec;
    old.incarnation = 0;
    const auto encoded = encode_session(old);
    session_record back;
    REQUIRE(decode_session(encoded.substr(0, encoded.size() - 4), back));
    CHECK(back.incarnation == 0);
    REQUIRE(decode_session(encode_session(rec), back));
    CHECK(back.incarnation == 7);

    s.reset();
    std::filesystem::remove_all(dir);
}

TEST_CASE("records: a retained message keeps its publisher; records written before decode without one") {
    retained_record r;
    r.order = 9;
    r.ts_us = 1234;
    r.message.qos = 1;
    r.message.retain = true;
    r.message.client_id = "sensor-1";
    r.message.payload = "21.5";
    std::string old_format;
    encode_retained(old_format, r);  // as before: the client id only

    r.message.has_source = true;
    r.message.has_username = true;
    r.message.username = "alice";
    r.message.listener = 2;
    std::string with_source;
    encode_retained(with_source, r);

    retained_record back;
    REQUIRE(decode_retained(with_source, back));
    CHECK(back.order == 9);
    CHECK(back.message.has_source);
    CHECK(back.message.client_id == "sensor-1");
    CHECK(back.message.has_username);
    CHECK(back.message.username == "alice");
    CHECK(back.message.listener == 2);
    CHECK(back.message.payload == "21.5");

    REQUIRE(decode_retained(old_format, back));
    CHECK_FALSE(back.message.has_source);
    CHECK(back.message.username.empty());
    CHECK(back.message.payload == "21.5");

    // Cut short inside the publisher: refused, not read as a payload.
    CHECK_FALSE(decode_retained(with_source.substr(0, 16 + 2 + 2 + 8 + 1 + 2 + 3), back));
}
