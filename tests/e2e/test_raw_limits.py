"""Configured limits enforced on what clients send: max_packet_size,
retain_available, max_qos, max_inflight_messages (Receive Maximum),
max_topic_alias and message_size_limit, checked with raw packets."""
import pytest

from rawmqtt import (PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, V311, V5, assert_broker_healthy,
                     expect_disconnect, expect_silent_close, open_client)

IMPLEMENTATION_SPECIFIC_ERROR = 0x83
PACKET_TOO_LARGE, RETAIN_NOT_SUPPORTED, QOS_NOT_SUPPORTED = 0x95, 0x9A, 0x9B
RECEIVE_MAXIMUM_EXCEEDED, TOPIC_ALIAS_INVALID = 0x93, 0x94


@pytest.fixture
def limited(broker_factory):
    return broker_factory(conf_lines=["max_packet_size 200", "retain_available false", "max_qos 1",
                                      "max_topic_alias 5"])


@pytest.mark.parametrize("qos", [0, 1])
def test_v5_packet_too_large(limited, qos):
    """[MQTT-3.2.2-15] a packet above the Maximum Packet Size of the CONNACK: DISCONNECT 0x95."""
    c = open_client(limited, "big-5")
    assert c.connack.props.get("MaximumPacketSize") == 200
    c.publish("big", b"x" * 100, qos=qos, pid=1)  # under the limit: fine
    if qos:
        assert c.expect(PUBACK).pid == 1
    c.publish("big", b"x" * 300, qos=qos, pid=2)
    expect_disconnect(c, PACKET_TOO_LARGE)
    assert_broker_healthy(limited)


def test_v5_packet_too_large_announced_by_header_only(limited):
    """The broker can refuse from the fixed header alone: a huge remaining length with no
    body following is answered without waiting for the body."""
    c = open_client(limited, "big-hdr")
    c.send(b"\x30\xff\xff\x7f")  # PUBLISH, remaining length 2 097 151, no body
    expect_disconnect(c, PACKET_TOO_LARGE)
    assert_broker_healthy(limited)


def test_v311_packet_too_large_closes(limited):
    c = open_client(limited, "big-3", version=V311)
    c.publish("big", b"x" * 300, version=V311)
    expect_silent_close(c)
    assert_broker_healthy(limited)


@pytest.mark.parametrize("qos", [0, 1])
def test_v5_retain_not_available(limited, qos):
    """[MQTT-3.2.2-14] retain when Retain Available is 0: DISCONNECT 0x9A."""
    c = open_client(limited, "ret-5")
    assert c.connack.props.get("RetainAvailable") == 0
    c.publish("ret", b"x", qos=qos, retain=True, pid=3)
    expect_disconnect(c, RETAIN_NOT_SUPPORTED)
    assert_broker_healthy(limited)


def test_v5_qos_not_supported(limited):
    """[MQTT-3.2.2-12] QoS 2 PUBLISH when Maximum QoS is 1: DISCONNECT 0x9B; QoS 1 is fine."""
    c = open_client(limited, "qos-5")
    assert c.connack.props.get("MaximumQoS") == 1
    c.publish("q", b"x", qos=1, pid=1)
    assert c.expect(PUBACK).pid == 1
    c.publish("q", b"x", qos=2, pid=2)
    expect_disconnect(c, QOS_NOT_SUPPORTED)
    assert_broker_healthy(limited)


def test_v5_subscribe_qos2_granted_qos1(limited):
    """With max_qos 1 a QoS 2 subscription is granted QoS 1 and messages arrive at QoS 1."""
    c = open_client(limited, "qos-sub")
    assert c.subscribe(1, [("qs", 2)]).reason_codes == [1]
    p = open_client(limited, "qos-pub")
    p.publish("qs", b"m", qos=1, pid=4)
    assert p.expect(PUBACK).pid == 4
    m = c.expect(PUBLISH)
    assert (m.topic, m.payload, m.qos) == ("qs", b"m", 1), m


def test_v5_topic_alias_maximum_configured(limited):
    """max_topic_alias 5: alias 5 is accepted, alias 6 gets DISCONNECT 0x94."""
    c = open_client(limited, "alias-5")
    assert c.connack.props.get("TopicAliasMaximum") == 5
    c.publish("al", b"x", qos=1, pid=1, props={"TopicAlias": 5})
    assert c.expect(PUBACK).pid == 1
    c.publish("al", b"x", qos=1, pid=2, props={"TopicAlias": 6})
    expect_disconnect(c, TOPIC_ALIAS_INVALID)
    assert_broker_healthy(limited)


@pytest.fixture
def inflight3(broker_factory):
    return broker_factory(conf_lines=["max_inflight_messages 3"])


