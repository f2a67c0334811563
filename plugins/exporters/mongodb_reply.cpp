#include "mongodb_reply.hpp"


#include <algorithm>
#include <cstdint>
#include <string_view>

namespace strata::exporters {

bool mongodb_transient_write_error(int code) {
    // The retryable write errors of MongoDB's driver specification
    // (HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress,
    // PrimarySteppedDown, ExceededTimeLimit, SocketException,
    // NotWritablePrimary, InterruptedAtShutdown, InterruptedDueToReplStateChange,
    // NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, StaleShardVersion,
    // StaleEpoch, StaleConfig, RetryChangeStream, FailedToSatisfyReadPreference),
    // and LockTimeout, Unauthorized, LockBusy, MaxTimeMSExpired, WriteConflict,
    // Interrupted, TransactionTooOld, NoSuchTransaction.
    constexpr int transient[] = {6,     7,     89,    91,    189,   262,   9001, 10107, 11600, 11602, 13435,
                                 13436, 63,    150,   13388, 234,   133,   24,   13,    46,    50,    112,
                                 11601, 225,   251};
    return std::find(std::begin(transient), std::end(transient), code) != std::end(transient);
}

bool mongodb_refuses_document(int code) {
    return code != mongodb_duplicate_key && !mongodb_transient_write_error(code);
}

insert_outcome read_insert_failure(const bson_t& reply, const bson_error_t& error, std::size_t count) {
    insert_outcome out;
    // Without write errors, the failure is the network's, the server's or the
    // command's as a whole (error.domain other than MONGOC_ERROR_SERVER, or a
    // command error such as a refused login): nothing was refused per document.
    bson_iter_t it, list;
    if (!bson_iter_init_find(&it, &reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &list)) {
        out.retry = error.message[0] ? error.message : "insert failed without a reason";
        return out;
    }
    while (bson_iter_next(&list)) {
        bson_iter_t e;
        if (!BSON_ITER_HOLDS_DOCUMENT(&list) || !bson_iter_recurse(&list, &e)) continue;
        std::int64_t index = -1;
        int code = 0;
        std::string message;
        while (bson_iter_next(&e)) {
            const std::string_view key = bson_iter_key(&e);
            if (key == "index") index = bson_iter_as_int64(&e);
            else if (key == "code") code = static_cast<int>(bson_iter_as_int64(&e));
            else if (key == "errmsg" && BSON_ITER_HOLDS_UTF8(&e)) message = bson_iter_utf8(&e, nullptr);
        }
        if (code == mongodb_duplicate_key && index >= 0 && static_cast<std::size_t>(index) < count) {
            ++out.duplicates;
            out.duplicate_at.emplace_back(static_cast<std::size_t>(index), message + " (code 11000)");
        } else if (mongodb_refuses_document(code) && index >= 0 && static_cast<std::size_t>(index) < count) {
            out.refused.emplace_back(static_cast<std::size_t>(index), message + " (code " + std::to_string(code) + ")");
        } else if (out.retry.empty()) {
            out.retry = message + " (code " + std::to_string(code) + ")";
        }
    }
    if (!out.retry.empty()) return out;
    if (bson_iter_init_find(&it, &reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t wc;
        if (bson_iter_recurse(&it, &wc) && bson_iter_next(&wc)) {
            out.retry = std::string("write concern: ") + error.message;
            return out;
        }
    }
    // Every document must be accounted for: inserted, there already, or
    // refused. A reply that says less (a connection lost between two of
    // libmongoc's sub-batches) is a failure to retry.
    std::int64_t inserted = -1;
    if (bson_iter_init_find(&it, &reply, "insertedCount") || bson_iter_init_find(&it, &reply, "nInserted")) {
        inserted = bson_iter_as_int64(&it);
    }
    if (inserted < 0 || static_cast<std::size_t>(inserted) + out.duplicates + out.refused.size() != count) {
        out.retry = error.message[0] ? error.message : "the server's reply accounts for fewer documents than sent";
    }
    return out;
}

}  // namespace strata::exporters
