// Apache Kafka (librdkafka's C API). Records as kafka_record.hpp describes,
// produced by an idempotent producer (enable.idempotence, acks=all); a batch
// counts as written only when every record of it has a successful delivery
// report, so the runner advances its cursor only then.
//
// One producer lives as long as the exporter, across failed batches and
// Kafka outages: librdkafka retries a record with the same producer id and
// sequence number, so the broker writes it once however often it is sent. A
// failed batch (the runner calls write() again with the same rows) produces
// again only the records that have no successful report yet: those already
// in Kafka are not sent twice, and those still waiting in librdkafka's queue
// are waited for, not produced again. write() does not wait without end: when
// no delivery report comes for a while it throws (state `retrying`) and the
// next call resumes waiting.
//
// What delivery reports cannot tell: which records of its first batch a
// killed (or stopped) strata had delivered before its cursor was saved, and
// whether a record whose delivery failed as "possibly persisted" (a timeout)
// is in Kafka. Then the sink reads the batch's topics back (kafka_readback)
// and produces only the records whose strata.id is not there. What can still
// be duplicated (docs/exporters.md, Kafka): records Kafka appends after that
// read-back (a request of the killed process still on its way), and records
// pushed out of the read-back window by another writer of the same topic.
// Consumers de-duplicate by the strata.id header.
//
// A record Kafka refuses for what it is (over the broker's or the producer's
// size limit, an invalid record) becomes an error record in TARGET_errors
// with Kafka's reason (without its value when the size was the problem),
// instead of an endless retry. A broker judges a whole produce batch, so a
// record refused among others is sent again alone first: only a record
// refused alone is refused. These refusals are per record: the sink handles
// them itself and never throws a data_error (the runner's splitting would
// produce delivered records again).
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <unordered_set>

#include "kafka_readback.hpp"
#include "kafka_record.hpp"
#include "sinks.hpp"

namespace strata::exporters {

namespace {

using steady = std::chrono::steady_clock;

// write() gives up waiting (and the runner shows `retrying`) after this long
// without a delivery report once librdkafka has reported a connection
// error, or after `quiet_wait` without any report and without errors.
constexpr auto stall_after_error = std::chrono::seconds(5);
constexpr auto quiet_wait = std::chrono::seconds(30);

struct kafka_options {
    std::string bootstrap;
    std::string client_id;
    std::string delivery_timeout_ms = "120000";
    std::string linger_ms = "5";
    std::string compression = "lz4";
    int partitions = -1;          // -1: the broker's default (num.partitions)
    int replication_factor = -1;  // -1: the broker's default (default.replication.factor)
    bool create_topics = true;
    std::vector<std::pair<std::string, std::string>> rdkafka;  // rdkafka.NAME VALUE, passed as they are
};

class kafka_sink final : public sink {
public:
    kafka_sink(kafka_options opts, rd_kafka_conf_t* conf, rd_kafka_conf_t* readback_conf)
        : opts_(std::move(opts)), conf_(conf), readback_conf_(readback_conf) {}

    ~kafka_sink() override {
        destroy_producer();
        rd_kafka_conf_destroy(conf_);
        rd_kafka_conf_destroy(readback_conf_);
    }

    void write(std::span<const export_row> rows) override {
        connect();
        delivery_error_.clear();
        possibly_persisted_ = 0;
        rejected_ = 0;
        if (!same_batch(rows)) new_batch(rows);
        if (unsure_) skip_records_in_kafka(rows);
        // A pass produces what is to do; records refused in it (alone, or as
        // error records next) make another. Each record is refused at most
        // twice (among others, then alone), so three passes settle every one.
        for (int pass = 0; pass < 3; ++pass) {
            const auto refusals = refusals_;
            ensure_topics(rows);
            for (std::size_t i = 0; i < rows.size(); ++i) {
                if (state_[i] == row_state::todo && !alone_[i]) produce(rows[i], i);
            }
            // Also for the records of an earlier attempt still in flight (after
            // an outage): the batch is written only once their reports came.
            wait_for_reports(rows.size());
            for (std::size_t i = 0; i < rows.size(); ++i) {
                if (state_[i] != row_state::todo || !alone_[i]) continue;
                // Nothing else in flight: the broker judges this record by itself.
                produce(rows[i], i);
                wait_for_reports(rows.size());
            }
            if (refusals_ == refusals) break;
        }
        std::size_t failed = 0;
        for (const auto s : state_) failed += s != row_state::delivered ? 1 : 0;
        if (failed > 0) {
            std::string why = "Kafka at " + opts_.bootstrap + ": " + std::to_string(failed) + " of " +
                              std::to_string(rows.size()) + " records not delivered: " + delivery_error_;
            if (possibly_persisted_ > 0) {
                why += " (" + std::to_string(possibly_persisted_) +
                       " of them may have been written: the next attempt reads the topics back first)";
            }
            throw export_error(why);
        }
        // Every record is in Kafka: the runner may advance its cursor.
        for (const auto& r : refused_) rejected_ += r.empty() ? 0 : 1;
        batch_.clear();
        state_.clear();
    }

