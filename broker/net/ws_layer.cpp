#include "net/ws_layer.hpp"

#include <algorithm>
#include <cstring>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <openssl/evp.h>

namespace strata::net {

namespace http = boost::beast::http;

namespace {

enum opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close_frame = 8, ping = 9, pong = 10 };

// Close codes (RFC 6455 7.4.1).
constexpr std::uint16_t close_normal = 1000;
constexpr std::uint16_t close_protocol_error = 1002;
constexpr std::uint16_t close_unsupported_data = 1003;

// Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2).
std::string accept_key(boost::beast::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(key.data(), key.size());
    input += guid;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    EVP_Digest(input.data(), input.size(), digest, &digest_length, EVP_sha1(), nullptr);
    unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    const int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_length));
    return std::string(reinterpret_cast<char*>(encoded), static_cast<std::size_t>(n));
}

// The MQTT subprotocol names clients offer: "mqtt" (MQTT 3.1.1 and 5.0) and
// the MQTT 3.1 era "mqttv3.1". Empty when the client offers others only.
std::string choose_subprotocol(boost::beast::string_view offered) {
    for (const auto& p : http::token_list{offered}) {
        const std::string_view name(p.data(), p.size());
        if (name == "mqtt" || name == "mqttv3.1") return std::string(name);
    }
    return {};
}

}  // namespace

std::span<std::uint8_t> ws_layer::decode(std::span<std::uint8_t> data) {
    if (state_ == state::handshake) return handshake(data);
    if (state_ == state::finished) return {};
    return data.first(decode_frames(data));
}

std::span<std::uint8_t> ws_layer::handshake(std::span<std::uint8_t> data) {
    const std::size_t chunk_start = request_.size();
    request_.append(reinterpret_cast<const char*>(data.data()), data.size());
    // An HTTP request starts with a method name: an MQTT client on the wrong
    // port is told at once instead of waiting for a request that never ends.
    if (!request_.empty() && (request_[0] < 'A' || request_[0] > 'Z')) {
        refuse(400, "Bad Request");
        error_ = "not an HTTP request (an MQTT client on a websockets listener?)";
        return {};
    }
    const auto end = request_.find("\r\n\r\n");
    if (end == std::string::npos) {
        if (request_.size() > max_request_bytes_) refuse(431, "Request Header Fields Too Large");
        return {};
    }
    const std::size_t request_length = end + 4;
    if (request_length > max_request_bytes_) {
        refuse(431, "Request Header Fields Too Large");
        return {};
    }
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(max_request_bytes_));
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(request_.data(), request_length), ec);
    if (ec || !parser.is_done()) {
        refuse(400, "Bad Request");
        error_ = "malformed WebSocket upgrade request";
        return {};
    }
    const auto& req = parser.get();
    path_ = std::string(req.target());
    if (!boost::beast::websocket::is_upgrade(req)) {
        refuse(426, "Upgrade Required", "Upgrade: websocket\r\nConnection: Upgrade\r\n");
        error_ = "not a WebSocket upgrade request (" + std::string(req.method_string()) + " " + path_ + ")";
        return {};
    }
    if (req[http::field::sec_websocket_version] != "13") {
        refuse(426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n");
        error_ = "unsupported WebSocket version '" + std::string(req[http::field::sec_websocket_version]) + "'";
        return {};
    }
    const auto key = req[http::field::sec_websocket_key];
    if (key.size() != 24) {  // base64 of 16 bytes
        refuse(400, "Bad Request");
        error_ = "missing or invalid Sec-WebSocket-Key";
        return {};
    }
    std::string subprotocol;
    if (const auto offered = req[http::field::sec_websocket_protocol]; !offered.empty()) {
        subprotocol = choose_subprotocol(offered);
        if (subprotocol.empty()) {
            refuse(400, "Bad Request");
            error_ = "WebSocket subprotocols '" + std::string(offered) + "' offered, none of them mqtt";
            return {};
        }
    }
    // Without a subprotocol header the client gets MQTT anyway, as from
    // Mosquitto: some embedded clients do not send one.
    std::string answer =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    answer += accept_key(key);
    answer += "\r\n";
    if (!subprotocol.empty()) answer += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n";
    answer += "\r\n";
    control_.insert(control_.end(), answer.begin(), answer.end());
    state_ = state::open;
    std::string().swap(request_);
    // Frames sent right behind the request belong to this chunk.
    const std::size_t consumed_here = request_length - chunk_start;
    return decode(data.subspan(consumed_here));
}

void ws_layer::refuse(int status, std::string_view reason, std::string_view extra_headers) {
    std::string answer = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    answer += extra_headers;
    answer += "Content-Length: 0\r\nConnection: close\r\n\r\n";
    control_.insert(control_.end(), answer.begin(), answer.end());
    if (error_.empty()) error_ = "WebSocket upgrade refused: " + std::to_string(status) + " " + std::string(reason);
    state_ = state::finished;
    std::string().swap(request_);
}