def test_receive_maximum_announced(inflight3):
    """max_inflight_messages 3: CONNACK Receive Maximum 3; three unreleased QoS 2 messages
    are accepted (PUBREC success) and complete normally."""
    c = open_client(inflight3, "rm-ok")
    assert c.connack.props.get("ReceiveMaximum") == 3
    for pid in (1, 2, 3):
        c.publish("rm", b"x", qos=2, pid=pid)
        rec = c.expect(PUBREC)
        assert (rec.pid, rec.reason_code) == (pid, 0), rec
    for pid in (1, 2, 3):
        c.pubrel(pid)
        assert c.expect(PUBCOMP).pid == pid
    # the quota is free again
    c.publish("rm", b"x", qos=2, pid=4)
    assert c.expect(PUBREC).reason_code == 0


@pytest.mark.strata_only
def test_receive_maximum_exceeded(inflight3):
    """[MQTT-3.3.4-9] more unacknowledged QoS 2 PUBLISHes than the Receive Maximum:
    DISCONNECT 0x93. Mosquitto 2.0.11 answers the 4th with PUBREC 0x97 (Quota exceeded)
    and keeps the connection open."""
    c = open_client(inflight3, "rm-exceed")
    assert c.connack.props.get("ReceiveMaximum") == 3
    for pid in (1, 2, 3):
        c.publish("rm", b"x", qos=2, pid=pid)
        assert c.expect(PUBREC).reason_code == 0
    c.publish("rm", b"x", qos=2, pid=4)
    expect_disconnect(c, RECEIVE_MAXIMUM_EXCEEDED)
    assert_broker_healthy(inflight3)


def test_receive_maximum_default_allows_twenty(broker):
    """Without max_inflight_messages the announced Receive Maximum (absent = 65535) is
    honoured: that many unreleased QoS 2 messages (capped at 20 here) all get PUBREC 0."""
    c = open_client(broker, "rm-default")
    rm = c.connack.props.get("ReceiveMaximum", 65535)
    assert rm >= 1
    n = min(rm, 20)
    for pid in range(1, n + 1):
        c.publish("rm", b"x", qos=2, pid=pid)
    recs = [c.expect(PUBREC) for _ in range(n)]
    assert [(r.pid, r.reason_code) for r in recs] == [(pid, 0) for pid in range(1, n + 1)]


# ---- message_size_limit: the payload, not the packet --------------------------
@pytest.fixture
def size_limited(broker_factory):
    return broker_factory(conf_lines=["message_size_limit 100"])


def _size_limit_pair(broker, version, name):
    sub = open_client(broker, f"{name}-sub")
    sub.subscribe(1, [("msl/#", 1)])
    pub = open_client(broker, f"{name}-pub", version=version)
    return sub, pub


def _payloads(sub):
    return [p.payload for p in sub.recv_all(0.5) if p.type == PUBLISH]


@pytest.mark.strata_only
def test_v5_message_size_limit_qos1_puback_0x83(size_limited):
    """A QoS 1 payload over message_size_limit is dropped and its PUBACK says 0x83
    (Mosquitto 2.0.11 says 0x95, which is no PUBACK reason code, table 3.4.2.1); the
    connection stays open and a message at the limit goes through."""
    sub, pub = _size_limit_pair(size_limited, V5, "msl1")
    pub.publish("msl/big", b"x" * 101, qos=1, pid=1)
    ack = pub.expect(PUBACK)
    assert (ack.pid, ack.reason_code) == (1, IMPLEMENTATION_SPECIFIC_ERROR), ack
    pub.publish("msl/ok", b"y" * 100, qos=1, pid=2)
    ack = pub.expect(PUBACK)
    assert (ack.pid, ack.reason_code) == (2, 0), ack
    assert _payloads(sub) == [b"y" * 100]


def test_v5_message_size_limit_qos1_refused_not_delivered(size_limited):
    """Both brokers: an error PUBACK, nothing delivered."""
    sub, pub = _size_limit_pair(size_limited, V5, "msl1b")
    pub.publish("msl/big", b"x" * 101, qos=1, pid=3)
    ack = pub.expect(PUBACK)
    assert ack.pid == 3 and ack.reason_code >= 0x80, ack
    assert _payloads(sub) == []


@pytest.mark.strata_only
def test_v5_message_size_limit_qos2_pubrec_0x83(size_limited):
    """QoS 2: PUBREC 0x83 ends the exchange (section 4.3.3); a PUBREL for it anyway
    finds no packet id (PUBCOMP 0x92)."""
    sub, pub = _size_limit_pair(size_limited, V5, "msl2")
    pub.publish("msl/big", b"x" * 101, qos=2, pid=4)
    rec = pub.expect(PUBREC)
    assert (rec.pid, rec.reason_code) == (4, IMPLEMENTATION_SPECIFIC_ERROR), rec
    pub.pubrel(4)
    comp = pub.expect(PUBCOMP)
    assert (comp.pid, comp.reason_code) == (4, 0x92), comp
    assert _payloads(sub) == []


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_message_size_limit_qos0_dropped(size_limited, version):
    """QoS 0 over the limit: dropped without a word, the connection stays open."""
    sub, pub = _size_limit_pair(size_limited, version, f"msl0-{version}")
    pub.publish("msl/big", b"x" * 101)
    pub.publish("msl/ok", b"small")
    pub.pingreq()
    pub.expect(PINGRESP)
    assert _payloads(sub) == [b"small"]


