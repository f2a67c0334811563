// Which records of a batch are already in Kafka, read back from the topics
// themselves. The Kafka sink asks this only when it cannot know from delivery
// reports: at its first batch after strata started (the previous run may have
// been killed after Kafka took part of that batch, before the cursor was
// saved) and after a record's delivery failed although Kafka may have written
// it. Without it, such records would be produced again as duplicates.
//
// It reads, in every partition of each topic, the last N records (N: the
// batch's records for that topic, which bounds what an earlier attempt at the
// same batch can have added, as long as the exporter is the topic's only
// writer) and collects their strata.id headers.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstddef>
#include <map>
#include <string>
#include <unordered_set>

namespace strata::exporters {

// `producer` answers metadata and offset queries; `consumer_conf` (not
// taken) is copied for a short-lived consumer that fetches the records.
// Returns "TOPIC\nSTRATA_ID" for every record found; a topic that does not
// exist holds none. Throws export_error when Kafka does not answer, or when
// `interrupted` is set while it reads.
std::unordered_set<std::string> kafka_recent_ids(rd_kafka_t* producer, const rd_kafka_conf_t* consumer_conf,
                                                 const std::map<std::string, std::size_t>& depth_by_topic,
                                                 const std::atomic<bool>& interrupted);

inline std::string kafka_id_key(const std::string& topic, const std::string& strata_id) {
    return topic + '\n' + strata_id;
}

}  // namespace strata::exporters
