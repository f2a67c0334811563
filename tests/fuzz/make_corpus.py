#!/usr/bin/env python3
"""Writes the seed corpus of the decoder fuzzer (tests/fuzz/corpus).

Each seed is one mode byte (see fuzz_decoder.cpp) followed by valid MQTT
packets, so the fuzzer starts from inputs that reach deep into the parsers.
Run it again after changing the seeds; the files are committed.
"""
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "corpus"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def packet(kind, flags, body):
    return bytes([(kind << 4) | flags]) + varint(len(body)) + body


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


def connect(level, client_id="c", will=False, v5props=b""):
    flags = 0x02 | (0x04 | 0x08 if will else 0)
    body = s("MQTT") + bytes([level, flags]) + struct.pack(">H", 30)
    if level == 5:
        body += props(v5props)
    body += s(client_id)
    if will:
        if level == 5:
            body += props(bytes([0x18]) + struct.pack(">I", 1))
        body += s("will/t") + s("bye")
    return packet(1, 0, body)


def publish(level, topic, payload, qos=0, pid=1, v5props=b"", retain=False):
    body = s(topic)
    if qos:
        body += struct.pack(">H", pid)
    if level == 5:
        body += props(v5props)
    return packet(3, (qos << 1) | (1 if retain else 0), body + payload)


def subscribe(level, flt, opts=1, pid=1, v5props=b""):
    body = struct.pack(">H", pid)
    if level == 5:
        body += props(v5props)
    return packet(8, 2, body + s(flt) + bytes([opts]))


def write(name, mode, data):
    (OUT / name).write_bytes(bytes([mode]) + data)


def main():
    OUT.mkdir(exist_ok=True)
    for level, mode in ((4, 0x01), (5, 0x02)):
        v = f"v{level}"
        write(f"{v}-connect", mode, connect(level, will=True))
        write(f"{v}-session", mode | 0x08,
              publish(level, "a/b", b"x", qos=1) + publish(level, "a/b", b"y", qos=2, pid=2) +
              packet(6, 2, struct.pack(">H", 2)) + subscribe(level, "a/+", 2, pid=3) +
              packet(10, 2, struct.pack(">H", 4) + (props() if level == 5 else b"") + s("a/+")) +
              packet(12, 0, b"") + packet(14, 0, b""))
        write(f"{v}-retain", mode | 0x08, publish(level, "r/t", b"keep", qos=1, retain=True) +
              subscribe(level, "r/#", 1, pid=5) + publish(level, "r/t", b"", retain=True))
    user = bytes([0x26]) + s("k") + s("v")
    write("v5-props", 0x0A,
          publish(5, "p/q", b"\xe2\x82\xac", qos=1,
                  v5props=bytes([0x01, 1, 0x02]) + struct.pack(">I", 10) + bytes([0x03]) + s("text/plain") +
                  bytes([0x08]) + s("reply/t") + bytes([0x09]) + s(b"\x00\x01") + user) +
          publish(5, "alias/t", b"1", v5props=bytes([0x23, 0, 1])) + publish(5, "", b"2", v5props=bytes([0x23, 0, 1])) +
          subscribe(5, "$share/g/s/#", 0x11, pid=6, v5props=bytes([0x0B, 7])) +
          packet(14, 0, bytes([0x04]) + props(bytes([0x11]) + struct.pack(">I", 0))))
    write("v5-connect-props", 0x02, connect(5, "", v5props=bytes([0x11]) + struct.pack(">I", 60) +
                                            bytes([0x21, 0, 5, 0x22, 0, 3, 0x27]) + struct.pack(">I", 1024)))
    write("v31-connect", 0x00, packet(1, 0, s("MQIsdp") + bytes([3, 2, 0, 10]) + s("old-client")))


if __name__ == "__main__":
    main()