    std::uint64_t rejected_rows() const override { return rejected_; }
    std::uint64_t refused_rows() const override { return rejected_; }

    // Keeps the producer (and what it has in flight) across failed batches:
    // librdkafka reconnects by itself, and a new producer would lose the
    // idempotent producer's de-duplication of retries. Only a fatal error of
    // the idempotent producer needs a new one.
    void disconnect() override {
        if (rk_ && rd_kafka_fatal_error(rk_, nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) destroy_producer();
    }

    void interrupt() override { interrupted_ = true; }

private:
    enum class row_state : std::uint8_t { todo, in_flight, delivered };

    void throw_if_interrupted() const {
        if (interrupted_) throw export_error("Kafka: the exporter is stopping");
    }

    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        static_cast<kafka_sink*>(opaque)->delivered(reinterpret_cast<std::uintptr_t>(m->_private), m);
    }

    static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
        auto* self = static_cast<kafka_sink*>(opaque);
        // "1/1 brokers are down" follows the error that says why (a refused
        // connection, a failed TLS handshake): keep that one.
        if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || self->last_error_.empty()) self->last_error_ = reason;
        self->error_since_progress_ = true;
    }

    // Kafka's answers about a record itself: over the broker's size limit
    // (for the topic, or for a batch of records), an invalid record (a
    // compacted topic's record without a key, say).
    static bool refuses_record(rd_kafka_resp_err_t err) {
        return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
               err == RD_KAFKA_RESP_ERR_INVALID_RECORD;
    }

