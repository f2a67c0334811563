// Splits a byte stream into MQTT control packets. Both roles of the protocol
// layer (server: protocol::connection, client: protocol::client_connection)
// read through it, so a packet split across reads, or several packets in one
// read, are handled in one place.
//
// Use: data = begin(bytes); while (next(data, consumed, ...) == packet) ...;
// end(data, consumed). Most reads hold whole packets, so nothing is copied
// then: only the tail of a packet that is not complete yet is kept.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "codec/packets.hpp"

namespace strata::protocol {

class packet_framer {
public:
    enum class status { packet, incomplete, malformed, too_large };

    // The bytes to parse: `bytes` itself, or the held tail with `bytes` appended.
    std::span<const std::uint8_t> begin(std::span<const std::uint8_t> bytes) {
        if (held_.empty()) return bytes;
        held_.insert(held_.end(), bytes.begin(), bytes.end());
        return held_;
    }

    // The next packet of `data` from `consumed` on: its header and body, with
    // `consumed` moved past it. `max_size` 0 means no limit; a larger packet
    // is reported as soon as its fixed header is readable.
    static status next(std::span<const std::uint8_t> data, std::size_t& consumed, std::uint32_t max_size,
                       codec::fixed_header& header, codec::bytes_view& body) {
        const auto rest = data.subspan(consumed);
        const auto parsed = codec::parse_fixed_header(rest, header);
        if (parsed == codec::frame_status::incomplete) return status::incomplete;
        if (parsed == codec::frame_status::malformed) return status::malformed;
        if (max_size != 0 && header.total_length() > max_size) return status::too_large;
        if (rest.size() < header.total_length()) return status::incomplete;
        body = rest.subspan(header.header_length, header.remaining_length);
        consumed += header.total_length();
        return status::packet;
    }

    // Keeps what begin()'s data holds after `consumed` for the next read.
    void end(std::span<const std::uint8_t> data, std::size_t consumed) {
        // begin() handed out held_ itself when a tail was waiting (an empty
        // held_ has no storage, so the pointers cannot match otherwise).
        if (!held_.empty() && data.data() == held_.data()) {
            held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(consumed));
            // An idle connection holds no read buffer.
            if (held_.empty()) held_.shrink_to_fit();
        } else if (consumed < data.size()) {
            held_.assign(data.begin() + static_cast<std::ptrdiff_t>(consumed), data.end());
        }
    }

    std::size_t held() const { return held_.size(); }
    bool empty() const { return held_.empty(); }
    // Forgets the held bytes (the connection is closing).
    void clear() {
        held_.clear();
        held_.shrink_to_fit();
    }
    // Hands the held bytes over (to replay them on another worker).
    std::vector<std::uint8_t> take() {
        return std::exchange(held_, {});
    }

private:
    std::vector<std::uint8_t> held_;  // no storage while empty
};

}  // namespace strata::protocol
