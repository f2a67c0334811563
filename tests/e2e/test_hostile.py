"""Hostile clients: slowloris, oversized remaining lengths, CONNECT floods,
garbage, half-open sockets, 10,000 subscriptions, deep and long topics, and a
client that never reads while it is flooded. For each: the broker stays up,
other clients keep being served, its memory (VmRSS) stays bounded, and the
offender is closed with the right reason.

test_raw_robustness.py has the short garbage, truncated-packet and reset
cases, test_raw_violations.py the malformed remaining lengths and
test_raw_limits.py max_packet_size with a full packet; they are not repeated.
Every load loop here is bounded in count and in time, on loopback only."""
import os
import random
import re
import select
import socket
import struct
import threading
import time

import pytest

from conftest import BROKER_KIND
from rawmqtt import (CONNACK, DISCONNECT, PUBACK, PUBLISH, SUBACK, UNSUBACK, V311, V5, ConnectionClosed,
                     RawClient, assert_broker_healthy, connect, expect_disconnect, expect_silent_close,
                     open_client, publish, subscribe, unsubscribe)

pytestmark = pytest.mark.strata_only  # strata's keys (connect_timeout, max_connection_rate, ...)

MB = 1 << 20
QUOTA_EXCEEDED, KEEP_ALIVE_TIMEOUT, PACKET_TOO_LARGE = 0x97, 0x8D, 0x95


# ---- helpers ----------------------------------------------------------------
def rss_bytes(broker):
    """The broker process's resident set size (VmRSS)."""
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class RssSampler:
    """Samples the broker's VmRSS every 20 ms in a thread; `peak` is the highest."""

    def __init__(self, broker):
        self.broker = broker
        self.baseline = rss_bytes(broker)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, rss_bytes(self.broker))
            except (OSError, AssertionError):
                return

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self.peak = max(self.peak, rss_bytes(self.broker))
        return self.peak - self.baseline


class At:
    """A broker seen through one of its ports (for assert_broker_healthy)."""

    def __init__(self, broker, port):
        self.host, self.port, self._broker = broker.host, port, broker

    def alive(self):
        return self._broker.alive()

    def log(self):
        return self._broker.log()