def test_v311_message_size_limit_qos1_acknowledged_and_dropped(size_limited):
    """3.1.1 has no reason codes: the PUBACK is a plain one (as Mosquitto 2.0.11) and the
    message is not delivered."""
    sub, pub = _size_limit_pair(size_limited, V311, "msl3")
    pub.publish("msl/big", b"x" * 101, qos=1, pid=5)
    ack = pub.expect(PUBACK)
    assert ack.pid == 5 and ack.body == b"\x00\x05", ack
    pub.publish("msl/ok", b"z", qos=1, pid=6)
    assert pub.expect(PUBACK).pid == 6
    assert _payloads(sub) == [b"z"]


@pytest.mark.strata_only
def test_memory_limit_drops_the_message_and_disconnects_its_publisher(broker_factory):
    """memory_limit as in Mosquitto: over it, an incoming PUBLISH is dropped and its publisher
    disconnected (v5: 0x97). Here the limit (1 byte) is under any heap; SIGHUP lifts it."""
    import signal
    import time
    b = broker_factory(conf_lines=["memory_limit 1"])
    deadline = time.monotonic() + 10
    while "is over memory_limit" not in b.log():
        assert time.monotonic() < deadline, b.log()[-2000:]
        time.sleep(0.05)
    watcher = open_client(b, "watch")
    watcher.subscribe(1, [("mem/#", 1)])
    c = open_client(b, "flood")
    c.publish("mem/t", b"x", qos=1, pid=1)
    expect_disconnect(c, 0x97)
    assert watcher.recv_packet(0.5) is None  # dropped, not routed
    b.conf_path.write_text(b.conf_path.read_text().replace("memory_limit 1", "memory_limit 0"))
    b.signal(signal.SIGHUP)
    while "memory_limit lifted" not in b.log():
        assert time.monotonic() < deadline + 10, b.log()[-2000:]
        time.sleep(0.05)
    c = open_client(b, "calm")
    c.publish("mem/t", b"y", qos=1, pid=2)
    assert c.expect(PUBACK).pid == 2
    assert watcher.expect(PUBLISH).payload == b"y"


@pytest.mark.strata_only
def test_memory_limit_drops_outgoing_messages_and_disconnects_their_receivers(broker_factory):
    """memory_limit as in Mosquitto, the outgoing side: over it, a PUBLISH for a client is dropped and
    the client disconnected (v5: 0x97), and an offline session queues nothing. Messages come out while
    over the limit from a retained message sent on SUBSCRIBE and from a will. One worker, so that
    the will reaches the online watcher and the offline session in the same pass."""
    import signal
    b = broker_factory(conf_lines=["memory_limit 0", "threads 1"])

    def set_limit(old, new, logged):
        before = b.log().count(logged)
        b.conf_path.write_text(b.conf_path.read_text().replace(f"memory_limit {old}", f"memory_limit {new}"))
        b.signal(signal.SIGHUP)
        b.await_log(logged, count=before + 1)

    setter = open_client(b, "setter")
    setter.publish("mem/r", b"kept", qos=1, retain=True, pid=1)
    assert setter.expect(PUBACK).pid == 1
    keeper = open_client(b, "keeper", clean=False, props={"SessionExpiryInterval": 300})
    keeper.subscribe(1, [("mem/w", 1)])
    keeper.disconnect()
    b.await_log("Client keeper disconnected.")
    dying = open_client(b, "dying", will=dict(topic="mem/w", payload=b"gone", qos=1))
    watcher = open_client(b, "watcher")
    watcher.subscribe(1, [("mem/w", 1)])

    set_limit(0, 1, "is over memory_limit")
    late = open_client(b, "late")
    late.subscribe(1, [("mem/r", 1)])
    expect_disconnect(late, 0x97)  # the retained message was dropped, not sent
    dying.sock.close()  # no DISCONNECT: the will goes
    expect_disconnect(watcher, 0x97)

    set_limit(1, 0, "memory_limit lifted")
    back = open_client(b, "keeper", clean=False, props={"SessionExpiryInterval": 300})
    assert back.connack.session_present
    assert back.recv_packet(0.5) is None, "an offline session must queue nothing over memory_limit"
    setter.publish("mem/w", b"after", qos=1, pid=2)
    assert setter.expect(PUBACK).pid == 2
    assert back.expect(PUBLISH).payload == b"after"
