"""A raw MQTT client over WebSocket for edge cases no library produces: MQTT
packets split across frames or several packed in one, control frames, text
frames, bad upgrade requests. It is rawmqtt.RawClient with WebSocket framing
underneath, so every packet helper of RawClient works over it."""
import base64
import os
import socket
import struct
import time

from rawmqtt import V5, ConnectionClosed, RawClient

BINARY, TEXT, CLOSE, PING, PONG = 2, 1, 8, 9, 10


def http_exchange(port, request, tls_ctx=None, timeout=5.0):
    """Sends raw bytes to a websockets listener; returns (status line, whole answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls_ctx:
        sock = tls_ctx.wrap_socket(sock, server_hostname="localhost")
    with sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0].decode(), data


class RawWsClient(RawClient):
    """`frame_size`: every send is split into a fragmented binary message of
    frames of at most this many bytes (None: one frame per send)."""

    def __init__(self, port, version=V5, timeout=5.0, path="/mqtt", subprotocol="mqtt", tls_ctx=None,
                 frame_size=None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls_ctx:
            sock = tls_ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.version = version
        self.timeout = timeout
        self.buf = bytearray()
        self.closed = False
        self.discarded = []
        self.frame_size = frame_size
        self.wsbuf = bytearray()
        self.control = []  # (opcode, payload) of control frames received
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if subprotocol:
            request += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
        self.sock.sendall((request + "\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionClosed(f"closed during the upgrade: {answer!r}")
            answer += chunk
        head, rest = answer.split(b"\r\n\r\n", 1)
        self.status = head.split(b"\r\n", 1)[0].decode()
        self.headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode().partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.wsbuf += rest
        if not self.status.startswith("HTTP/1.1 101"):
            raise ConnectionClosed(f"upgrade refused: {self.status}")

    # -- frames --
    def send_frame(self, opcode, payload, fin=True, mask=True):
        first = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", first, (0x80 if mask else 0) | n)
        elif n <= 0xFFFF:
            header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
        else:
            header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
            header += key
        self.sock.sendall(header + payload)

    def send(self, data):
        data = bytes(data)
        if not self.frame_size:
            self.send_frame(BINARY, data)
            return
        pieces = [data[i:i + self.frame_size] for i in range(0, len(data), self.frame_size)] or [b""]
        for i, piece in enumerate(pieces):
            self.send_frame(BINARY if i == 0 else 0, piece, fin=i == len(pieces) - 1)

    def _frames(self):
        """Complete server frames buffered so far: MQTT bytes to self.buf, control frames to self.control."""
        while len(self.wsbuf) >= 2:
            first, second = self.wsbuf[0], self.wsbuf[1]
            assert not second & 0x80, "the server masked a frame"
            n, at = second & 0x7F, 2
            if n == 126:
                if len(self.wsbuf) < 4:
                    return
                n, at = struct.unpack("!H", self.wsbuf[2:4])[0], 4
            elif n == 127:
                if len(self.wsbuf) < 10:
                    return
                n, at = struct.unpack("!Q", self.wsbuf[2:10])[0], 10
            if len(self.wsbuf) < at + n:
                return
            payload = bytes(self.wsbuf[at:at + n])
            del self.wsbuf[:at + n]
            opcode = first & 0x0F
            if opcode in (BINARY, 0):
                self.buf += payload
            else:
                assert opcode != TEXT, "the server sent a text frame"
                self.control.append((opcode, payload))

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self._frames()
            self.closed = True
            raise ConnectionClosed("connection closed by broker")
        self.wsbuf += chunk
        self._frames()
        return True

    def wait_control(self, opcode, timeout=5.0):
        """The payload of the next control frame of this kind (reading on)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (op, payload) in enumerate(self.control):
                if op == opcode:
                    del self.control[i]
                    return payload
            try:
                if not self._fill(deadline):
                    raise AssertionError(f"no control frame {opcode} within {timeout}s")
            except ConnectionClosed:
                for op, payload in self.control:
                    if op == opcode:
                        return payload
                raise
