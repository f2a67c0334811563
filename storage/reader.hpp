// The read side of the store: topics, messages merged in time order with a
// pagination cursor, the latest message per topic, and downsampled series.
//
// Two ways to get one:
//  - in the broker, over the live database of storage::store (its counters
//    are the freshest);
//  - in another process while the broker runs (`strata query`): a RocksDB
//    secondary instance on the same directory, with a private temporary
//    directory of its own, caught up with the broker before each query.
//
// Retention: the writer deletes expired messages once a minute; the reader
// applies each topic's cutoff itself, so nothing older than the cutoff is
// returned in between.
//
// A reader serves one query at a time: the HTTP server gives each of its
// query threads a reader of its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>

#include "keys.hpp"
#include "query_params.hpp"
#include "records.hpp"
#include "retention.hpp"
#include "series.hpp"

namespace strata::storage {

class store;

// Why a query failed: the store itself (an I/O error, corruption) or the
// query's time budget.
class read_error : public std::runtime_error {
public:
    enum class kind { store, timeout };
    read_error(kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
    kind which() const { return kind_; }

private:
    kind kind_;
};

struct topic_entry {
    std::uint64_t id = 0;
    std::string name;
    topic_stats stats;  // what is visible: retention applied
};

struct stored_message {
    std::string topic;
    message_key key;
    std::string value;  // encoded message_record: decode_message(value, record)
};

struct message_page {
    std::vector<stored_message> items;
    bool more = false;  // messages after the last item existed when the page was read
};

struct topic_page {
    std::vector<topic_entry> items;
    bool more = false;  // topics after the last item existed
};

struct latest_page {
    std::vector<stored_message> items;  // one per topic, by topic name
    bool more = false;
};

// Which topics a query may see (the HTTP API's users, ACLs and mount point).
// Every query takes one; nullptr: every topic.
class topic_gate {
public:
    virtual ~topic_gate() = default;
    // The topics a query is about to look at, once, before visible() is
    // asked about them (so that a check that costs a round trip is batched).
    virtual void prepare(const std::vector<std::string_view>& topics) { (void)topics; }
    virtual bool visible(std::string_view topic) = 0;
};

struct series_result {
    std::vector<series_point> points;
    std::uint64_t samples = 0;  // messages whose payload had the field as a number
    std::uint64_t skipped = 0;  // messages in range without it (not JSON, no such field, not a number)
};

class reader {
public:
    // In the broker: reads the live database of `s`, which must outlive the reader.
    explicit reader(store& s);
    // In another process: opens the store at `path` as a secondary instance
    // (the broker may be running). `retention` is the broker's policy (from
    // its configuration), applied to what is returned. nullptr and `error`
    // when the store does not exist or cannot be read.
    static std::unique_ptr<reader> open_secondary(const std::string& path, retention_policy retention,
                                                  std::string& error);
    ~reader();
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;

    // Each query gives up with read_error(timeout) after this long (0 = never).
    void set_time_limit(std::chrono::milliseconds limit) { time_limit_ = limit; }
    // A page stops early (with more = true) once its values exceed this many bytes.
    void set_page_bytes(std::size_t bytes) { page_bytes_ = bytes; }

    // Topics matching the filter with at least one visible message, by name,
    // at most `limit` of them, the first one after `after` (a topic name).
    topic_page topics(std::string_view filter, topic_gate* gate, const std::optional<std::string>& after = {},
                      std::size_t limit = SIZE_MAX);

    // Messages of every topic matching `filter` with from_us <= ts < to_us,
    // merged in (ts, topic id, seq) order, at most `limit` of them, starting
    // after `after` (the position of the previous page's last item).
    message_page messages(std::string_view filter, std::uint64_t from_us, std::uint64_t to_us, std::size_t limit,
                          const std::optional<position>& after, topic_gate* gate = nullptr);

    // The newest visible message of each topic matching `filter`, by topic
    // name, paged as topics().
    latest_page latest(std::string_view filter, topic_gate* gate, const std::optional<std::string>& after = {},
                       std::size_t limit = SIZE_MAX);

    // The numeric JSON field `field` of one topic's payloads in [from_us, to_us),
    // aggregated into buckets of step_us.
    series_result series(std::string_view topic, std::string_view field, std::uint64_t from_us, std::uint64_t to_us,
                         std::uint64_t step_us, aggregation agg);

private:
    struct owned_db;
    struct known_topic {
        std::uint64_t id = 0;
        std::string name;
        topic_stats stats;  // as the writer counts (retention not applied)
    };
    class deadline;

    reader() = default;
    // Catches up with the broker (secondary) and refreshes the topic dictionary and counters.
    void refresh();
    // The known topics matching `filter` that the gate lets through.
    std::vector<known_topic> matching(std::string_view filter, topic_gate* gate) const;
    // matching(), after the topic named `after`, sorted by name.
    std::vector<known_topic> page_of(std::string_view filter, topic_gate* gate,
                                     const std::optional<std::string>& after) const;
    // First visible timestamp of a topic: its retention cutoff at `now` (0 when kept forever).
    std::uint64_t cutoff(const known_topic& t, std::uint64_t now) const;
    void check(const rocksdb::Status& s) const;

    store* live_ = nullptr;
    std::unique_ptr<owned_db> owned_;
    rocksdb::DB* db_ = nullptr;
    rocksdb::ColumnFamilyHandle* messages_ = nullptr;
    rocksdb::ColumnFamilyHandle* topics_ = nullptr;
    retention_policy retention_;
    std::unordered_map<std::uint64_t, known_topic> known_;
    std::uint64_t max_known_id_ = 0;
    std::chrono::milliseconds time_limit_{0};
    std::size_t page_bytes_ = 16 * 1024 * 1024;
};

}  // namespace strata::storage