    void delivered(std::uintptr_t index, const rd_kafka_message_t* m) {
        if (index >= state_.size() || state_[index] != row_state::in_flight) return;  // an abandoned batch's
        --in_flight_;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            state_[index] = row_state::delivered;
            ++progress_;
            error_since_progress_ = false;
            last_error_.clear();
            return;
        }
        state_[index] = row_state::todo;  // produced again (in this write() or the next)
        if (refuses_record(m->err) && refused_[index].empty()) {
            if (!alone_[index]) {
                alone_[index] = 1;  // refused in a batch with others: judged alone next
            } else {
                refused_[index] = "Kafka refused the record: " + std::string(rd_kafka_err2str(m->err));
                cut_[index] = m->err != RD_KAFKA_RESP_ERR_INVALID_RECORD;  // the size: the error record goes without it
                alone_[index] = 0;
            }
            ++refusals_;
            return;
        }
        if (delivery_error_.empty()) delivery_error_ = rd_kafka_err2str(m->err);
        if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED) {
            ++possibly_persisted_;
            unsure_ = true;  // read back before producing it again
        }
        if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            if (m->rkt) topics_.erase(rd_kafka_topic_name(m->rkt));  // deleted meanwhile: create it again
        }
    }

    void connect() {
        if (rk_) return;
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_dup(conf_);
        rd_kafka_conf_set_opaque(conf, this);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_error_cb(conf, on_error);
        rd_kafka_conf_set_log_cb(conf, nullptr);  // errors come through on_error, and the runner logs them
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!rk_) {
            rd_kafka_conf_destroy(conf);
            throw export_error(std::string("Kafka: cannot create a producer: ") + errstr);
        }
        last_error_.clear();
        error_since_progress_ = false;
    }

    void destroy_producer() {
        if (!rk_) return;
        // What is still queued or in flight is not waited for: the runner
        // exports the batch again after a restart.
        rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(rk_, 1000);  // serves the purged records' reports
        // The next producer starts the batch afresh: what of it is in Kafka
        // already is found by reading back.
        if (!batch_.empty()) unsure_ = true;
        batch_.clear();
        state_.clear();
        in_flight_ = 0;
        rd_kafka_destroy(rk_);
        rk_ = nullptr;
        topics_.clear();
    }

    bool same_batch(std::span<const export_row> rows) const {
        if (rows.size() != batch_.size()) return false;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i].log_seq != batch_[i]) return false;
        }
        return true;
    }

    void new_batch(std::span<const export_row> rows) {
        if (in_flight_ > 0) {
            // Records of a batch the runner gave up (it never does while
            // running): their reports must not be taken for the new batch's.
            rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            const auto until = steady::now() + std::chrono::seconds(10);
            while (in_flight_ > 0 && steady::now() < until && !interrupted_) rd_kafka_flush(rk_, 100);
            if (in_flight_ > 0) {
                destroy_producer();
                connect();
            }
        }
        batch_.resize(rows.size());
        for (std::size_t i = 0; i < rows.size(); ++i) batch_[i] = rows[i].log_seq;
        state_.assign(rows.size(), row_state::todo);
        refused_.assign(rows.size(), std::string());
        alone_.assign(rows.size(), 0);
        cut_.assign(rows.size(), 0);
        in_flight_ = 0;
    }

    // Marks delivered the records still to produce that Kafka already has
    // (by topic and strata.id), reading the topics back: in their route's
    // topic, or in its error topic (a record a previous run saw refused).
    void skip_records_in_kafka(std::span<const export_row> rows) {
        std::map<std::string, std::size_t> depth;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (state_[i] != row_state::todo) continue;
            ++depth[destination_of(rows[i])];
            if (rows[i].error.empty()) ++depth[rows[i].route->target + "_errors"];
        }
        std::unordered_set<std::string> found;
        try {
            found = kafka_recent_ids(rk_, readback_conf_, depth, interrupted_);
        } catch (const export_error& e) {
            rd_kafka_poll(rk_, 0);  // serves error reports (a refused connection)
            if (error_since_progress_ && !last_error_.empty()) {
                throw export_error("cannot reach Kafka at " + opts_.bootstrap + ": " + last_error_ + " (" +
                                   e.what() + ")");
            }
            throw export_error("Kafka at " + opts_.bootstrap + ": " + e.what());
        }
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (state_[i] != row_state::todo) continue;
            const auto id = rows[i].unique_id();
            if (found.contains(kafka_id_key(destination_of(rows[i]), id))) {
                state_[i] = row_state::delivered;
            } else if (rows[i].error.empty() && found.contains(kafka_id_key(rows[i].route->target + "_errors", id))) {
                state_[i] = row_state::delivered;
                refused_[i] = "refused by Kafka before a restart";  // counted as an error row, as it was
            }
        }
        unsure_ = false;
    }

    // Where record i goes: its route's topic, or the error topic when the row
    // did not fit its route or Kafka refused the record.
    std::string record_topic(std::span<const export_row> rows, std::size_t i) const {
        return refused_[i].empty() ? destination_of(rows[i]) : rows[i].route->target + "_errors";
    }

    // Record i as it is produced: the row's record, or its error record.
    kafka_record record_of(const export_row& row, std::size_t i) const {
        if (refused_[i].empty()) return make_kafka_record(row);
        export_row copy = row;
        make_misfit(copy, refused_[i]);
        const auto size = copy.payload.size();
        if (cut_[i]) copy.payload.clear();
        kafka_record r = make_kafka_record(copy);
        if (cut_[i]) r.headers.emplace_back("payload_size", std::to_string(size));
        return r;
    }

    // Creates the batch's topics that this producer has not seen yet (an
    // existing topic is left as it is).
    void ensure_topics(std::span<const export_row> rows) {
        if (!opts_.create_topics) return;
        std::set<std::string> wanted;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (state_[i] != row_state::todo) continue;
            std::string name = record_topic(rows, i);
            if (!topics_.contains(name)) wanted.insert(std::move(name));
        }
        if (wanted.empty()) return;
        char errstr[512];
        std::vector<rd_kafka_NewTopic_t*> new_topics;
        for (const auto& name : wanted) {
            auto* t = rd_kafka_NewTopic_new(name.c_str(), opts_.partitions, opts_.replication_factor, errstr,
                                            sizeof errstr);
            if (!t) {
                for (auto* n : new_topics) rd_kafka_NewTopic_destroy(n);
                throw export_error("Kafka: topic " + name + ": " + errstr);
            }
            new_topics.push_back(t);
        }
        rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
        rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(options, 5000, errstr, sizeof errstr);
        rd_kafka_AdminOptions_set_operation_timeout(options, 10000, errstr, sizeof errstr);
        rd_kafka_CreateTopics(rk_, new_topics.data(), new_topics.size(), options, queue);
        rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 20000);
        std::string problem;
        if (!ev) {
            problem = "no answer";
        } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            problem = rd_kafka_event_error_string(ev);
        } else if (const auto* result = rd_kafka_event_CreateTopics_result(ev)) {
            std::size_t n = 0;
            const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &n);
            for (std::size_t i = 0; i < n; ++i) {
                const auto err = rd_kafka_topic_result_error(results[i]);
                const std::string name = rd_kafka_topic_result_name(results[i]);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                    topics_.insert(name);
                } else if (problem.empty()) {
                    const char* msg = rd_kafka_topic_result_error_string(results[i]);
                    problem = name + ": " + (msg && *msg ? msg : rd_kafka_err2str(err));
                }
            }
        }
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_queue_destroy(queue);
        for (auto* n : new_topics) rd_kafka_NewTopic_destroy(n);
        rd_kafka_poll(rk_, 0);  // serves error reports (a refused connection)
        if (!problem.empty()) {
            // A refused or failed connection says more than the request's time-out.
            if (error_since_progress_ && !last_error_.empty()) {
                throw export_error("cannot reach Kafka at " + opts_.bootstrap + ": " + last_error_ +
                                   " (creating topics: " + problem + ")");
            }
            throw export_error("cannot create Kafka topics at " + opts_.bootstrap + ": " + problem);
        }
    }

    void produce(const export_row& row, std::size_t index) {
        const kafka_record r = record_of(row, index);
        // (The producev macros cast their arguments: no expressions in them.)
        const void* key = r.key ? r.key->data() : nullptr;
        const std::size_t key_size = r.key ? r.key->size() : 0;
        void* value = const_cast<char*>(r.value.data());
        const std::size_t value_size = r.value.size();
        void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(index));
        for (;;) {
            rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
            for (const auto& [name, value] : r.headers) {
                rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                                    static_cast<ssize_t>(value.size()));
            }
            const auto err = rd_kafka_producev(
                rk_, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_KEY(key, key_size),
                RD_KAFKA_V_TIMESTAMP(r.timestamp_ms), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                state_[index] = row_state::in_flight;
                ++in_flight_;
                return;
            }
            rd_kafka_headers_destroy(headers);  // not taken by a failed produce
            if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && refused_[index].empty()) {
                // Over the producer's own limit (message.max.bytes): refused
                // now; the next pass produces its error record (after making
                // the error topic).
                refused_[index] = "Kafka refused the record: " + std::string(rd_kafka_err2str(err)) + " (" +
                                  std::to_string(value_size + key_size) + " bytes, over message.max.bytes)";
                cut_[index] = 1;
                ++refusals_;
                return;
            }
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                throw export_error("Kafka: cannot produce to " + r.topic + ": " + rd_kafka_err2str(err));
            }
            throw_if_interrupted();
            rd_kafka_poll(rk_, 100);  // the queue is full: let deliveries make room
        }
    }

    void wait_for_reports(std::size_t batch_rows) {
        auto last_progress = steady::now();
        std::uint64_t seen = progress_;
        while (in_flight_ > 0) {
            throw_if_interrupted();
            rd_kafka_flush(rk_, 200);  // sends now (no linger) and serves delivery reports
            char fatal[512];
            if (rd_kafka_fatal_error(rk_, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                throw export_error(std::string("Kafka producer failed: ") + fatal);
            }
            const auto now = steady::now();
            if (progress_ != seen) {
                seen = progress_;
                last_progress = now;
                continue;
            }
            const auto stalled = now - last_progress;
            if ((error_since_progress_ && stalled >= stall_after_error) || stalled >= quiet_wait) {
                std::string why = "no delivery from Kafka at " + opts_.bootstrap + " for " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::seconds>(stalled).count()) +
                                  " s";
                if (!last_error_.empty()) why += " (" + last_error_ + ")";
                why += "; " + std::to_string(in_flight_) + " of " + std::to_string(batch_rows) +
                       " records waiting in the producer";
                throw export_error(why);
            }
        }
    }

    kafka_options opts_;
    std::atomic<bool> interrupted_{false};  // set by interrupt(), from the thread that stops the exporter
    rd_kafka_conf_t* conf_;          // the configuration each producer starts from
    rd_kafka_conf_t* readback_conf_; // and each read-back's consumer
    // Whether Kafka may hold records of the batch without a delivery report
    // for them: at start (a previous run's last batch) and after a failure
    // that may have written (see the top of this file).
    bool unsure_ = true;
    rd_kafka_t* rk_ = nullptr;
    std::set<std::string> topics_;  // created or found by this producer

    // The batch being written: its rows' log positions and how far each got.
    std::vector<std::uint64_t> batch_;
    std::vector<row_state> state_;
    std::vector<std::string> refused_;  // per row: Kafka's reason; non-empty: produced as an error record
    std::vector<char> alone_;           // per row: refused among others, to be produced alone
    std::vector<char> cut_;             // per row: the error record goes without the value (its size)
    std::uint64_t refusals_ = 0;        // rows newly refused or set alone, ever
    std::uint64_t rejected_ = 0;        // of the last successful write: rows sent as error records
    std::size_t in_flight_ = 0;
    std::uint64_t progress_ = 0;  // successful delivery reports, ever
    std::string delivery_error_;  // the first failed report of this attempt
    std::size_t possibly_persisted_ = 0;
    std::string last_error_;      // librdkafka's last error report (a refused connection, ...)
    bool error_since_progress_ = false;
};

