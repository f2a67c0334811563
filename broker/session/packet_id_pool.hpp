// Allocates outbound packet identifiers (1..65535) that are not in use
// [MQTT-2.2.1-2]. Ids are handed out in increasing order, so an id comes back
// into use only after 65535 others; a bitmap makes the in-use check O(1).
#pragma once

#include <cstdint>
#include <memory>

namespace strata {

class packet_id_pool {
public:
    // Returns 0 when all 65535 ids are in use.
    std::uint16_t allocate() {
        if (in_use_count_ == 65535) return 0;
        if (!bits_) bits_ = std::make_unique<std::uint64_t[]>(1024);
        for (;;) {
            next_ = static_cast<std::uint16_t>(next_ == 65535 ? 1 : next_ + 1);
            if (!test(next_)) break;
        }
        set(next_, true);
        ++in_use_count_;
        return next_;
    }

    // Marks an id restored from the store as in use.
    void reserve(std::uint16_t id) {
        if (id == 0) return;
        if (!bits_) bits_ = std::make_unique<std::uint64_t[]>(1024);
        if (!test(id)) {
            set(id, true);
            ++in_use_count_;
        }
        next_ = id;
    }

    void release(std::uint16_t id) {
        if (bits_ && test(id)) {
            set(id, false);
            --in_use_count_;
        }
    }

    // Drops the bitmap when nothing is in flight, keeping idle sessions small.
    void shrink() {
        if (in_use_count_ == 0) bits_.reset();
    }

private:
    bool test(std::uint16_t id) const { return (bits_[id >> 6] >> (id & 63)) & 1; }
    void set(std::uint16_t id, bool on) {
        const auto mask = std::uint64_t{1} << (id & 63);
        if (on) bits_[id >> 6] |= mask;
        else bits_[id >> 6] &= ~mask;
    }

    std::unique_ptr<std::uint64_t[]> bits_;
    std::uint16_t next_ = 0;
    std::uint32_t in_use_count_ = 0;
};

}  // namespace strata
