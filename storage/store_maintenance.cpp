// Purges and retention sweeps on the writer thread, a slice at a time: each
// turn of the writer commits what the workers handed over, then deletes at
// most `slice_keys` keys of the oldest job. A purge of millions of messages
// therefore never holds up the commits (and the acknowledgements that wait
// for them) for longer than one slice.
//
// The per-topic counters stay exact without counting what goes when all of a
// topic's messages go (the counters say how many there are); otherwise a
// slice counts the keys it deletes, and deletes exactly those (one range, in
// the same write as the counters), so a message committed between two slices
// is either counted and deleted or neither.
#include <future>

#include "store.hpp"
#include "topic/topic_name.hpp"

namespace strata::storage {

namespace {

// Keys a slice may look at: a few milliseconds of work.
constexpr std::size_t slice_keys = 10'000;

}  // namespace

bool store::delete_slice(std::uint64_t topic_id, std::uint64_t cutoff_us, std::string& resume, std::size_t& budget,
                         std::uint64_t& deleted) {
    topic_stats st;
    {
        std::lock_guard lock(stats_mutex_);
        st = stats_[topic_id];
    }
    if (st.count == 0 || st.first_us >= cutoff_us) return true;
    const std::string prefix = topic_prefix(topic_id);
    const std::string end = message_key_at(topic_id, cutoff_us);
    const std::string& begin = resume.empty() ? prefix : resume;
    rocksdb::WriteBatch batch;
    std::uint64_t removed = 0;
    bool finished = true;
    std::string next;  // the first key this slice keeps
    if (resume.empty() && st.last_us < cutoff_us) {
        // Every message of the topic goes: the counter says how many.
        removed = st.count;
        batch.DeleteRange(cf_messages_, prefix, end);
        st = topic_stats{};
        --budget;
    } else {
        rocksdb::ReadOptions ro;
        ro.prefix_same_as_start = true;
        const rocksdb::Slice upper(end);
        ro.iterate_upper_bound = &upper;
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_messages_));
        for (it->Seek(begin); it->Valid(); it->Next()) {
            if (budget == 0) {
                next = it->key().ToString();
                finished = false;
                break;
            }
            --budget;
            ++removed;
        }
        if (!it->status().ok()) {
            note_failure(it->status());
            return true;
        }
        if (removed == 0) return finished;
        batch.DeleteRange(cf_messages_, begin, finished ? end : next);
        st.count = st.count > removed ? st.count - removed : 0;
        // The first message left, if any.
        rocksdb::ReadOptions all;
        std::unique_ptr<rocksdb::Iterator> first(db_->NewIterator(all, cf_messages_));
        first->Seek(finished ? end : next);
        st.first_us = 0;
        message_key k;
        if (first->Valid() && first->key().starts_with(prefix) && decode_message_key(first->key().ToStringView(), k)) {
            st.first_us = k.ts_us;
        }
        if (st.first_us == 0) st = topic_stats{};
    }
    batch.Put(cf_topics_, topic_stats_key(topic_id), encode_stats(st));
    // The counters change only with the messages.
    if (!write(batch)) return true;
    {
        std::lock_guard lock(stats_mutex_);
        stats_[topic_id] = st;
    }
    deleted += removed;
    resume = finished ? std::string() : next;
    return finished;
}

void store::maintain() {
    std::size_t budget = slice_keys;
    while (!maintenance_.empty() && budget > 0) {
        auto& job = *maintenance_.front();
        // A failed store deletes nothing: the job ends with what it did.
        while (!job.topics.empty() && budget > 0 && !write_failed_) {
            const std::uint64_t id = job.topics.front();
            std::uint64_t cutoff = job.before_us;
            if (cutoff == 0) {
                const auto seconds = retention_index_->seconds_for(id);
                cutoff = seconds == 0 || job.now_us < seconds * 1'000'000 ? 0 : job.now_us - seconds * 1'000'000;
            }
            if (cutoff == 0 || delete_slice(id, cutoff, job.resume, budget, job.deleted)) {
                job.topics.erase(job.topics.begin());
                job.resume.clear();
            }
        }
        if (!job.topics.empty() && !write_failed_) return;  // out of budget: the next turn goes on
        if (job.done) job.done(job.deleted);
        maintenance_.pop_front();
    }
}

void store::start_retention(std::uint64_t now_us, std::function<void(std::uint64_t)> done) {
    // Range deletes are small and free space once compacted: short of space
    // is when they matter most. Only a failed store skips them.
    if (write_failed_) {
        if (done) done(0);
        return;
    }
    // One sweep at a time: a sweep still under way covers the next one's topics
    // soon enough (the reader hides expired messages meanwhile).
    for (const auto& job : maintenance_) {
        if (job->before_us == 0 && !done) return;
    }
    auto job = std::make_unique<maintenance_job>();
    job->now_us = now_us;
    job->done = std::move(done);
    {
        std::lock_guard lock(stats_mutex_);
        for (const auto& [id, st] : stats_) {
            if (st.count > 0) job->topics.push_back(id);
        }
    }
    maintenance_.push_back(std::move(job));
}

std::uint64_t store::purge(std::string_view filter, std::uint64_t before_us) {
    if (before_us == 0) return 0;  // nothing is older than the epoch
    std::promise<std::uint64_t> result;
    auto deleted = result.get_future();
    {
        std::lock_guard lock(queue_mutex_);
        writer_tasks_.push_back([this, f = std::string(filter), before_us, &result] {
            auto job = std::make_unique<maintenance_job>();
            job->before_us = before_us;
            job->done = [&result](std::uint64_t n) { result.set_value(n); };
            {
                std::lock_guard dict(dictionary_mutex_);
                for (const auto& [name, id] : topic_ids_) {
                    if (topic::matches(f, name)) job->topics.push_back(id);
                }
            }
            if (write_failed_) return job->done(0);
            maintenance_.push_back(std::move(job));
        });
    }
    queue_cv_.notify_one();
    return deleted.get();
}

std::uint64_t store::sweep_retention(std::uint64_t now) {
    std::promise<std::uint64_t> result;
    auto deleted = result.get_future();
    {
        std::lock_guard lock(queue_mutex_);
        writer_tasks_.push_back(
            [this, now, &result] { start_retention(now, [&result](std::uint64_t n) { result.set_value(n); }); });
    }
    queue_cv_.notify_one();
    return deleted.get();
}

}  // namespace strata::storage
