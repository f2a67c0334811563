"""The broker stays up and keeps serving other clients whatever a connection
sends: garbage, half-sent packets followed by a close, resets, and a bounded
amount of seeded random bytes."""
import random
import socket
import struct
import time

import pytest

from rawmqtt import (PINGRESP, PUBACK, PUBLISH, PUBREC, V311, V5, RawClient, assert_broker_healthy, connect,
                     expect_error_close, open_client, pingreq, publish, subscribe)


@pytest.mark.parametrize("data", [
    pytest.param(b"\xff" * 64, id="ff-bytes"),
    pytest.param(b"\x00" * 64, id="zero-bytes"),
    pytest.param(bytes(range(256)), id="all-bytes"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, id="tls-client-hello"),
])
def test_garbage_after_connect(broker, data):
    c = open_client(broker, "garbage")
    c.send(data)
    expect_error_close(c)
    assert_broker_healthy(broker)


@pytest.mark.parametrize("data", [
    pytest.param(connect("half-connect")[:7], id="connect"),
    pytest.param(b"\x10", id="connect-first-byte"),
    pytest.param(b"\x10\xff\xff", id="connect-partial-length"),
    pytest.param(connect("half-connect-2", remaining_length=0x3FFF)[:40], id="connect-long-length"),
])
def test_half_sent_connect_then_close(broker, data):
    s = socket.create_connection((broker.host, broker.port), timeout=3)
    s.sendall(data)
    s.close()
    assert_broker_healthy(broker)


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
@pytest.mark.parametrize("cut", [1, 2, 5, -1])
def test_half_sent_publish_then_close(broker, version, cut):
    """A PUBLISH cut after `cut` bytes (-1: all but the last byte), then a close; the
    truncated message is not delivered to anyone."""
    watcher = open_client(broker, "half-watch")
    watcher.subscribe(1, [("half/#", 1)])
    c = open_client(broker, "half-pub", version=version, will=dict(topic="half/will", payload=b"w"))
    c.send(publish("half/t", b"p" * 200, qos=1, pid=3, version=version)[:cut])
    c.close()
    got = watcher.recv_n(1, settle=0.5)
    assert [(p.topic, p.payload) for p in got] == [("half/will", b"w")], got
    assert_broker_healthy(broker)


def test_reset_connection_mid_qos2(broker):
    """A client that resets (RST) the connection between PUBREC and PUBREL."""
    c = open_client(broker, "rst")
    c.publish("rst/t", b"x", qos=2, pid=1)
    assert c.expect(PUBREC).pid == 1
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    assert_broker_healthy(broker)


def test_many_connections_closed_abruptly(broker):
    socks = []
    for i in range(50):
        s = socket.create_connection((broker.host, broker.port), timeout=3)
        s.sendall(connect(f"abrupt-{i}", version=V311 if i % 2 else V5)[: (i % 9) + 1])
        socks.append(s)
    for s in socks:
        s.close()
    assert_broker_healthy(broker)


def test_subscriber_gone_while_messages_in_flight(broker):
    """Messages addressed to a subscriber whose socket vanished do not hurt the broker."""
    sub = open_client(broker, "gone-sub", props={"SessionExpiryInterval": 30})
    sub.subscribe(1, [("gone/t", 2)])
    sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sub.close()
    pub = open_client(broker, "gone-pub")
    for i in range(1, 51):
        pub.publish("gone/t", b"z" * 1000, qos=1, pid=i)
    acks = [pub.expect(PUBACK).pid for _ in range(50)]
    assert acks == list(range(1, 51))
    assert_broker_healthy(broker)


def _random_packet(rng):
    kind = rng.randrange(4)
    if kind == 0:  # pure noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if kind == 1:  # a valid packet with one byte flipped
        base = bytearray(rng.choice([
            publish("fz/t", b"payload", qos=1, pid=5, props={"ContentType": "x", "TopicAlias": 2}),
            subscribe(3, [("fz/#", 1)], props={"SubscriptionIdentifier": 9}),
            connect("fuzz"),
        ]))
        i = rng.randrange(len(base))
        base[i] ^= 1 << rng.randrange(8)
        return bytes(base)
    if kind == 2:  # a plausible header with a random body
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        return bytes([rng.randrange(256), len(body)]) + body
    # a valid packet truncated
    full = publish("fz/t", b"x" * 30, qos=2, pid=7, props={"MessageExpiryInterval": 5})
    return full[:rng.randrange(1, len(full))]


