// A FIFO on a growable circular array. Unlike std::deque it allocates
// nothing until the first push (an idle session's queues cost 24 bytes each)
// and keeps its capacity afterwards (no churn per message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace strata {

template <typename T>
class ring_buffer {
public:
    ring_buffer() = default;
    ring_buffer(const ring_buffer&) = delete;
    ring_buffer& operator=(const ring_buffer&) = delete;
    ~ring_buffer() { clear(); }

    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }

    T& operator[](std::size_t i) { return slots_[(head_ + i) & (capacity_ - 1)].value; }
    const T& operator[](std::size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)].value; }
    T& front() { return (*this)[0]; }

    void push_back(T value) {
        if (size_ == capacity_) grow();
        new (&slots_[(head_ + size_) & (capacity_ - 1)].value) T(std::move(value));
        ++size_;
    }

    void pop_front() {
        slots_[head_].value.~T();
        head_ = (head_ + 1) & (capacity_ - 1);
        --size_;
    }

    // Removes element i, keeping the order of the others.
    void erase(std::size_t i) {
        for (std::size_t k = i; k > 0; --k) (*this)[k] = std::move((*this)[k - 1]);
        pop_front();
    }

    void clear() {
        while (size_ > 0) pop_front();
    }

    // Index of the first element for which pred is true, or size().
    template <typename Pred>
    std::size_t find_if(Pred pred) const {
        for (std::size_t i = 0; i < size_; ++i) {
            if (pred((*this)[i])) return i;
        }
        return size_;
    }

private:
    union slot {
        slot() {}
        ~slot() {}
        T value;
    };

    void grow() {
        // From one slot: most sessions of a device fleet have one message in
        // flight at a time, and a queue grows to its working size only once.
        const std::uint32_t next = capacity_ == 0 ? 1 : capacity_ * 2;
        auto bigger = std::make_unique<slot[]>(next);
        for (std::size_t i = 0; i < size_; ++i) {
            new (&bigger[i].value) T(std::move((*this)[i]));
            (*this)[i].~T();
        }
        slots_ = std::move(bigger);
        capacity_ = next;
        head_ = 0;
    }

    std::unique_ptr<slot[]> slots_;
    // 32-bit: a session's queues are bounded far below 4 G entries
    // (max_queued_messages, max_inflight_messages), and every session has two.
    std::uint32_t capacity_ = 0;  // a power of two
    std::uint32_t head_ = 0;
    std::uint32_t size_ = 0;
};

}  // namespace strata
