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
// connections switching between the two ways cause no heap churn.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace strata::core {

// Big enough for the packets of a typical device (a PUBLISH of a few hundred
// bytes, acknowledgements, PINGREQ); a longer packet is read on through the
// worker's scratch buffer.
using input_block = std::array<std::uint8_t, 512>;

class input_block_pool {
public:
    std::unique_ptr<input_block> acquire() {
        if (free_.empty()) return std::make_unique<input_block>();
        auto b = std::move(free_.back());
        free_.pop_back();
        return b;
    }
    void release(std::unique_ptr<input_block> b) {
        if (b && free_.size() < kept_free) free_.push_back(std::move(b));
    }

private:
    // At most this many spare blocks (512 KB) stay with the worker.
    static constexpr std::size_t kept_free = 1024;
    std::vector<std::unique_ptr<input_block>> free_;
};

}  // namespace strata::core
