#include "kafka_readback.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include "export_row.hpp"

namespace strata::exporters {

namespace {

using steady = std::chrono::steady_clock;

constexpr int request_timeout_ms = 5000;
// The whole read-back of one batch; Kafka answering slower than this counts
// as a failed write (retried), not as "nothing there".
constexpr auto readback_budget = std::chrono::seconds(20);

struct topic_deleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct handle_deleter {
    void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct metadata_deleter {
    void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
struct message_deleter {
    void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

[[noreturn]] void fail(const std::string& what, rd_kafka_resp_err_t err) {
    throw export_error("reading back what Kafka already has: " + what + ": " + rd_kafka_err2str(err));
}

// The partition count of `topic`, 0 when the topic does not exist.
int partition_count(rd_kafka_t* producer, const std::string& topic) {
    topic_ptr rkt(rd_kafka_topic_new(producer, topic.c_str(), nullptr));
    const rd_kafka_metadata_t* raw = nullptr;
    const auto err = rd_kafka_metadata(producer, 0, rkt.get(), &raw, request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) fail("metadata of " + topic, err);
    std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter> md(raw);
    if (md->topic_cnt < 1) return 0;
    const auto& t = md->topics[0];
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) return 0;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) fail("metadata of " + topic, t.err);
    return t.partition_cnt;
}

// Adds the strata.id of the records [from, to) of one partition to `ids`.
void read_partition(rd_kafka_topic_t* rkt, const std::string& topic, int partition, std::int64_t from,
                    std::int64_t to, steady::time_point deadline, const std::atomic<bool>& interrupted,
                    std::unordered_set<std::string>& ids) {
    if (rd_kafka_consume_start(rkt, partition, from) == -1) {
        fail(topic + " [" + std::to_string(partition) + "]", rd_kafka_last_error());
    }
    std::int64_t next = from;
    rd_kafka_resp_err_t problem = RD_KAFKA_RESP_ERR_NO_ERROR;
    while (next < to) {
        if (steady::now() > deadline) {
            problem = RD_KAFKA_RESP_ERR__TIMED_OUT;
            break;
        }
        if (interrupted) {
            problem = RD_KAFKA_RESP_ERR__INTR;
            break;
        }
        message_ptr m(rd_kafka_consume(rkt, partition, 500));
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;  // the end moved back (deleted records)
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            problem = m->err;
            break;
        }
        next = m->offset + 1;
        rd_kafka_headers_t* headers = nullptr;  // owned by the message
        const void* value = nullptr;
        std::size_t size = 0;
        if (rd_kafka_message_headers(m.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(headers, "strata.id", &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR && value) {
            ids.insert(kafka_id_key(topic, std::string(static_cast<const char*>(value), size)));
        }
    }
    rd_kafka_consume_stop(rkt, partition);
    if (problem != RD_KAFKA_RESP_ERR_NO_ERROR) fail(topic + " [" + std::to_string(partition) + "]", problem);
}

}  // namespace

std::unordered_set<std::string> kafka_recent_ids(rd_kafka_t* producer, const rd_kafka_conf_t* consumer_conf,
                                                 const std::map<std::string, std::size_t>& depth_by_topic,
                                                 const std::atomic<bool>& interrupted) {
    const auto deadline = steady::now() + readback_budget;
    std::unordered_set<std::string> ids;
    std::unique_ptr<rd_kafka_t, handle_deleter> consumer;  // made when there is something to read
    for (const auto& [topic, depth] : depth_by_topic) {
        const int partitions = partition_count(producer, topic);
        topic_ptr rkt;
        for (int p = 0; p < partitions; ++p) {
            std::int64_t low = 0, high = 0;
            const auto err =
                rd_kafka_query_watermark_offsets(producer, topic.c_str(), p, &low, &high, request_timeout_ms);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) fail("offsets of " + topic + " [" + std::to_string(p) + "]", err);
            const std::int64_t from = std::max(low, high - static_cast<std::int64_t>(depth));
            if (from >= high) continue;
            if (!consumer) {
                char errstr[512];
                rd_kafka_conf_t* conf = rd_kafka_conf_dup(consumer_conf);
                consumer.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr));
                if (!consumer) {
                    rd_kafka_conf_destroy(conf);
                    throw export_error(std::string("Kafka: cannot create a consumer to read back: ") + errstr);
                }
            }
            if (!rkt) rkt.reset(rd_kafka_topic_new(consumer.get(), topic.c_str(), nullptr));
            read_partition(rkt.get(), topic, p, from, high, deadline, interrupted, ids);
        }
    }
    return ids;
}

}  // namespace strata::exporters
