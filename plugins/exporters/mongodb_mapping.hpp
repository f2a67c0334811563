// The MongoDB exporter's documents (libbson). One collection per route
// target, one document per message:
//
//   _id                 row.unique_id(), "topicid-ts-seq": inserting a message
//                       twice keeps one document (duplicate key, 11000)
//   ts, ts_us           arrival time: a BSON date (ms) and µs since the epoch (int64)
//   topic, client_id    strings; qos (int32), retain (bool)
//   <captured levels>   one string field per +name of the route's filter
//   payload=json        the JSON object's fields as document fields, with
//                       their JSON types (integers as int32/int64, other
//                       numbers as double, objects as sub-documents, ...);
//                       fields=a,b keeps those, fields=all (the default) all
//   payload=text        `payload`, a string (valid UTF-8 only)
//   payload=bytes       `payload`, binary (subtype 0)
//
// A capture or JSON field whose name is already taken in the document (a
// payload's own `ts`, say) gets `_` in front until the name is free (`_ts`).
//
// Rows that do not fit (row.error, or a document MongoDB would refuse: a field
// name with '\0', starting with '$' or containing '.', text that is not UTF-8,
// more than 16 MiB) go to `<target>_errors` as
// { _id, ts, ts_us, topic, client_id, qos, retain, reason, payload: binary }.
#pragma once

#include <bson/bson.h>

#include <memory>
#include <string>
#include <vector>

#include "export_row.hpp"

namespace strata::exporters {

// The largest document a MongoDB server takes (maxBsonObjectSize).
constexpr std::size_t mongodb_max_document = 16 * 1024 * 1024;

struct bson_deleter {
    void operator()(bson_t* b) const { bson_destroy(b); }
};
// bson_t is declared 128-byte aligned, an attribute that g++ reports as
// ignored in template arguments; it matters to a bson_t, not to a pointer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
using bson_ptr = std::unique_ptr<bson_t, bson_deleter>;
using bson_list = std::vector<const bson_t*>;
#pragma GCC diagnostic pop

// The document of a row for its route's collection. Null with `problem` set
// when the row cannot be stored there (then use mongodb_error_document).
// The row must not be a misfit (row.error empty).
bson_ptr mongodb_document(const export_row& row, std::string& problem);

// The document of a misfit for `<target>_errors`: the metadata, `reason` and
// the raw payload as binary (cut to fit 16 MiB, with payload_size then).
bson_ptr mongodb_error_document(const export_row& row, const std::string& reason);

// A document as relaxed Extended JSON (tests, messages).
std::string mongodb_json(const bson_t& doc);

}  // namespace strata::exporters
