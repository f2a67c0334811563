// MQTT over WebSocket (RFC 6455, MQTT 5.0 section 6), server side, free of
// I/O: the opening handshake (an HTTP/1.1 upgrade request, parsed by Beast)
// and the framing. Incoming frames are unmasked in place and their payloads
// concatenated, so MQTT packets split across frames or packed into one frame
// reach the MQTT layer as the byte stream they are; frames are never buffered
// whole. Outgoing MQTT bytes go out as one binary frame per write.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace strata::net {

class ws_layer {
public:
    // `max_request_bytes`: the largest upgrade request accepted (websockets_headers_size).
    explicit ws_layer(std::size_t max_request_bytes) : max_request_bytes_(max_request_bytes) {}

    // Consumes bytes from the peer (modifying them in place) and returns the
    // MQTT bytes they carried, a part of `data`. Control frames and the
    // handshake answer are queued for take_control().
    std::span<std::uint8_t> decode(std::span<std::uint8_t> data);

    // Bytes the layer has to send before any further MQTT bytes: the
    // handshake answer, pongs, the close frame. Appended to `out`.
    void take_control(std::vector<std::uint8_t>& out);
    bool has_control() const { return !control_.empty(); }

    // Appends the header of one binary frame carrying `length` MQTT bytes.
    static void append_frame_header(std::vector<std::uint8_t>& out, std::size_t length);

    // Queues a close frame (once) with `code`; nothing is decoded afterwards.
    void close(std::uint16_t code);

    bool open() const { return state_ == state::open; }
    // The peer closed, the handshake was refused or a frame broke the
    // protocol: close the connection once take_control() has been sent.
    bool finished() const { return state_ == state::finished; }
    // Why it finished, for the log; empty after a normal close.
    const std::string& error() const { return error_; }
    // The request's path and the subprotocol chosen, for the log.
    const std::string& path() const { return path_; }

private:
    enum class state : std::uint8_t { handshake, open, finished };

    std::span<std::uint8_t> handshake(std::span<std::uint8_t> data);
    void refuse(int status, std::string_view reason, std::string_view extra_headers = {});
    std::size_t decode_frames(std::span<std::uint8_t> data);
    bool start_frame();
    void finish_control_frame();
    void fail(std::uint16_t code, std::string reason);

    std::size_t max_request_bytes_;
    state state_ = state::handshake;
    std::string request_;  // the upgrade request until it is complete
    std::string path_;
    std::string error_;
    std::vector<std::uint8_t> control_;
    bool close_sent_ = false;

    // The frame being read.
    std::uint8_t header_[14] = {};
    std::uint8_t header_length_ = 0;
    std::uint8_t header_needed_ = 2;
    std::uint8_t opcode_ = 0;
    std::uint8_t mask_[4] = {};
    std::uint8_t mask_offset_ = 0;
    bool fin_ = false;
    bool in_message_ = false;  // a fragmented binary message continues
    std::uint64_t remaining_ = 0;  // payload bytes of this frame still to come
    std::vector<std::uint8_t> control_payload_;  // of a ping or close frame (at most 125 bytes)
};

}  // namespace strata::net
