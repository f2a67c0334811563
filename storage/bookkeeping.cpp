#include "bookkeeping.hpp"

namespace strata::storage {

namespace {

// Copies a batch's operations into another, leaving out the puts that accept
// a new message. Only the operations the store writes are handled; anything
// else reaches the Handler's default, which fails the iteration.
class bookkeeping_copier final : public rocksdb::WriteBatch::Handler {
public:
    bookkeeping_copier(std::span<rocksdb::ColumnFamilyHandle* const> families, std::uint32_t messages,
                       std::uint32_t sessions, std::uint32_t log, rocksdb::WriteBatch& out)
        : families_(families), messages_(messages), sessions_(sessions), log_(log), out_(out) {}

    rocksdb::Status PutCF(std::uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
        if (cf == messages_ || cf == log_) return rocksdb::Status::OK();  // a message and its export-log entry
        // 'q': an inbound QoS 2 message held until PUBREL; only written when it is accepted.
        if (cf == sessions_ && !key.empty() && key[0] == 'q') return rocksdb::Status::OK();
        return out_.Put(handle(cf), key, value);
    }
    rocksdb::Status DeleteCF(std::uint32_t cf, const rocksdb::Slice& key) override { return out_.Delete(handle(cf), key); }
    rocksdb::Status SingleDeleteCF(std::uint32_t cf, const rocksdb::Slice& key) override {
        return out_.SingleDelete(handle(cf), key);
    }
    rocksdb::Status DeleteRangeCF(std::uint32_t cf, const rocksdb::Slice& begin, const rocksdb::Slice& end) override {
        return out_.DeleteRange(handle(cf), begin, end);
    }

private:
    rocksdb::ColumnFamilyHandle* handle(std::uint32_t cf) const {
        for (auto* h : families_) {
            if (h && h->GetID() == cf) return h;
        }
        return nullptr;  // the default column family
    }

    std::span<rocksdb::ColumnFamilyHandle* const> families_;
    std::uint32_t messages_;
    std::uint32_t sessions_;
    std::uint32_t log_;
    rocksdb::WriteBatch& out_;
};

}  // namespace

rocksdb::Status bookkeeping_of(const rocksdb::WriteBatch& batch, std::span<rocksdb::ColumnFamilyHandle* const> families,
                               rocksdb::ColumnFamilyHandle* messages, rocksdb::ColumnFamilyHandle* sessions,
                               rocksdb::ColumnFamilyHandle* log, rocksdb::WriteBatch& out) {
    bookkeeping_copier copier(families, messages->GetID(), sessions->GetID(), log->GetID(), out);
    return batch.Iterate(&copier);
}

}  // namespace strata::storage