std::size_t ws_layer::decode_frames(std::span<std::uint8_t> data) {
    std::size_t read = 0;
    std::size_t written = 0;  // MQTT bytes compacted to the front of `data`; never ahead of `read`
    while (read < data.size() && state_ == state::open) {
        if (header_length_ < header_needed_) {
            const std::size_t n = std::min<std::size_t>(header_needed_ - header_length_, data.size() - read);
            std::memcpy(header_ + header_length_, data.data() + read, n);
            header_length_ = static_cast<std::uint8_t>(header_length_ + n);
            read += n;
            if (header_length_ < header_needed_) break;
            if (header_needed_ == 2) {
                // The length field's size and the mask decide the header's size.
                const std::uint8_t length7 = header_[1] & 0x7F;
                header_needed_ = static_cast<std::uint8_t>(2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) +
                                                           ((header_[1] & 0x80) ? 4 : 0));
                if (header_length_ < header_needed_) continue;
            }
            if (!start_frame()) break;
            if (remaining_ == 0 && opcode_ >= close_frame) finish_control_frame();
            continue;
        }
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - read));
        std::uint8_t* in = data.data() + read;
        if (opcode_ < close_frame) {
            std::uint8_t* out = data.data() + written;
            for (std::size_t i = 0; i < n; ++i) out[i] = in[i] ^ mask_[(mask_offset_ + i) & 3];
            written += n;
        } else {
            for (std::size_t i = 0; i < n; ++i) control_payload_.push_back(in[i] ^ mask_[(mask_offset_ + i) & 3]);
        }
        mask_offset_ = static_cast<std::uint8_t>((mask_offset_ + n) & 3);
        remaining_ -= n;
        read += n;
        if (remaining_ == 0) {
            if (opcode_ >= close_frame) finish_control_frame();
            header_length_ = 0;
            header_needed_ = 2;
        }
    }
    return written;
}

bool ws_layer::start_frame() {
    fin_ = (header_[0] & 0x80) != 0;
    opcode_ = header_[0] & 0x0F;
    if ((header_[0] & 0x70) != 0) {
        fail(close_protocol_error, "WebSocket frame with reserved bits set (no extension was negotiated)");
        return false;
    }
    if ((header_[1] & 0x80) == 0) {
        fail(close_protocol_error, "unmasked WebSocket frame from a client");
        return false;
    }
    const std::uint8_t length7 = header_[1] & 0x7F;
    std::size_t at = 2;
    if (length7 == 126) {
        remaining_ = (std::uint64_t{header_[2]} << 8) | header_[3];
        at = 4;
    } else if (length7 == 127) {
        remaining_ = 0;
        for (int i = 0; i < 8; ++i) remaining_ = (remaining_ << 8) | header_[2 + i];
        at = 10;
        if (remaining_ >> 63) {
            fail(close_protocol_error, "WebSocket frame length with the top bit set");
            return false;
        }
    } else {
        remaining_ = length7;
    }
    std::memcpy(mask_, header_ + at, 4);
    mask_offset_ = 0;
    switch (opcode_) {
        case continuation:
            if (!in_message_) {
                fail(close_protocol_error, "WebSocket continuation frame without a message to continue");
                return false;
            }
            in_message_ = !fin_;
            break;
        case binary:
            if (in_message_) {
                fail(close_protocol_error, "new WebSocket message inside a fragmented one");
                return false;
            }
            in_message_ = !fin_;
            break;
        case text:
            // MQTT travels in binary frames only [MQTT-6.0.0-1].
            fail(close_unsupported_data, "WebSocket text frame (MQTT needs binary frames)");
            return false;
        case close_frame:
        case ping:
        case pong:
            if (!fin_ || remaining_ > 125) {
                fail(close_protocol_error, "fragmented or oversized WebSocket control frame");
                return false;
            }
            control_payload_.clear();
            break;
        default:
            fail(close_protocol_error, "unknown WebSocket opcode " + std::to_string(opcode_));
            return false;
    }
    if (remaining_ == 0) {
        header_length_ = 0;
        header_needed_ = 2;
    }
    return true;
}

void ws_layer::finish_control_frame() {
    switch (opcode_) {
        case ping:
            control_.push_back(0x80 | pong);
            control_.push_back(static_cast<std::uint8_t>(control_payload_.size()));
            control_.insert(control_.end(), control_payload_.begin(), control_payload_.end());
            break;
        case close_frame: {
            // Echo the peer's status code, then the connection ends.
            std::uint16_t code = close_normal;
            if (control_payload_.size() >= 2) code = static_cast<std::uint16_t>((control_payload_[0] << 8) | control_payload_[1]);
            close(code);
            state_ = state::finished;
            break;
        }
        default: break;  // pong: nothing to do
    }
    control_payload_.clear();
}

void ws_layer::close(std::uint16_t code) {
    if (close_sent_ || state_ == state::handshake) return;
    close_sent_ = true;
    control_.push_back(0x80 | close_frame);
    control_.push_back(2);
    control_.push_back(static_cast<std::uint8_t>(code >> 8));
    control_.push_back(static_cast<std::uint8_t>(code));
}

void ws_layer::fail(std::uint16_t code, std::string reason) {
    error_ = std::move(reason);
    close(code);
    state_ = state::finished;
}

void ws_layer::take_control(std::vector<std::uint8_t>& out) {
    if (control_.empty()) return;
    out.insert(out.end(), control_.begin(), control_.end());
    control_.clear();
}

void ws_layer::append_frame_header(std::vector<std::uint8_t>& out, std::size_t length) {
    out.push_back(0x80 | binary);
    if (length < 126) {
        out.push_back(static_cast<std::uint8_t>(length));
    } else if (length <= 0xFFFF) {
        out.push_back(126);
        out.push_back(static_cast<std::uint8_t>(length >> 8));
        out.push_back(static_cast<std::uint8_t>(length));
    } else {
        out.push_back(127);
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(std::uint64_t{length} >> shift));
    }
}

}  // namespace strata::net
