// What the reply of a failed unordered insert_many means for the MongoDB
// exporter. An unordered insert tries every document, and the server lists the
// ones it did not insert with a code each:
//   - duplicate key (11000): the document is there already (a replayed batch):
//     success, this is what makes replays idempotent;
//   - a code that says the server will never take this document (a field name
//     or a value it refuses, a document too large, a schema validator): the
//     row goes to `<target>_errors` with the server's reason, instead of
//     failing its batch forever;
//   - anything else (the network, a shutdown, a failover, a write concern, a
//     refused login, a failure the reply does not explain): the batch is
//     retried as a whole, which the duplicate-key rule makes harmless.
#pragma once

#include <bson/bson.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace strata::exporters {

constexpr int mongodb_duplicate_key = 11000;

struct insert_outcome {
    std::size_t duplicates = 0;
    // Index in the inserted list and the server's reason, per refused document.
    std::vector<std::pair<std::size_t, std::string>> refused;
    // Non-empty: why the batch must be written again.
    std::string retry;
};

// True for the write-error codes meaning "this document, never": BadValue,
// InvalidBSON, field names, InvalidIdField, DocumentValidationFailure,
// BSONObjectTooLarge, KeyTooLong.
bool mongodb_refuses_document(int code);

// Reads the reply and error of a mongoc_collection_insert_many of `count`
// documents that returned false (libmongoc's error API version 2).
insert_outcome read_insert_failure(const bson_t& reply, const bson_error_t& error, std::size_t count);

}  // namespace strata::exporters