def wait_for_log(broker, pattern, timeout=10.0):
    """The first match of `pattern` (a regex) in the broker's log, waiting for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, broker.log())
        if m:
            return m
        time.sleep(0.02)
    raise AssertionError(f"no log line matching {pattern!r}:\n{broker.log()[-3000:]}")


def closed_within(sock, timeout):
    """Reads and discards until the peer closes (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return False
        try:
            if not sock.recv(1 << 16):
                return True
        except (ConnectionResetError, ConnectionAbortedError):
            return True


class Ticker(threading.Thread):
    """Publishes QoS 1 messages on `topic` every 50 ms until stopped, while a
    watcher subscribed to it counts what arrives: other clients' service."""

    def __init__(self, broker, topic, name):
        super().__init__(daemon=True)
        self.broker, self.topic = broker, topic
        self.watcher = open_client(broker, f"{name}-watch")
        self.watcher.subscribe(1, [(topic, 1)])
        self.pub = open_client(broker, f"{name}-pub", version=V311)
        self.sent = 0
        self.stop_flag = threading.Event()
        self.received = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def run(self):
        pid = 0
        deadline = time.monotonic() + 120  # bounded whatever happens
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            pid = pid % 60000 + 1
            self.pub.publish(self.topic, f"{self.sent}".encode(), qos=1, pid=pid)
            self.sent += 1
            self.stop_flag.wait(0.05)

    def _read(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                p = self.watcher.recv_packet(0.2)
            except (ConnectionClosed, OSError):
                return
            if p is not None and p.type == PUBLISH:
                self.received.append(time.monotonic())
                self.watcher.puback(p.pid)
            if self.stop_flag.is_set() and p is None:
                return

    def finish(self):
        """Stops; returns (sent, received) once the last ones had time to arrive."""
        self.stop_flag.set()
        self.join(5)
        self.reader.join(5)
        self.watcher.close()
        self.pub.close()
        return self.sent, len(self.received)


# ---- slowloris ----------------------------------------------------------------
def _trickle(sock, data, interval, deadline):
    """Sends `data` one byte at a time; returns when the broker closes the
    connection (the time it did) or when all was sent / the deadline passed (None)."""
    for b in data:
        if time.monotonic() > deadline:
            return None
        try:
            sock.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic()
        r, _, _ = select.select([sock], [], [], interval)
        if r:
            try:
                if not sock.recv(4096):
                    return time.monotonic()
            except ConnectionResetError:
                return time.monotonic()
            raise AssertionError("the broker answered an incomplete CONNECT")
    return None


def test_slowloris_connect_is_closed_at_connect_timeout(broker_factory):
    """Connections that send their CONNECT one byte every 0.3 s (it would take
    them 10 s) are closed, without an answer, once connect_timeout (2 s) has
    passed; trickling bytes do not extend it. Meanwhile other clients are served."""
    b = broker_factory(conf_lines=["connect_timeout 2"])
    data = connect("slowloris-client-with-a-long-id", version=V5)
    assert len(data) * 0.3 > 6
    socks = [socket.create_connection((b.host, b.port), timeout=5) for _ in range(50)]
    start = time.monotonic()
    results = [None] * len(socks)

    def run(i):
        results[i] = _trickle(socks[i], data, 0.3, start + 8)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(socks))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert_broker_healthy(b)  # while 50 connections trickle
    for t in threads:
        t.join(10)
    for s in socks:
        s.close()
    closed_after = [r - start for r in results if r is not None]
    assert len(closed_after) == len(socks), f"{len(socks) - len(closed_after)} slow connections were not closed"
    # 2 s, checked by a 250 ms tick, plus the time to notice the close.
    assert min(closed_after) >= 1.9 and max(closed_after) < 4.0, closed_after
    b.await_log("sent no CONNECT within 2 s")
    assert_broker_healthy(b)


def test_slow_but_timely_connect_is_served(broker_factory):
    """A CONNECT trickling in one byte every 50 ms, complete well within
    connect_timeout, is accepted like any other."""
    b = broker_factory(conf_lines=["connect_timeout 3"])
    c = RawClient(b, timeout=5)
    data = connect("trickling-but-in-time", version=V5)
    assert len(data) * 0.05 < 2
    for byte in data:
        c.send(bytes([byte]))
        time.sleep(0.05)
    ack = c.expect(CONNACK)
    assert ack.reason_code == 0, ack
    c.subscribe(1, [("slow/t", 1)])
    c.publish("slow/t", b"ok", qos=1, pid=2)
    got = {p.type: p for p in c.recv_n(2)}
    assert got[PUBACK].pid == 2 and got[PUBLISH].payload == b"ok", got
    c.disconnect()


# ---- oversized remaining length -------------------------------------------------
@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_connect_larger_than_max_packet_size_is_closed_at_once(broker_factory, version):
    """A CONNECT announcing 268,435,455 bytes (the most a remaining length can
    say) over max_packet_size is refused from its fixed header: closed at once
    without an answer (no protocol level is known yet), not at connect_timeout."""
    b = broker_factory(conf_lines=["max_packet_size 1000", "connect_timeout 10"])
    c = RawClient(b, timeout=3)
    start = time.monotonic()
    c.send(connect("huge", version=version, remaining_length=268435455)[:20])
    expect_silent_close(c, timeout=3)
    assert time.monotonic() - start < 1.5
    assert_broker_healthy(b)


def test_packet_larger_than_max_packet_size_after_connect_header_only_v311(broker_factory):
    """3.1.1 (test_raw_limits has v5's DISCONNECT 0x95): the header alone closes it."""
    b = broker_factory(conf_lines=["max_packet_size 1000"])
    c = open_client(b, "huge-311", version=V311)
    c.send(b"\x30\xff\xff\xff\x7f")
    expect_silent_close(c)
    assert_broker_healthy(b)


def test_announced_length_is_not_reserved(broker_factory):
    """Without max_packet_size a remaining length of 268,435,455 is legal: the
    broker keeps what actually arrives (here 4 MB), not what is announced."""
    b = broker_factory()
    c = open_client(b, "announcer")
    rss = RssSampler(b)
    c.send(b"\x30\xff\xff\xff\x7f" + struct.pack(">H", 1) + b"t" + b"\x00")
    chunk = b"\x00" * 65536
    for _ in range(64):
        c.send(chunk)
    time.sleep(0.3)
    growth = rss.stop()
    assert growth < 32 * MB, f"RSS grew by {growth / MB:.1f} MB for a 4 MB partial packet"
    c.close()
    assert_broker_healthy(b)


# ---- CONNECT flood ---------------------------------------------------------------
def _flood_connects(host, port, count, prefix):
    """Opens `count` connections as fast as possible, each sending a CONNECT;
    returns (accepted, refused, sockets still open)."""
    socks = []
    refused = 0
    for i in range(count):
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(connect(f"{prefix}-{i}", version=V5 if i % 2 else V311))
            socks.append(s)
        except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
            refused += 1
    accepted, still_open = 0, []
    deadline = time.monotonic() + 10
    for s in socks:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = s.recv(64)
        except (ConnectionResetError, socket.timeout):
            data = b""
        if data[:1] == b"\x20":
            accepted += 1
            still_open.append(s)
        else:
            refused += 1
            s.close()
    return accepted, refused, still_open


def test_connect_flood_without_rate_limit(broker_factory):
    """400 connections opened back to back: every one is accepted, the broker
    keeps serving others during the flood, and memory stays bounded."""
    b = broker_factory(verbose=False)
    rss = RssSampler(b)
    ticker = Ticker(b, "flood/other", "flood0")
    ticker.start()
    accepted, refused, socks = _flood_connects(b.host, b.port, 400, "flood")
    assert_broker_healthy(b)
    sent, received = ticker.finish()
    for s in socks:
        s.close()
    growth = rss.stop()
    assert (accepted, refused) == (400, 0)
    assert received >= sent - 1 and sent > 0, (sent, received)
    assert growth < 64 * MB, f"RSS grew by {growth / MB:.1f} MB for 400 connections"
    assert_broker_healthy(b)


def test_connect_flood_with_max_connection_rate(broker_factory):
    """max_connection_rate 20 on one listener: of 300 connections opened back to
    back, about 20 are accepted (a second's burst) and the rest are closed at
    once, with rate-limited log lines; another listener is not affected, and the
    limited one accepts again a second later."""
    b = broker_factory(conf_lines=["listener 0 127.0.0.1", "max_connection_rate 20"], verbose=False)
    assert len(b.ports) == 2
    limited = b.ports[1]
    start = time.monotonic()
    accepted, refused, socks = _flood_connects(b.host, limited, 300, "rated")
    elapsed = time.monotonic() - start
    assert_broker_healthy(At(b, b.ports[0]))  # the other listener, during the flood's aftermath
    for s in socks:
        s.close()
    assert accepted + refused == 300
    assert 20 <= accepted <= 20 + 20 * elapsed + 2, (accepted, elapsed)
    lines = re.findall(r"denied: max_connection_rate \(20/s\) reached on port \d+ \((\d+) refused", b.log())
    assert 1 <= len(lines) <= elapsed + 2, (lines, elapsed)
    time.sleep(1.2)
    assert_broker_healthy(At(b, limited))


# ---- garbage ---------------------------------------------------------------------
@pytest.mark.parametrize("after_connect", [False, True], ids=["before-connect", "after-connect"])
def test_megabyte_of_garbage(broker_factory, after_connect):
    """A megabyte of random bytes is not buffered: the connection is closed at
    the first invalid byte (v5: DISCONNECT 0x81 after CONNECT; before CONNECT,
    no answer), the rest is discarded, and memory does not grow."""
    b = broker_factory()
    rng = random.Random(5)
    garbage = bytes(rng.randrange(256) for _ in range(4096)) * 256
    # Some random first bytes make a plausible partial packet that waits for more:
    # start with a reserved packet type (0) so the refusal is immediate.
    garbage = b"\x00\x00" + garbage
    rss = RssSampler(b)
    if after_connect:
        c = open_client(b, "garbage-mb")
    else:
        c = RawClient(b, timeout=3)
    try:
        c.sock.sendall(garbage)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while sending: fine
    assert c.expect_closed(3)
    if after_connect:
        assert [(p.type, p.reason_code) for p in c.discarded] in ([(DISCONNECT, 0x81)], []), c.discarded
    else:
        assert c.discarded == []
    growth = rss.stop()
    assert growth < 16 * MB, f"RSS grew by {growth / MB:.1f} MB"
    assert_broker_healthy(b)


# ---- half-open sockets -----------------------------------------------------------
def test_half_open_subscriber_with_traffic_is_closed_by_keep_alive(broker_factory):
    """A subscriber that vanishes without a FIN (here: stops reading and
    sending, its socket left open) while messages flow to it: keep-alive (2 s)
    disconnects it, its will is published, and its socket is released although
    it never reads again (the broker does not wait for its writes forever)."""
    b = broker_factory(conf_lines=["max_client_output_bytes 256KB"])
    watcher = open_client(b, "ho-watch")
    watcher.subscribe(1, [("ho/will", 1)])
    ghost = RawClient(b, rcvbuf=4096)
    ack = ghost.connect("ghost", version=V5, keepalive=2, will=dict(topic="ho/will", payload=b"vanished", qos=1))
    assert ack.reason_code == 0
    ghost.subscribe(1, [("ho/data", 0)])
    pub = open_client(b, "ho-pub", version=V311)
    start = time.monotonic()
    payload = b"h" * 1024
    batch = publish("ho/data", payload, version=V311) * 64
    while time.monotonic() - start < 4:  # about 4 s of traffic to the ghost
        pub.send(batch)
        time.sleep(0.01)
    m = watcher.expect(PUBLISH, timeout=5)
    assert (m.topic, m.payload) == ("ho/will", b"vanished")
    took = time.monotonic() - start
    assert 2.5 < took < 6, took  # 1.5 x keep-alive
    b.await_log("Client ghost has exceeded timeout, disconnecting.")
    # The ghost never read, so the broker's last write (its DISCONNECT) cannot
    # complete: the broker closes the socket anyway after 5 s (one descriptor
    # fewer, the other clients still connected), and reading now shows the end.
    fds = len(os.listdir(f"/proc/{b.proc.pid}/fd"))
    deadline = time.monotonic() + 8
    while len(os.listdir(f"/proc/{b.proc.pid}/fd")) >= fds and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(os.listdir(f"/proc/{b.proc.pid}/fd")) == fds - 1, "the broker kept the half-open connection"
    assert closed_within(ghost.sock, 5)
    pub.close()
    watcher.close()
    assert_broker_healthy(b)


# ---- 10,000 subscriptions --------------------------------------------------------
def test_ten_thousand_subscriptions_from_one_client(broker_factory):
    """10,000 subscriptions in 100 SUBSCRIBE packets: all granted, matching
    works among them, memory stays bounded, and unsubscribing them all works."""
    b = broker_factory(verbose=False)
    rss = RssSampler(b)
    c = open_client(b, "subscriber-10k", timeout=10)
    start = time.monotonic()
    for p in range(100):
        filters = [(f"many/{p * 100 + i}/+", 1) for i in range(100)]
        ack = c.subscribe(p + 1, filters, timeout=10)
        assert ack.reason_codes == [1] * 100, ack
    assert time.monotonic() - start < 30
    growth = rss.stop()
    assert growth < 64 * MB, f"RSS grew by {growth / MB:.1f} MB for 10,000 subscriptions"
    pub = open_client(b, "publisher-10k", version=V311)
    for pid, n in enumerate([0, 4321, 9999], start=1):
        pub.publish(f"many/{n}/x", str(n).encode(), qos=1, pid=pid)
        m = c.expect(PUBLISH)
        assert (m.topic, m.payload) == (f"many/{n}/x", str(n).encode())
        c.puback(m.pid)
    pub.publish("many/10000/x", b"no subscriber", qos=0)
    for p in range(100):
        c.unsubscribe(200 + p, [f"many/{p * 100 + i}/+" for i in range(100)])
        ack = c.expect(UNSUBACK, timeout=10)
        assert ack.pid == 200 + p and ack.reason_codes == [0] * 100, ack
    pub.publish("many/4321/x", b"after", qos=0)
    assert c.recv_all(0.5) == []  # neither the unsubscribed nor the unmatched one
    c.disconnect()
    pub.disconnect()
    assert_broker_healthy(b)


# ---- deep and long topics -------------------------------------------------------
def _exchange(b, filters, topic, payload, name):
    """Subscribers for each filter; one QoS 1 PUBLISH on `topic`; returns what each got."""
    subs = []
    for i, f in enumerate(filters):
        s = open_client(b, f"{name}-s{i}", timeout=10)
        assert s.subscribe(1, [(f, 1)], timeout=10).reason_codes == [1]
        subs.append(s)
    p = open_client(b, f"{name}-p", timeout=10)
    p.publish(topic, payload, qos=1, pid=1)
    assert p.expect(PUBACK, timeout=10).pid == 1
    got = [s.recv_n(1, timeout=10) for s in subs]
    for s in subs + [p]:
        s.disconnect()
    return got


def _unlimited_depth(broker_factory):
    """strata refuses topics deeper than max_topic_levels (200) by default;
    these tests check that the subscription trie copes when the limit is off."""
    return broker_factory(conf_lines=["max_topic_levels 0"] if BROKER_KIND == "strata" else [])


def test_thousand_topic_levels(broker_factory):
    broker = _unlimited_depth(broker_factory)
    topic = "deep/" + "/".join(str(i) for i in range(999))
    filters = [topic, "+/" * 999 + "+", "deep/#", "+/0/1/2/#"]
    got = _exchange(broker, filters, topic, b"down here", "lvl1000")
    for g in got:
        assert [(m.topic, m.payload) for m in g] == [(topic, b"down here")]
    assert_broker_healthy(broker)


@pytest.mark.parametrize("shape", ["slashes", "letters"])
def test_longest_topic(broker_factory, shape):
    """A topic of 65,535 bytes, the longest a UTF-8 string can be: made of
    slashes it has 65,536 (empty) levels, so the subscription trie is as deep
    as it can be; subscribed exactly, with '#', and retained."""
    broker = _unlimited_depth(broker_factory)
    topic = "/" * 65535 if shape == "slashes" else "L" * 65535
    got = _exchange(broker, [topic, "#"], topic, b"long", f"long-{shape}")
    for g in got:
        assert [(len(m.topic), m.payload) for m in g] == [(65535, b"long")]
    c = open_client(broker, f"long-retain-{shape}", timeout=10)
    c.publish(topic, b"kept", qos=1, pid=1, retain=True)
    assert c.expect(PUBACK, timeout=10).pid == 1
    r = open_client(broker, f"long-retain-sub-{shape}", timeout=10)
    r.subscribe(1, [(topic, 1)], timeout=10)
    m = r.expect(PUBLISH, timeout=10)
    assert (len(m.topic), m.payload, m.retain) == (65535, b"kept", True)
    c.publish(topic, b"", qos=1, pid=2, retain=True)  # clear it again
    c.expect(PUBACK, timeout=10)
    c.disconnect()
    r.disconnect()
    assert_broker_healthy(broker)


def test_topic_longer_than_max_packet_size(broker_factory):
    b = broker_factory(conf_lines=["max_packet_size 1000"])
    c = open_client(b, "long-limited")
    c.publish("x" * 2000, b"", qos=0)
    expect_disconnect(c, PACKET_TOO_LARGE)
    s = open_client(b, "long-limited-sub")
    s.send(subscribe(1, [("y" * 2000, 1)]))
    expect_disconnect(s, PACKET_TOO_LARGE)
    assert_broker_healthy(b)


# ---- a client that never reads ---------------------------------------------------
FLOOD_PAYLOAD = 4096
FLOOD_MESSAGES = 25000  # 100 MB


def _slow_subscriber(b, name, version=V5):
    """Connects, subscribes to flood/# at QoS 0, and never reads again (a small
    receive buffer so that the kernel holds little on its behalf)."""
    c = RawClient(b, rcvbuf=4096)
    assert c.connect(name, version=version).reason_code == 0
    c.subscribe(1, [("flood/#", 0)])
    return c


def _flood(b, seconds=30):
    """Publishes FLOOD_MESSAGES QoS 0 messages of FLOOD_PAYLOAD bytes as fast as
    the broker reads them (bounded in time); returns how many were sent."""
    pub = open_client(b, "flooder", version=V311)
    batch = publish("flood/t", b"f" * FLOOD_PAYLOAD, version=V311) * 100
    deadline = time.monotonic() + seconds
    sent = 0
    while sent < FLOOD_MESSAGES and time.monotonic() < deadline:
        pub.send(batch)
        sent += 100
    pub.disconnect()
    return sent


class ByteCounter(threading.Thread):
    """A fast subscriber to flood/#: reads as fast as it can and counts bytes."""

    def __init__(self, b):
        super().__init__(daemon=True)
        self.c = open_client(b, "fast-reader")
        self.c.subscribe(1, [("flood/#", 0)])
        self.bytes = 0
        self.stop_flag = threading.Event()

    def run(self):
        self.c.sock.settimeout(0.2)
        deadline = time.monotonic() + 120
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            try:
                n = len(self.c.sock.recv(1 << 20))
            except socket.timeout:
                continue
            except OSError:
                return
            if n == 0:
                return
            self.bytes += n


def test_never_reading_client_qos0_dropped(broker_factory):
    """slow_client_action drop_qos0 (the default): 100 MB of QoS 0 to a client
    that never reads. The broker's RSS stays within a bound derived from
    max_client_output_bytes (1 MB here: the pending output and the write under
    way of each of the two flood subscribers, plus slack), the drops are counted
    in $SYS and logged once, a fast subscriber keeps receiving, and other
    clients' messages keep flowing."""
    cap = 1 * MB
    b = broker_factory(conf_lines=["max_client_output_bytes 1MB", "sys_interval 1"], verbose=False)
    slow = _slow_subscriber(b, "never-reads")
    fast = ByteCounter(b)
    fast.start()
    ticker = Ticker(b, "other/t", "qos0")
    ticker.start()
    time.sleep(0.3)
    rss = RssSampler(b)
    sent = _flood(b)
    growth = rss.stop()
    fast.stop_flag.set()
    fast.join(5)
    t_sent, t_received = ticker.finish()
    print(f"drop_qos0: sent {sent} x {FLOOD_PAYLOAD} B; RSS baseline {rss.baseline / MB:.1f} MB, "
          f"peak {rss.peak / MB:.1f} MB (+{growth / MB:.1f} MB); fast reader got {fast.bytes / MB:.1f} MB")
    assert sent == FLOOD_MESSAGES
    bound = 8 * cap + 24 * MB
    assert growth < bound, f"RSS grew by {growth / MB:.1f} MB (bound {bound / MB:.0f} MB)"
    assert fast.bytes > 10 * MB, fast.bytes
    assert t_received >= t_sent - 1 and t_sent >= 5, (t_sent, t_received)
    assert len(re.findall(r"Client never-reads from \S+ does not read fast enough", b.log())) == 1
    sys_client = open_client(b, "sys-reader")
    sys_client.subscribe(1, [("$SYS/broker/publish/messages/dropped", 0)])
    dropped = [int(p.payload) for p in sys_client.recv_n(3, timeout=3.5) if p.type == PUBLISH]
    assert dropped and max(dropped) > FLOOD_MESSAGES // 2, dropped  # most of the flood never fit
    sys_client.disconnect()
    assert not slow.closed
    slow.close()
    assert_broker_healthy(b)


def test_never_reading_client_disconnected(broker_factory):
    """slow_client_action disconnect: the client that never reads is
    disconnected once its pending output reaches the cap; when it finally
    reads, it finds what was already on its way, then DISCONNECT 0x97 (Quota
    exceeded) and the end of the connection. Memory stays bounded, other
    clients are served."""
    cap = 1 * MB
    b = broker_factory(conf_lines=["max_client_output_bytes 1MB", "slow_client_action disconnect"],
                       verbose=False)
    slow = _slow_subscriber(b, "never-reads")
    ticker = Ticker(b, "other/t", "disc")
    ticker.start()
    rss = RssSampler(b)
    result = {}

    def drain_on_disconnect():
        # Starts reading as soon as the broker says it disconnects the client:
        # the DISCONNECT waits behind the write under way for at most 5 s.
        wait_for_log(b, r"Client never-reads from \S+ does not read fast enough .*disconnecting", 30)
        packets = []
        try:
            while True:
                p = slow.recv_packet(5)
                if p is None:
                    result["error"] = "no close"
                    return
                packets.append(p)
        except ConnectionClosed:
            pass
        result["packets"] = packets

    drainer = threading.Thread(target=drain_on_disconnect, daemon=True)
    drainer.start()
    sent = _flood(b)
    drainer.join(40)
    growth = rss.stop()
    t_sent, t_received = ticker.finish()
    print(f"disconnect: sent {sent}; RSS baseline {rss.baseline / MB:.1f} MB, peak {rss.peak / MB:.1f} MB "
          f"(+{growth / MB:.1f} MB)")
    assert "error" not in result, result
    packets = result["packets"]
    assert packets and packets[-1].type == DISCONNECT and packets[-1].reason_code == QUOTA_EXCEEDED, packets[-3:]
    assert all(p.type == PUBLISH for p in packets[:-1])
    assert len(packets) - 1 < FLOOD_MESSAGES // 4  # the backlog was not kept for it
    bound = 4 * cap + 24 * MB
    assert growth < bound, f"RSS grew by {growth / MB:.1f} MB (bound {bound / MB:.0f} MB)"
    assert t_received >= t_sent - 1 and t_sent >= 1, (t_sent, t_received)
    assert_broker_healthy(b)
