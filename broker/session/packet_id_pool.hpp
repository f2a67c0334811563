// Allocates outbound packet identifiers (1..65535) that are not in use
// [MQTT-2.2.1-2]. Ids are handed out in increasing order, so an id comes back
// into use only after 65535 others.
//
// Which ids are in use: up to `few_limit` of them (a device's session at the
// load most deployments have: one or two messages in flight) sit in a small
// array inside the pool and are searched linearly; more, and a bitmap of all
// 65535 (8 KB) makes the check O(1) until nothing is in flight again. The
// bitmap used to be made for the first message in flight and dropped when
// the last was acknowledged: at a low rate, one 8 KB allocation and its
// zeroing for every message, and 8 KB per session while one was in flight.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

namespace strata {

class packet_id_pool {
public:
    // Returns 0 when all 65535 ids are in use.
    std::uint16_t allocate() {
        if (in_use_count_ == 65535) return 0;
        if (!bits_ && in_use_count_ == few_limit) make_bitmap();
        do {
            next_ = static_cast<std::uint16_t>(next_ == 65535 ? 1 : next_ + 1);
        } while (in_use(next_));
        mark(next_);
        return next_;
    }

    // Marks an id restored from the store as in use.
    void reserve(std::uint16_t id) {
        if (id == 0) return;
        if (!in_use(id)) {
            if (!bits_ && in_use_count_ == few_limit) make_bitmap();
            mark(id);
        }
        next_ = id;
    }

    void release(std::uint16_t id) {
        if (id == 0) return;
        if (bits_) {
            if (!test(id)) return;
            set(id, false);
            --in_use_count_;
            return;
        }
        for (std::uint16_t i = 0; i < in_use_count_; ++i) {
            if (few_[i] == id) {
                few_[i] = few_[--in_use_count_];
                return;
            }
        }
    }

    // Drops the bitmap when nothing is in flight, keeping idle sessions small.
    void shrink() {
        if (in_use_count_ == 0) bits_.reset();
    }

private:
    static constexpr std::uint16_t few_limit = 8;

    bool in_use(std::uint16_t id) const {
        if (bits_) return test(id);
        for (std::uint16_t i = 0; i < in_use_count_; ++i) {
            if (few_[i] == id) return true;
        }
        return false;
    }
    void mark(std::uint16_t id) {
        if (bits_) {
            set(id, true);
        } else {
            few_[in_use_count_] = id;
        }
        ++in_use_count_;
    }
    void make_bitmap() {
        bits_ = std::make_unique<std::uint64_t[]>(1024);
        for (std::uint16_t i = 0; i < in_use_count_; ++i) set(few_[i], true);
    }
    bool test(std::uint16_t id) const { return (bits_[id >> 6] >> (id & 63)) & 1; }
    void set(std::uint16_t id, bool on) {
        const auto mask = std::uint64_t{1} << (id & 63);
        if (on) bits_[id >> 6] |= mask;
        else bits_[id >> 6] &= ~mask;
    }

    std::unique_ptr<std::uint64_t[]> bits_;  // null while few ids are in use
    std::array<std::uint16_t, few_limit> few_{};
    std::uint16_t next_ = 0;
    std::uint16_t in_use_count_ = 0;  // up to 65535
};

}  // namespace strata
