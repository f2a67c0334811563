// The WebSocket layer without sockets: the upgrade handshake and its
// refusals, frames split and packed in every way, control frames, and the
// protocol errors that end a connection.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "net/ws_layer.hpp"

using strata::net::ws_layer;

namespace {

using bytes = std::vector<std::uint8_t>;

const std::string upgrade_request =
    "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n\r\n";

bytes to_bytes(const std::string& s) { return bytes(s.begin(), s.end()); }

std::string control_text(ws_layer& ws) {
    bytes out;
    ws.take_control(out);
    return std::string(out.begin(), out.end());
}

// A client frame: masked, with the given first byte (FIN + opcode).
bytes frame(std::uint8_t first, const bytes& payload, std::uint32_t mask = 0x37fa213d) {
    bytes f{first};
    const std::size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<std::uint8_t>(0x80 | n));
    } else if (n <= 0xFFFF) {
        f.push_back(0x80 | 126);
        f.push_back(static_cast<std::uint8_t>(n >> 8));
        f.push_back(static_cast<std::uint8_t>(n));
    } else {
        f.push_back(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) f.push_back(static_cast<std::uint8_t>(std::uint64_t{n} >> shift));
    }
    const std::uint8_t key[4] = {static_cast<std::uint8_t>(mask >> 24), static_cast<std::uint8_t>(mask >> 16),
                                 static_cast<std::uint8_t>(mask >> 8), static_cast<std::uint8_t>(mask)};
    f.insert(f.end(), key, key + 4);
    for (std::size_t i = 0; i < n; ++i) f.push_back(payload[i] ^ key[i & 3]);
    return f;
}

bytes binary(const bytes& payload) { return frame(0x82, payload); }

bytes feed(ws_layer& ws, bytes data) {
    auto out = ws.decode(data);
    return bytes(out.begin(), out.end());
}

// Feeds `data` in pieces of `step` bytes and collects the MQTT bytes.
bytes feed_in_pieces(ws_layer& ws, const bytes& data, std::size_t step) {
    bytes mqtt;
    for (std::size_t at = 0; at < data.size(); at += step) {
        bytes piece(data.begin() + static_cast<long>(at),
                    data.begin() + static_cast<long>(std::min(data.size(), at + step)));
        const auto out = feed(ws, piece);
        mqtt.insert(mqtt.end(), out.begin(), out.end());
    }
    return mqtt;
}

ws_layer opened() {
    ws_layer ws(4096);
    feed(ws, to_bytes(upgrade_request));
    REQUIRE(ws.open());
    control_text(ws);
    return ws;
}

}  // namespace