bool parse_int(const std::string& text, int min, int max, int& out) {
    int v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
    out = v;
    return true;
}

}  // namespace

std::unique_ptr<sink> make_kafka_sink(const config::exporter_config& cfg, const std::string& password,
                                      std::string& error) {
    const std::string where = cfg.defined_at + ": exporter " + cfg.name + ": ";
    kafka_options opts;
    const auto bootstrap = parse_kafka_bootstrap(cfg.url);
    if (!bootstrap) {
        error = where + "exporter_url must be HOST:PORT[,HOST:PORT...] (Kafka's bootstrap servers), not '" +
                cfg.url + "'";
        return nullptr;
    }
    opts.bootstrap = *bootstrap;
    opts.client_id = "strata-" + cfg.name;
    for (const auto& [key, value] : cfg.options) {
        int n = 0;
        if (key == "delivery_timeout" && parse_int(value, 1000, 3600000, n)) {
            opts.delivery_timeout_ms = value;
        } else if (key == "linger" && parse_int(value, 0, 10000, n)) {
            opts.linger_ms = value;
        } else if (key == "compression" &&
                   (value == "none" || value == "gzip" || value == "snappy" || value == "lz4" || value == "zstd")) {
            opts.compression = value;
        } else if (key == "partitions" && parse_int(value, 1, 100000, n)) {
            opts.partitions = n;
        } else if (key == "replication_factor" && parse_int(value, 1, 1000, n)) {
            opts.replication_factor = n;
        } else if (key == "create_topics" && (value == "true" || value == "false")) {
            opts.create_topics = value == "true";
        } else if (key.starts_with("rdkafka.") && key.size() > 8) {
            opts.rdkafka.emplace_back(key.substr(8), value);
        } else {
            error = where + "exporter_option " + key + " " + value +
                    ": not a kafka option (delivery_timeout MS, linger MS, compression none|gzip|snappy|lz4|zstd, "
                    "partitions N, replication_factor N, create_topics true|false, rdkafka.PROPERTY VALUE)";
            return nullptr;
        }
    }

    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[512];
    std::vector<std::pair<std::string, std::string>> settings = {
        {"bootstrap.servers", opts.bootstrap},
        {"client.id", opts.client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"message.timeout.ms", opts.delivery_timeout_ms},
        {"linger.ms", opts.linger_ms},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"compression.codec", opts.compression},
        // A key goes to the partition Kafka's Java producer would pick for it.
        {"partitioner", "murmur2_random"},
        // Topics are created by the exporter (create_topics), with its
        // partitions and replication factor, not by the broker's defaults.
        {"allow.auto.create.topics", "false"},
        {"socket.connection.setup.timeout.ms", "10000"},
        {"reconnect.backoff.max.ms", "2000"},
    };
    if (!password.empty()) settings.emplace_back("sasl.password", password);
    settings.insert(settings.end(), opts.rdkafka.begin(), opts.rdkafka.end());
    for (const auto& [name, value] : settings) {
        if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            error = where + "librdkafka refuses " + name + "=" + value + ": " + errstr;
            return nullptr;
        }
    }
    // The read-back consumer (kafka_readback.hpp): the same servers and
    // security settings, none of the producer's.
    rd_kafka_conf_t* readback = rd_kafka_conf_new();
    std::vector<std::pair<std::string, std::string>> readback_settings = {
        {"bootstrap.servers", opts.bootstrap},
        {"client.id", opts.client_id + "-readback"},
        {"enable.partition.eof", "true"},
        {"fetch.wait.max.ms", "100"},
        {"socket.connection.setup.timeout.ms", "10000"},
    };
    if (!password.empty()) readback_settings.emplace_back("sasl.password", password);
    readback_settings.insert(readback_settings.end(), opts.rdkafka.begin(), opts.rdkafka.end());
    for (const auto& [name, value] : readback_settings) {
        // A producer-only rdkafka.* property is ignored by the consumer.
        rd_kafka_conf_set(readback, name.c_str(), value.c_str(), errstr, sizeof errstr);
    }
    rd_kafka_conf_set_log_cb(readback, nullptr);
    return std::make_unique<kafka_sink>(std::move(opts), conf, readback);
}

}  // namespace strata::exporters
