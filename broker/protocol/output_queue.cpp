#include "protocol/output_queue.hpp"

#include <utility>

namespace strata::protocol {

void output_queue::close_run() {
    if (bytes_.size() > closed_up_to_) {
        segments_.push_back(segment{static_cast<std::uint32_t>(closed_up_to_),
                                    static_cast<std::uint32_t>(bytes_.size() - closed_up_to_), nullptr});
        closed_up_to_ = bytes_.size();
    }
}

void output_queue::append_payload(const message& m) {
    const auto payload = m.payload();
    if (payload.size() <= copy_threshold) {
        bytes_.insert(bytes_.end(), payload.begin(), payload.end());
        return;
    }
    close_run();
    segments_.push_back(segment{0, static_cast<std::uint32_t>(payload.size()), message_ref(&m)});
    referenced_bytes_ += payload.size();
}

std::span<const output_queue::segment> output_queue::segments() {
    close_run();
    return segments_;
}

void output_queue::clear() {
    bytes_.clear();
    segments_.clear();
    closed_up_to_ = 0;
    referenced_bytes_ = 0;
}

void output_queue::trim(std::size_t keep) {
    if (!empty()) return;
    if (bytes_.capacity() > keep) codec::byte_buffer().swap(bytes_);
    if (segments_.capacity() * sizeof(segment) > keep) std::vector<segment>().swap(segments_);
}

void output_queue::swap(output_queue& other) noexcept {
    std::swap(bytes_, other.bytes_);
    std::swap(segments_, other.segments_);
    std::swap(closed_up_to_, other.closed_up_to_);
    std::swap(referenced_bytes_, other.referenced_bytes_);
}

}  // namespace strata::protocol