TEST_CASE("ws: the upgrade answer carries the accept key of RFC 6455 and the mqtt subprotocol") {
    ws_layer ws(4096);
    CHECK(feed(ws, to_bytes(upgrade_request)).empty());
    CHECK(ws.open());
    CHECK(ws.path() == "/mqtt");
    const auto answer = control_text(ws);
    CHECK(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    // The example key of RFC 6455 section 1.3.
    CHECK(answer.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    CHECK(answer.find("Sec-WebSocket-Protocol: mqtt\r\n") != std::string::npos);
    CHECK(answer.ends_with("\r\n\r\n"));
}

TEST_CASE("ws: a request split into single bytes, with the first frame right behind it") {
    ws_layer ws(4096);
    bytes data = to_bytes(upgrade_request);
    const bytes connect{0x10, 0x02, 0x00, 0x00};
    const auto f = binary(connect);
    data.insert(data.end(), f.begin(), f.end());
    CHECK(feed_in_pieces(ws, data, 1) == connect);
    CHECK(ws.open());
}

TEST_CASE("ws: mqttv3.1 is accepted, no subprotocol header too, others are refused") {
    SUBCASE("mqttv3.1") {
        ws_layer ws(4096);
        auto req = upgrade_request;
        req.replace(req.find("Protocol: mqtt"), 14, "Protocol: chat, mqttv3.1");
        feed(ws, to_bytes(req));
        CHECK(ws.open());
        CHECK(control_text(ws).find("Sec-WebSocket-Protocol: mqttv3.1\r\n") != std::string::npos);
    }
    SUBCASE("none offered") {
        ws_layer ws(4096);
        auto req = upgrade_request;
        req.erase(req.find("Sec-WebSocket-Protocol: mqtt\r\n"), 30);
        feed(ws, to_bytes(req));
        CHECK(ws.open());
        CHECK(control_text(ws).find("Sec-WebSocket-Protocol") == std::string::npos);
    }
    SUBCASE("only others offered") {
        ws_layer ws(4096);
        auto req = upgrade_request;
        req.replace(req.find("Protocol: mqtt"), 14, "Protocol: chat");
        feed(ws, to_bytes(req));
        CHECK(ws.finished());
        CHECK(control_text(ws).starts_with("HTTP/1.1 400 "));
    }
}

TEST_CASE("ws: requests that are not WebSocket upgrades are refused with an HTTP status") {
    SUBCASE("plain GET") {
        ws_layer ws(4096);
        feed(ws, to_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        CHECK(ws.finished());
        CHECK(control_text(ws).starts_with("HTTP/1.1 426 "));
    }
    SUBCASE("wrong version") {
        ws_layer ws(4096);
        auto req = upgrade_request;
        req.replace(req.find("Version: 13"), 11, "Version: 8");
        feed(ws, to_bytes(req));
        CHECK(ws.finished());
        const auto answer = control_text(ws);
        CHECK(answer.starts_with("HTTP/1.1 426 "));
        CHECK(answer.find("Sec-WebSocket-Version: 13") != std::string::npos);
    }
    SUBCASE("garbage") {
        ws_layer ws(4096);
        // An MQTT CONNECT sent to a websockets listener: refused at its first byte.
        feed(ws, bytes{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c});
        CHECK(ws.finished());
        CHECK(control_text(ws).starts_with("HTTP/1.1 400 "));
    }
    SUBCASE("headers over the limit, even without their end") {
        ws_layer ws(256);
        std::string req = "GET /mqtt HTTP/1.1\r\nCookie: " + std::string(400, 'x');
        feed(ws, to_bytes(req));
        CHECK(ws.finished());
        CHECK(control_text(ws).starts_with("HTTP/1.1 431 "));
    }
}

TEST_CASE("ws: MQTT packets split across frames and packed into one frame come out as one stream") {
    const bytes stream{0x30, 0x05, 0x00, 0x01, 't', 'h', 'i', 0x30, 0x04, 0x00, 0x01, 'u', 'v', 0xC0, 0x00};
    SUBCASE("packed into one frame") {
        auto ws = opened();
        CHECK(feed(ws, binary(stream)) == stream);
    }
    SUBCASE("one byte per frame, fragmented as one message") {
        auto ws = opened();
        bytes wire;
        for (std::size_t i = 0; i < stream.size(); ++i) {
            const std::uint8_t first = static_cast<std::uint8_t>((i + 1 == stream.size() ? 0x80 : 0x00) | (i == 0 ? 0x02 : 0x00));
            const auto f = frame(first, {stream[i]}, static_cast<std::uint32_t>(0x01020304 * (i + 1)));
            wire.insert(wire.end(), f.begin(), f.end());
        }
        CHECK(feed_in_pieces(ws, wire, 3) == stream);
        CHECK(ws.open());
    }
    SUBCASE("many frames arriving a byte at a time") {
        auto ws = opened();
        bytes wire;
        for (int i = 0; i < 3; ++i) {
            const auto f = binary(stream);
            wire.insert(wire.end(), f.begin(), f.end());
        }
        bytes expected;
        for (int i = 0; i < 3; ++i) expected.insert(expected.end(), stream.begin(), stream.end());
        CHECK(feed_in_pieces(ws, wire, 1) == expected);
    }
    SUBCASE("16-bit and 64-bit lengths") {
        auto ws = opened();
        bytes big(70000);
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7);
        bytes medium(300, 0xAB);
        auto wire = binary(medium);
        const auto f = binary(big);
        wire.insert(wire.end(), f.begin(), f.end());
        bytes expected = medium;
        expected.insert(expected.end(), big.begin(), big.end());
        CHECK(feed_in_pieces(ws, wire, 4096) == expected);
    }
}

TEST_CASE("ws: a ping is answered with a pong carrying its payload, between data frames") {
    auto ws = opened();
    bytes wire = binary({0xC0});
    const auto ping = frame(0x89, {'h', 'i'});
    wire.insert(wire.end(), ping.begin(), ping.end());
    const auto second = binary({0xC0, 0x00});
    wire.insert(wire.end(), second.begin(), second.end());
    CHECK(feed(ws, wire) == bytes{0xC0, 0xC0, 0x00});
    bytes control;
    ws.take_control(control);
    CHECK(control == bytes{0x8A, 0x02, 'h', 'i'});
    CHECK(ws.open());
}

TEST_CASE("ws: a close frame is echoed and ends the connection") {
    auto ws = opened();
    feed(ws, frame(0x88, {0x03, 0xE9}));  // 1001 going away
    CHECK(ws.finished());
    CHECK(ws.error().empty());
    bytes control;
    ws.take_control(control);
    CHECK(control == bytes{0x88, 0x02, 0x03, 0xE9});
}

TEST_CASE("ws: protocol errors close with the right status code") {
    auto check_closed_with = [](const bytes& wire, std::uint16_t code) {
        auto ws = opened();
        feed(ws, wire);
        CHECK(ws.finished());
        CHECK_FALSE(ws.error().empty());
        bytes control;
        ws.take_control(control);
        REQUIRE(control.size() == 4);
        CHECK(control[0] == 0x88);
        CHECK(((control[2] << 8) | control[3]) == code);
    };
    SUBCASE("text frame") { check_closed_with(frame(0x81, {'x'}), 1003); }
    SUBCASE("unmasked frame") { check_closed_with(bytes{0x82, 0x01, 0x00}, 1002); }
    SUBCASE("reserved bit") { check_closed_with(frame(0xC2, {0x00}), 1002); }
    SUBCASE("continuation without a message") { check_closed_with(frame(0x80, {0x00}), 1002); }
    SUBCASE("fragmented ping") { check_closed_with(frame(0x09, {0x00}), 1002); }
    SUBCASE("unknown opcode") { check_closed_with(frame(0x83, {0x00}), 1002); }
    SUBCASE("new message inside a fragmented one") {
        auto wire = frame(0x02, {0x10});
        const auto next = frame(0x82, {0x00});
        wire.insert(wire.end(), next.begin(), next.end());
        check_closed_with(wire, 1002);
    }
}

TEST_CASE("ws: the server's frame header for each length class") {
    bytes h;
    ws_layer::append_frame_header(h, 5);
    CHECK(h == bytes{0x82, 0x05});
    h.clear();
    ws_layer::append_frame_header(h, 300);
    CHECK(h == bytes{0x82, 126, 0x01, 0x2C});
    h.clear();
    ws_layer::append_frame_header(h, 70000);
    CHECK(h == bytes{0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70});
}

TEST_CASE("ws: a close requested by the broker is sent once") {
    auto ws = opened();
    ws.close(1000);
    ws.close(1000);
    bytes control;
    ws.take_control(control);
    CHECK(control == bytes{0x88, 0x02, 0x03, 0xE8});
}
