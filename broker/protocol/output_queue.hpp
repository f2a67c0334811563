// Bytes waiting to be written to one connection, as a gather list: packet
// headers and small packets are appended to one byte buffer, while large
// payloads are referenced from the shared message instead of copied, so a
// message fanned out to many subscribers is never copied per subscriber.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "codec/byte_writer.hpp"
#include "session/message.hpp"

namespace strata::protocol {

class output_queue {
public:
    // Payloads up to this size are copied: cheaper than one more iovec.
    static constexpr std::size_t copy_threshold = 512;

    struct segment {
        std::uint32_t offset = 0;  // into bytes() when `payload_of` is null
        std::uint32_t length = 0;
        message_ref payload_of;    // non-null: the payload of this message
    };

    // Append raw packet bytes here.
    codec::byte_buffer& bytes() { return bytes_; }

    // Appends the payload of `m`, by reference when it is large.
    void append_payload(const message& m);

    bool empty() const { return bytes_.empty() && segments_.empty(); }
    std::size_t size() const { return bytes_.size() + referenced_bytes_; }

    // Closes the current byte run and returns every segment in order. The
    // segments stay valid until clear().
    std::span<const segment> segments();
    const std::uint8_t* data(const segment& s) const {
        return s.payload_of ? s.payload_of->payload().data() : bytes_.data() + s.offset;
    }

    // Forgets everything (releasing message references), keeping capacity.
    void clear();
    // Once empty: gives its buffers back when they hold more than `keep`
    // bytes, so that one burst does not pin memory for the connection's life.
    void trim(std::size_t keep);

    void swap(output_queue& other) noexcept;

private:
    void close_run();

    codec::byte_buffer bytes_;
    std::vector<segment> segments_;
    std::size_t closed_up_to_ = 0;  // bytes_ before this offset are covered by segments_
    std::size_t referenced_bytes_ = 0;
};

}  // namespace strata::protocol
