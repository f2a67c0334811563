// The store's writer when the disk fills up or a write fails: the free-space
// check behind storage_min_free_space, the failed state, the bookkeeping kept
// for when the store resumes, and DB::Resume(). What is written while new
// messages are refused is in commit() (store.cpp).
#include <sys/statvfs.h>

#include "store.hpp"

namespace strata::storage {

namespace {

// How often a failed store tries DB::Resume() once space is back.
constexpr auto resume_period_us = std::uint64_t{2} * 1'000'000;
// Bookkeeping kept in memory while the store has failed; past this the
// broker gives up keeping the store in step (and says so).
constexpr std::size_t backlog_limit_bytes = std::size_t{64} << 20;

std::optional<std::uint64_t> statvfs_free_space(const std::string& path) {
    struct statvfs fs {};
    if (::statvfs(path.c_str(), &fs) != 0) return std::nullopt;
    // What an unprivileged process may still use (f_bavail, not f_bfree).
    return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

}  // namespace

void store::refresh_writable() {
    writable_.store(!space_low_ && !write_failed_, std::memory_order_relaxed);
    failed_.store(write_failed_, std::memory_order_relaxed);
}

bool store::write(rocksdb::WriteBatch& batch, bool sync) {
    if (write_failed_) return false;
    rocksdb::WriteOptions wo;
    wo.disableWAL = options_.mode == durability::none;
    wo.sync = sync;
    const auto status = db_->Write(wo, &batch);
    if (status.ok()) return true;
    note_failure(status);
    return false;
}

void store::note_failure(const rocksdb::Status& status) {
    write_failed_ = true;
    refresh_writable();
    if (options_.log) {
        options_.log("a write to the store failed (" + status.ToString() +
                     "); QoS 1/2 publishes are refused until the store resumes (tried once free space is above "
                     "storage_min_free_space) or strata is restarted; subscribers are still served");
    }
}

void store::keep_for_later(rocksdb::WriteBatch&& batch) {
    if (batch.Count() == 0 || backlog_overflowed_) return;
    if (backlog_bytes_ + batch.GetDataSize() > backlog_limit_bytes) {
        // Holes in the middle would be worse than an honest gap: drop it all.
        backlog_overflowed_ = true;
        backlog_.clear();
        backlog_bytes_ = 0;
        if (options_.log) {
            options_.log("too many session updates waiting for the failed store: they are dropped; persistent "
                         "sessions may be out of date after a restart");
        }
        return;
    }
    backlog_bytes_ += batch.GetDataSize();
    backlog_.push_back(std::move(batch));
}

bool store::write_backlog() {
    while (!backlog_.empty()) {
        if (!write(backlog_.front())) return false;
        backlog_bytes_ -= backlog_.front().GetDataSize();
        backlog_.pop_front();
    }
    return true;
}

void store::try_resume() {
    const auto now = now_us();
    if (now < next_resume_us_) return;
    next_resume_us_ = now + resume_period_us;
    // After a background error (a failed flush or WAL append: disk full),
    // RocksDB can flush its memtables to new files and go on; an error it
    // cannot recover from stays, and so does the refusal. (A resume that
    // itself runs out of space can make the error permanent: this is only
    // tried once free space is back above storage_min_free_space.)
    const auto status = db_->Resume();
    // Busy: RocksDB is recovering by itself (it does so from "no space"
    // once its own free-space check agrees); the next try finds it done.
    if (status.IsBusy()) return;
    if (!status.ok()) {
        if (!resume_reported_ && options_.log) {
            options_.log("the store cannot resume after the failed write (" + status.ToString() +
                         "); retrying every 2 s: while it fails, QoS 1/2 publishes stay refused (a restart "
                         "clears an error RocksDB cannot recover from)");
        }
        resume_reported_ = true;
        return;
    }
    write_failed_ = false;
    resume_reported_ = false;
    backlog_overflowed_ = false;
    const auto pending = backlog_.size();
    // The kept bookkeeping goes in before anything new, and before the
    // workers hear that the store takes messages again.
    if (write_backlog()) {
        refresh_writable();
        if (options_.log) {
            options_.log("the store resumed after the failed write (" + std::to_string(pending) +
                         " session updates caught up): accepting QoS 1/2 publishes again");
        }
    }
}

void store::check_space() {
    const auto measured = options_.free_space ? options_.free_space(options_.path) : statvfs_free_space(options_.path);
    if (!measured) return;
    const std::uint64_t free_bytes = *measured;
    // 10% hysteresis, so that the state does not flap around the threshold.
    const auto min_free = min_free_bytes_.load(std::memory_order_relaxed);
    const bool low = space_low_ ? free_bytes < min_free + min_free / 10 : free_bytes < min_free;
    if (low != space_low_ && options_.log) {
        options_.log(low ? "free space " + std::to_string(free_bytes >> 20) + " MiB is below storage_min_free_space: "
                               "refusing QoS 1/2 publishes and storing no new messages until space returns (sessions are still "
                               "kept up to date)"
                         : std::string(write_failed_ ? "free space is back: trying to resume the failed store"
                                                     : "free space is back: accepting QoS 1/2 publishes again"));
    }
    space_low_ = low;
    refresh_writable();
}

}  // namespace strata::storage
