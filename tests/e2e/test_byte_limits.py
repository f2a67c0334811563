"""max_inflight_bytes and max_queued_bytes with raw clients (man mosquitto.conf):
QoS 1/2 messages go in flight until the byte limit is reached, and are queued
beyond those in flight until the byte limit is reached, whichever of the
message and byte limits comes first. Only payloads count."""
import time

import pytest

from rawmqtt import PUBACK, PUBLISH, V5, assert_broker_healthy, open_client

PAYLOAD = b"p" * 40  # three of them stay below 100 bytes, a fourth does not


def _publish_all(broker, topic, count, name="pub"):
    pub = open_client(broker, name)
    for i in range(count):
        pub.publish(topic, PAYLOAD + bytes([65 + i]), qos=1, pid=i + 1)
    for _ in range(count):
        assert pub.expect(PUBACK).reason_code in (0, 0x10)
    pub.disconnect()


def _letters(packets):
    return [chr(p.payload[-1]) for p in packets]


@pytest.mark.strata_only
def test_max_inflight_bytes(broker_factory):
    """As the man page says: in flight while below the limit. Mosquitto 2.0.11
    lets one more message through in some cases (four of 41 bytes, three of 60,
    but two of 50 and 50), which this test does not follow."""
    b = broker_factory(conf_lines=["max_inflight_bytes 100"])
    sub = open_client(b, "ib-sub")
    sub.subscribe(1, [("ib/t", 1)])
    _publish_all(b, "ib/t", 5)
    first = sub.recv_n(3, settle=0.5)
    # 0, 40 and 80 bytes in flight are below 100: three go; then 120 bytes are in flight.
    assert _letters(first) == ["A", "B", "C"], first
    sub.puback(first[0].pid)  # 80 bytes left in flight: one more goes
    more = sub.recv_n(1, settle=0.5)
    assert _letters(more) == ["D"], more
    for p in first[1:] + more:
        sub.puback(p.pid)
    last = sub.recv_n(1, settle=0.3)
    assert _letters(last) == ["E"], last
    sub.puback(last[0].pid)
    sub.disconnect()
    assert_broker_healthy(b)


def test_max_inflight_bytes_lets_a_larger_message_go_alone(broker_factory):
    b = broker_factory(conf_lines=["max_inflight_bytes 100"])
    sub = open_client(b, "ib-big-sub")
    sub.subscribe(1, [("ib/big", 1)])
    pub = open_client(b, "ib-big-pub")
    pub.publish("ib/big", b"x" * 1000, qos=1, pid=1)
    pub.publish("ib/big", b"small", qos=1, pid=2)
    got = sub.recv_n(1, settle=0.5)
    assert [len(p.payload) for p in got] == [1000], got
    sub.puback(got[0].pid)
    got = sub.recv_n(1, settle=0.3)
    assert [p.payload for p in got] == [b"small"], got
    sub.disconnect()
    pub.disconnect()


def _go_offline(broker, sub, name):
    """Disconnects `sub` and waits until the broker has seen it: messages sent
    before would go in flight instead of into the queue."""
    gone = f"Client {name} disconnected"
    before = broker.log().count(gone)
    sub.disconnect()
    deadline = time.monotonic() + 5
    while broker.log().count(gone) <= before:
        assert time.monotonic() < deadline, f"no '{gone}' in the log"
        time.sleep(0.02)


def _offline_subscriber(broker, name, topic):
    sub = open_client(broker, name, clean=False, props={"SessionExpiryInterval": 300})
    sub.subscribe(1, [(topic, 1)])
    _go_offline(broker, sub, name)


def _reconnect_and_drain(broker, name):
    sub = open_client(broker, name, clean=False, props={"SessionExpiryInterval": 300})
    assert sub.connack.session_present
    got = []
    while True:
        p = sub.recv_packet(0.5)
        if p is None:
            break
        assert p.type == PUBLISH
        got.append(p)
        sub.puback(p.pid)
    _go_offline(broker, sub, name)
    return got


def _sys_dropped(broker, expected, timeout=4.0):
    """$SYS/broker/publish/messages/dropped, once it says `expected` (sys_interval 1)."""
    c = open_client(broker, "sys-dropped")
    c.subscribe(1, [("$SYS/broker/publish/messages/dropped", 0)])
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = c.recv_packet(max(0.0, deadline - time.monotonic()))
        if p is not None and p.type == PUBLISH:
            seen.append(int(p.payload))
            if seen[-1] == expected:
                break
    c.disconnect()
    return seen


def test_max_queued_bytes_offline(broker_factory):
    b = broker_factory(conf_lines=["max_queued_bytes 100", "sys_interval 1"])
    _offline_subscriber(b, "qb-sub", "qb/t")
    _publish_all(b, "qb/t", 5)
    # 0, 40 and 80 queued bytes are below 100: three are queued, the others dropped...
    assert _letters(_reconnect_and_drain(b, "qb-sub")) == ["A", "B", "C"]
    # ... and counted.
    assert _sys_dropped(b, 2)[-1:] == [2]
    assert_broker_healthy(b)


def test_max_queued_messages_comes_first(broker_factory):
    b = broker_factory(conf_lines=["max_queued_bytes 1000", "max_queued_messages 2"])
    _offline_subscriber(b, "qm-sub", "qm/t")
    _publish_all(b, "qm/t", 5)
    assert _letters(_reconnect_and_drain(b, "qm-sub")) == ["A", "B"]


def test_max_queued_bytes_comes_first(broker_factory):
    b = broker_factory(conf_lines=["max_queued_bytes 50", "max_queued_messages 10"])
    _offline_subscriber(b, "qbf-sub", "qbf/t")
    _publish_all(b, "qbf/t", 5)
    assert _letters(_reconnect_and_drain(b, "qbf-sub")) == ["A", "B"]


def test_queued_bytes_free_up_as_messages_are_delivered(broker_factory):
    """After the queue was drained, it takes messages again up to the limit."""
    b = broker_factory(conf_lines=["max_queued_bytes 100"])
    _offline_subscriber(b, "qr-sub", "qr/t")
    _publish_all(b, "qr/t", 5, name="pub1")
    assert len(_reconnect_and_drain(b, "qr-sub")) == 3
    time.sleep(0.2)
    _publish_all(b, "qr/t", 4, name="pub2")
    assert _letters(_reconnect_and_drain(b, "qr-sub")) == ["A", "B", "C"]