def test_seeded_random_bytes(broker):
    """60 connections, each a CONNECT followed by seeded random/mutated bytes; every
    connection either ends or stays usable, and the broker serves clients afterwards."""
    rng = random.Random(20240611)
    for i in range(60):
        c = RawClient(broker, timeout=2)
        v5 = i % 2 == 0
        try:
            c.connect(f"fz-{i}", version=V5 if v5 else V311, expect_connack=False)
            c.send(_random_packet(rng))
            c.recv_all(0.05)
        except (AssertionError, OSError):  # closed by the broker, reset, or undecodable: fine
            pass
        c.close()
    assert_broker_healthy(broker)


def send_in_two(client, data, at):
    """Sends `data` as two TCP segments, cut at byte `at`."""
    client.send(data[:at])
    time.sleep(0.05)
    client.send(data[at:])


@pytest.mark.parametrize("version", [V311, V5])
def test_busy_connection_packets_of_every_size_around_its_read_block(broker, version):
    """A connection that sends often reads into a 512-byte block of its own
    (docs/architecture.md, "Connections"). Packets just under, at and over
    that size, several in one segment, a packet cut across two segments, and
    one far larger than the block, all arrive whole and in order."""
    sub = open_client(broker, f"block-sub-{version}", version=version)
    sub.subscribe(1, [("block/t", 0)])  # no acknowledgements to send
    pub = open_client(broker, f"block-pub-{version}", version=version)
    sizes = list(range(470, 530)) + [1000, 4096, 70000]
    sent = []
    pid = 0
    for n in sizes:
        pid += 1
        payload = bytes((pid + i) % 251 for i in range(n))
        sent.append(payload)
        pub.publish("block/t", payload, qos=1, pid=pid)
        assert pub.expect(PUBACK).pid == pid
    # Three packets in one segment, then one cut in two segments.
    burst = b""
    for n in (200, 600, 300):
        pid += 1
        payload = bytes([pid % 256]) * n
        sent.append(payload)
        burst += publish("block/t", payload, qos=1, pid=pid, version=version)
    pub.send(burst)
    pid += 1
    cut = publish("block/t", b"c" * 700, qos=1, pid=pid, version=version)
    sent.append(b"c" * 700)
    send_in_two(pub, cut, 513)
    acks = [pub.expect(PUBACK).pid for _ in range(4)]
    assert acks == list(range(pid - 3, pid + 1))
    got = sub.recv_n(len(sent), timeout=20)
    assert [p.payload for p in got if p.type == PUBLISH] == sent
    assert_broker_healthy(broker)


@pytest.mark.parametrize("version", [V311, V5])
def test_connection_that_sent_small_packets_takes_any_size_after(broker, version):
    """A busy connection whose last input was small (pings, acknowledgements)
    reads into a 64-byte block (core/input_blocks.hpp). A PUBLISH after each
    ping, of every size around that block, a packet cut at the block's end,
    and packets far larger than it, all arrive whole and in order."""
    sub = open_client(broker, f"small-sub-{version}", version=version)
    sub.subscribe(1, [("small/t", 0)])
    pub = open_client(broker, f"small-pub-{version}", version=version)

    def ping():
        pub.send(pingreq())
        assert pub.expect(PINGRESP).type == PINGRESP

    sizes = list(range(20, 90)) + [500, 4096, 70000]
    sent = []
    pid = 0
    for n in sizes:
        ping()
        pid += 1
        payload = bytes((pid + i) % 251 for i in range(n))
        sent.append(payload)
        pub.publish("small/t", payload, qos=1, pid=pid)
        assert pub.expect(PUBACK).pid == pid
    ping()
    pid += 1
    cut = publish("small/t", b"s" * 300, qos=1, pid=pid, version=version)
    sent.append(b"s" * 300)
    send_in_two(pub, cut, 64)
    assert pub.expect(PUBACK).pid == pid
    got = sub.recv_n(len(sent), timeout=20)
    assert [p.payload for p in got if p.type == PUBLISH] == sent
    assert_broker_healthy(broker)
