// What the reply of a failed unordered insert_many means for the MongoDB
// exporter. An unordered insert tries every document, and the server lists the
// ones it did not insert with a code each:
//   - duplicate key (11000): on the _id index, the document is there already
//     (a replayed batch): success, this is what makes replays idempotent. On
//     another unique index (the user's), the document was refused: the sink
//     tells the two apart by looking the _ids up;
//   - a code that says the server, the network or a lock failed for the moment
//     (the retryable codes of MongoDB's drivers, a write conflict, a lock
//     timeout, a shutdown): the batch is retried as a whole, which the
//     duplicate-key rule makes harmless;
//   - any other code is about the document itself (a value, a field name, a
//     size, a validator, ...): the row goes to `<target>_errors` with the
//     server's reason, instead of failing its batch forever.
// A failure without write errors (the network, a refused login, a failover,
// a reply that does not account for every document) retries the batch.
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
    // Index in the inserted list and the server's message, per duplicate key.
    std::vector<std::pair<std::size_t, std::string>> duplicate_at;
    // Index in the inserted list and the server's reason, per refused document.
    std::vector<std::pair<std::size_t, std::string>> refused;
    // Non-empty: why the batch must be written again.
    std::string retry;
};

// True for the write-error codes of a passing failure (the server, the
// network, a lock, a shutdown, a failover): the batch is written again.
bool mongodb_transient_write_error(int code);

// True for the write-error codes meaning "this document, never": every code
// but a duplicate key and the transient ones.
bool mongodb_refuses_document(int code);

// Reads the reply and error of a mongoc_collection_insert_many of `count`
// documents that returned false (libmongoc's error API version 2).
insert_outcome read_insert_failure(const bson_t& reply, const bson_error_t& error, std::size_t count);

}  // namespace strata::exporters
