// What of a write set may still be written when its new messages may not:
// while the disk is short of space, or while a failed store waits to resume.
//
// A write set mixes two kinds of records. Records that *accept a new message*
// (its record in the messages column family, and the inbound QoS 2 record that
// points at it) only grow the store, and their publishers can be told "refused".
// Everything else is bookkeeping that keeps the store in step with the broker's
// memory (session records, delivery records and their deletes, removals of
// inbound records, counters, retained clears). Dropping bookkeeping would leave
// the store describing a past the broker has moved on from (stale redeliveries,
// lost subscriptions after a restart), and it is small, so it is always kept.
#pragma once

#include <span>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace strata::storage {

// Copies `batch` into `out` without the records that accept a new message.
// `families` lists every column family the batch may touch; `messages`,
// `sessions` and `log` (the export log, whose entries go with their messages)
// are three of them. Not OK for an operation the store never writes
// (merge, wide columns): then `out` is incomplete.
rocksdb::Status bookkeeping_of(const rocksdb::WriteBatch& batch, std::span<rocksdb::ColumnFamilyHandle* const> families,
                               rocksdb::ColumnFamilyHandle* messages, rocksdb::ColumnFamilyHandle* sessions,
                               rocksdb::ColumnFamilyHandle* log, rocksdb::WriteBatch& out);

}  // namespace strata::storage
