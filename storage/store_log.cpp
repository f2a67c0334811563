// The export log (docs/exporters.md): with exporters configured, every stored
// message also gets an entry keyed by a store-wide sequence number in commit
// order, written in the same atomic batch as the message. Exporters read the
// log after their cursor, so each one sees every stored message once, in the
// order the store took them, whatever topic they are on, and resumes where it
// left off after a restart or a crash.
#include "store.hpp"

namespace strata::storage {

void store::append_log(write_set& set) {
    // Sequence numbers are handed out on the writer thread only; a failed write
    // leaves a gap, which readers skip.
    std::uint64_t& seq = next_log_seq_;
    char key[8];
    char value[message_key_size];
    for (const auto& m : set.messages) {
        for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(seq >> (56 - 8 * i));
        encode_message_key(message_key{m.topic_id, m.ts_us, m.seq}, value);
        set.batch.Put(cf_log_, rocksdb::Slice(key, 8), rocksdb::Slice(value, message_key_size));
        ++seq;
    }
}

void store::publish_log_end() {
    if (log_end_.load(std::memory_order_relaxed) == next_log_seq_) return;
    {
        std::lock_guard lock(log_mutex_);
        log_end_.store(next_log_seq_, std::memory_order_release);
    }
    log_cv_.notify_all();
}

bool store::wait_for_log(std::uint64_t seq, std::chrono::milliseconds timeout) {
    std::unique_lock lock(log_mutex_);
    return log_cv_.wait_for(lock, timeout, [&] { return log_end_.load(std::memory_order_acquire) > seq + 1; });
}

std::optional<std::uint64_t> store::load_cursor(std::string_view exporter) {
    std::string value;
    const auto s = db_->Get(rocksdb::ReadOptions(), cf_cursors_, rocksdb::Slice(exporter.data(), exporter.size()), &value);
    if (!s.ok() || value.size() != 8) return std::nullopt;
    return get_u64(value.data());
}

bool store::save_cursor(std::string_view exporter, std::uint64_t seq) {
    std::string value;
    put_u64(value, seq);
    // With the write-ahead log whatever the durability mode: a lost cursor
    // only means exporting again, but there is no reason to lose it.
    return db_->Put(rocksdb::WriteOptions(), cf_cursors_, rocksdb::Slice(exporter.data(), exporter.size()), value).ok();
}

bool store::prune_log(std::uint64_t seq) {
    return on_writer([this, seq] {
        std::string begin, end;
        put_u64(begin, 0);
        put_u64(end, seq);
        rocksdb::WriteBatch batch;
        batch.DeleteRange(cf_log_, begin, end);
        // write() refuses at once while the store has failed; the caller retries.
        return std::uint64_t{write(batch) ? 1u : 0u};
    }) != 0;
}

}  // namespace strata::storage
