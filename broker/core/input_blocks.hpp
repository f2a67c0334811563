// Small read buffers for connections that receive often, one worker's.
//
// A connection that waits for readability with async_wait makes Asio 1.74
// re-arm its socket with an epoll_ctl(EPOLL_CTL_MOD) on every wait: one
// system call per packet received. A read posted with a buffer
// (async_read_some) does not: Asio registers the socket edge-triggered once
// and performs the read itself when the socket becomes readable. That needs
// a buffer per waiting connection, so only connections that received
// something recently read this way (net/tcp_connection.cpp); an idle
// connection holds none. Blocks are kept for reuse, up to a bound, so that
// connections switching between the two ways cause no heap churn. A
// connection that receives only small packets reads into a small block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace strata::core {

class input_block_pool {
public:
    // Big enough for the packets of a typical device (a PUBLISH of a few
    // hundred bytes); a longer packet is read on through the worker's scratch
    // buffer.
    static constexpr std::uint16_t large_block = 512;
    // For connections whose input is acknowledgements and PINGREQs (a
    // subscriber's PUBACKs are 4 bytes each): a 512-byte block would be
    // mostly empty, for every subscriber of a fleet.
    static constexpr std::uint16_t small_block = 64;

    // A block of `size` bytes (large_block or small_block).
    std::unique_ptr<std::uint8_t[]> acquire(std::uint16_t size) {
        auto& free = free_list(size);
        if (free.empty()) return std::make_unique_for_overwrite<std::uint8_t[]>(size);
        auto b = std::move(free.back());
        free.pop_back();
        return b;
    }
    void release(std::unique_ptr<std::uint8_t[]> b, std::uint16_t size) {
        auto& free = free_list(size);
        if (b && free.size() < kept_free) free.push_back(std::move(b));
    }

private:
    std::vector<std::unique_ptr<std::uint8_t[]>>& free_list(std::uint16_t size) {
        return size == small_block ? free_small_ : free_large_;
    }
    // At most this many spare blocks of each size (576 KB) stay with the worker.
    static constexpr std::size_t kept_free = 1024;
    std::vector<std::unique_ptr<std::uint8_t[]>> free_large_;
    std::vector<std::unique_ptr<std::uint8_t[]>> free_small_;
};

}  // namespace strata::core
