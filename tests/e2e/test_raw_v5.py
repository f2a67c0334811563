"""MQTT 5 features at the byte level: topic aliases both ways, subscription
identifiers, the client's Maximum Packet Size, message expiry from the offline
queue, the will after a keep-alive timeout and after the client's DISCONNECT,
the Payload Format Indicator (0x99), and reason strings."""
import time

import pytest

from rawmqtt import (DISCONNECT, PINGRESP, PUBACK, PUBLISH, PUBREC, V311, V5, RawClient, assert_broker_healthy,
                     disconnect, expect_disconnect, open_client, varint)


def _publishes(packets):
    return [p for p in packets if p.type == PUBLISH]


# ---- topic aliases ------------------------------------------------------------
def test_topic_alias_client_to_broker(broker):
    """3.3.2.3.4: a PUBLISH with topic + alias sets the mapping; an empty topic + alias
    then means that topic; a new topic with the same alias replaces the mapping."""
    sub = open_client(broker, "ta-sub")
    sub.subscribe(1, [("ta/in/#", 0)])
    pub = open_client(broker, "ta-pub")
    assert pub.connack.props.get("TopicAliasMaximum", 0) >= 2
    pub.publish("ta/in/a", b"1", props={"TopicAlias": 1})
    pub.publish("", b"2", props={"TopicAlias": 1})
    pub.publish("ta/in/b", b"3", qos=1, pid=5, props={"TopicAlias": 2})
    assert pub.expect(PUBACK).pid == 5
    pub.publish("", b"4", qos=1, pid=6, props={"TopicAlias": 2})
    assert pub.expect(PUBACK).pid == 6
    pub.publish("ta/in/c", b"5", props={"TopicAlias": 1})  # remap alias 1
    pub.publish("", b"6", props={"TopicAlias": 1})
    pubs = _publishes(sub.recv_n(6))
    got = [(p.topic, p.payload) for p in pubs]
    assert got == [("ta/in/a", b"1"), ("ta/in/a", b"2"), ("ta/in/b", b"3"), ("ta/in/b", b"4"),
                   ("ta/in/c", b"5"), ("ta/in/c", b"6")]
    # the subscriber did not announce a Topic Alias Maximum: no alias towards it [MQTT-3.1.2-27]
    assert all("TopicAlias" not in p.props for p in pubs), pubs


def test_topic_alias_mapping_does_not_survive_the_connection(broker):
    """[MQTT-3.3.2-7] mappings are per Network Connection: after a reconnect, an empty topic
    with the old alias is a Protocol Error."""
    pub = open_client(broker, "ta-conn", props={"SessionExpiryInterval": 60})
    pub.publish("ta/x", b"1", qos=1, pid=1, props={"TopicAlias": 1})
    pub.expect(PUBACK)
    pub.disconnect()
    time.sleep(0.1)
    pub = open_client(broker, "ta-conn", clean=False, props={"SessionExpiryInterval": 60})
    pub.publish("", b"2", qos=1, pid=2, props={"TopicAlias": 1})
    expect_disconnect(pub, 0x82)
    assert_broker_healthy(broker)


def test_no_topic_alias_towards_client_without_maximum(broker):
    """[MQTT-3.1.2-27] Topic Alias Maximum absent (0): the broker sends no Topic Alias."""
    sub = open_client(broker, "tan-sub")
    sub.subscribe(1, [("tan/t", 0)])
    pub = open_client(broker, "tan-pub")
    for i in range(3):
        pub.publish("tan/t", str(i).encode())
    got = _publishes(sub.recv_n(3))
    assert [(p.topic, "TopicAlias" in p.props) for p in got] == [("tan/t", False)] * 3, got


@pytest.mark.strata_only
def test_topic_alias_broker_to_client(broker):
    """3.3.2.3.4 broker-to-client aliases (Mosquitto 2.0.11 never sends them): with Topic
    Alias Maximum 2 in CONNECT, the first PUBLISH on a topic carries the topic and an alias
    in 1..2 [MQTT-3.1.2-26], the following ones an empty topic and that alias."""
    sub = open_client(broker, "tab-sub", props={"TopicAliasMaximum": 2})
    sub.subscribe(1, [("tab/#", 1)])
    pub = open_client(broker, "tab-pub")
    for i, topic in enumerate(["tab/x", "tab/x", "tab/y", "tab/x", "tab/y", "tab/x"]):
        pub.publish(topic, str(i).encode(), qos=1, pid=i + 1)
        pub.expect(PUBACK)
    got = _publishes(sub.recv_n(6))
    for p in got:
        sub.puback(p.pid)
    assert [p.payload for p in got] == [str(i).encode() for i in range(6)], got
    x1, x2 = got[0], got[1]
    assert x1.topic == "tab/x" and 1 <= x1.props.get("TopicAlias", 0) <= 2, x1
    assert x2.topic == "" and x2.props.get("TopicAlias") == x1.props["TopicAlias"], x2
    # resolve every PUBLISH with the mappings seen so far: all land on the right topic
    mapping = {}
    resolved = []
    for p in got:
        alias = p.props.get("TopicAlias")
        assert alias is None or 1 <= alias <= 2, p
        if p.topic:
            if alias is not None:
                mapping[alias] = p.topic
            resolved.append(p.topic)
        else:
            assert alias in mapping, p
            resolved.append(mapping[alias])
    assert resolved == ["tab/x", "tab/x", "tab/y", "tab/x", "tab/y", "tab/x"]


# ---- subscription identifiers ---------------------------------------------------
def test_subscription_identifiers_on_delivered_publish(broker):
    """[MQTT-3.3.4-3] / [MQTT-3.3.4-4]: each matching subscription's identifier reaches the
    subscriber (in one PUBLISH or in one per subscription); none without an identifier."""
    sub = open_client(broker, "si-sub")
    assert sub.subscribe(1, [("si/a/#", 1)], props={"SubscriptionIdentifier": 7}).reason_codes == [1]
    assert sub.subscribe(2, [("si/+/x", 1)], props={"SubscriptionIdentifier": 2097152}).reason_codes == [1]
    assert sub.subscribe(3, [("si/c", 1)]).reason_codes == [1]
    pub = open_client(broker, "si-pub")
    for topic in ("si/a/y", "si/b/x", "si/a/x", "si/c"):
        pub.publish(topic, topic.encode())
    ids = {}
    for p in _publishes(sub.recv_n(5, settle=0.5)):
        ids.setdefault(p.topic, []).extend(p.props.get("SubscriptionIdentifier", []))
    assert sorted(ids) == ["si/a/x", "si/a/y", "si/b/x", "si/c"], ids
    assert ids["si/a/y"] == [7]
    assert ids["si/b/x"] == [2097152]
    assert sorted(ids["si/a/x"]) == [7, 2097152]
    assert ids["si/c"] == []


# ---- client's Maximum Packet Size ----------------------------------------------
def test_client_maximum_packet_size_respected(broker):
    """[MQTT-3.1.2-25] a message that would exceed the client's Maximum Packet Size is not
    sent to it (discarded as if delivered); smaller ones still are; the connection stays."""
    sub = open_client(broker, "mps-sub", props={"MaximumPacketSize": 100})
    sub.subscribe(1, [("mps/t", 1)])
    pub = open_client(broker, "mps-pub")
    pub.publish("mps/t", b"a" * 20)
    pub.publish("mps/t", b"b" * 150)
    pub.publish("mps/t", b"c" * 150, qos=1, pid=3)
    assert pub.expect(PUBACK).pid == 3
    pub.publish("mps/t", b"d" * 20, qos=1, pid=4)
    assert pub.expect(PUBACK).pid == 4
    got = _publishes(sub.recv_n(2, settle=0.5))
    assert [p.payload[:1] for p in got] == [b"a", b"d"], got
    for p in got:
        assert 1 + len(varint(len(p.body))) + len(p.body) <= 100, p
        if p.qos:
            sub.puback(p.pid)
    sub.pingreq()
    assert sub.recv_packet(3).name == "PINGRESP"
    # another subscriber without a limit gets everything
    assert_broker_healthy(broker)


# ---- message expiry --------------------------------------------------------------
def test_message_expiry_from_offline_queue(broker):
    """[MQTT-3.3.2-6] the Message Expiry Interval forwarded from the offline queue is the
    received value minus the time spent waiting; an expired message is not delivered
    [MQTT-3.3.2-5]."""
    sub = open_client(broker, "exp-sub", props={"SessionExpiryInterval": 60})
    sub.subscribe(1, [("exp/t", 1)])
    sub.disconnect()
    time.sleep(0.1)
    pub = open_client(broker, "exp-pub")
    pub.publish("exp/t", b"short", qos=1, pid=1, props={"MessageExpiryInterval": 1})
    pub.expect(PUBACK)
    pub.publish("exp/t", b"long", qos=1, pid=2, props={"MessageExpiryInterval": 10})
    pub.expect(PUBACK)
    pub.publish("exp/t", b"forever", qos=1, pid=3)
    pub.expect(PUBACK)
    time.sleep(2.2)
    sub = open_client(broker, "exp-sub", clean=False, props={"SessionExpiryInterval": 60})
    got = _publishes(sub.recv_n(2, settle=0.5))
    for p in got:
        sub.puback(p.pid)
    assert [p.payload for p in got] == [b"long", b"forever"], got
    remaining = got[0].props.get("MessageExpiryInterval")
    assert remaining is not None and 1 <= remaining <= 8, got[0]
    assert "MessageExpiryInterval" not in got[1].props, got[1]


# ---- keep alive ------------------------------------------------------------------
def _keepalive_will(broker, version, limit):
    watcher = open_client(broker, f"ka-watch-{version}")
    watcher.subscribe(1, [("ka/will", 1)])
    c = RawClient(broker, version=version, timeout=3)
    ack = c.connect(f"ka-client-{version}", version=version, keepalive=1,
                    will=dict(topic="ka/will", payload=b"gone", qos=1))
    assert ack.reason_code == 0
    start = time.monotonic()
    assert c.expect_closed(limit), f"not disconnected {limit}s after a 1 s keep alive expired"
    elapsed = time.monotonic() - start
    assert elapsed >= 1.0, f"disconnected after {elapsed:.2f}s, keep alive is 1 s"
    for p in c.discarded:  # [MQTT-3.1.2-22]; a DISCONNECT, if sent, says 0x8D
        assert p.type == DISCONNECT and p.reason_code == 0x8D, c.discarded
    m = watcher.expect(PUBLISH, timeout=3)
    assert (m.topic, m.payload) == ("ka/will", b"gone"), m
    return elapsed


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_keepalive_timeout_publishes_will(broker, version):
    """No packet for 1.5 x keep alive: the broker disconnects and publishes the will.
    Mosquitto 2.0.11 checks keep alives coarsely (observed 1.3 s to 6 s for 1 s)."""
    _keepalive_will(broker, version, limit=8)


@pytest.mark.strata_only
def test_keepalive_timeout_is_timely(broker):
    """[MQTT-3.1.2-22] the disconnect comes at 1.5 x keep alive (plus scheduling slack)."""
    assert _keepalive_will(broker, V5, limit=3.5) <= 3.0


def test_keepalive_respected_with_pings(broker):
    """A client that sends PINGREQ within the keep alive is not disconnected."""
    c = open_client(broker, "ka-alive", keepalive=1)
    for _ in range(5):
        time.sleep(0.5)
        c.pingreq()
        assert c.recv_packet(2).name == "PINGRESP"


# ---- the will and the reason code of the client's DISCONNECT ----------------------
@pytest.mark.parametrize("rc,published", [
    pytest.param(0x00, False, id="0x00-normal"),
    pytest.param(0x04, True, id="0x04-with-will"),
    # Mosquitto 2.0.11 drops the will for every code but 0x04
    pytest.param(0x80, True, id="0x80-unspecified-error", marks=pytest.mark.strata_only),
    pytest.param(0x83, True, id="0x83-implementation-error", marks=pytest.mark.strata_only),
])
def test_will_after_client_disconnect_reason(broker, rc, published):
    """[MQTT-3.14.4-3] / [MQTT-3.1.2-10]: only a normal disconnection (0x00) discards the
    will; with 0x04 or an error code the client did not end normally and the will goes."""
    watcher = open_client(broker, f"dw-watch-{rc}")
    watcher.subscribe(1, [("dw/will", 1)])
    c = open_client(broker, f"dw-client-{rc}", will=dict(topic="dw/will", payload=b"bye", qos=1))
    c.send(disconnect(rc))
    assert c.expect_closed(3), "connection still open after DISCONNECT"
    assert c.discarded == [], f"the broker answered the client's DISCONNECT: {c.discarded}"
    if published:
        m = watcher.expect(PUBLISH, timeout=3)
        assert (m.topic, m.payload) == ("dw/will", b"bye"), m
    else:
        assert watcher.recv_all(1.0) == []


# ---- Payload Format Indicator (3.3.2.3.2) ---------------------------------------------
NOT_UTF8 = b"caf\xc3"  # a truncated two-byte sequence
PAYLOAD_FORMAT_INVALID = 0x99


@pytest.mark.strata_only
def test_payload_format_indicator_invalid_utf8_refused(broker):
    """3.3.2.3.2: a payload declared UTF-8 (indicator 1) that is not may be answered with
    PUBACK/PUBREC 0x99 or DISCONNECT 0x99; strata answers PUBACK / PUBREC 0x99, delivers
    nothing and keeps the connection. Valid UTF-8 with indicator 1, and any bytes with
    indicator 0, go through with their indicator unaltered [MQTT-3.3.2-4].
    (Mosquitto 2.0.11 does not check: PUBACK 0x00.)"""
    sub = open_client(broker, "pfi-sub")
    sub.subscribe(1, [("pfi/#", 1)])
    pub = open_client(broker, "pfi-pub")
    pub.publish("pfi/bad1", NOT_UTF8, qos=1, pid=1, props={"PayloadFormatIndicator": 1})
    ack = pub.expect(PUBACK)
    assert (ack.pid, ack.reason_code) == (1, PAYLOAD_FORMAT_INVALID), ack
    pub.publish("pfi/bad2", NOT_UTF8, qos=2, pid=2, props={"PayloadFormatIndicator": 1})
    rec = pub.expect(PUBREC)
    assert (rec.pid, rec.reason_code) == (2, PAYLOAD_FORMAT_INVALID), rec
    pub.publish("pfi/bad0", NOT_UTF8, props={"PayloadFormatIndicator": 1})  # QoS 0: dropped
    pub.publish("pfi/good", "café".encode(), qos=1, pid=3, props={"PayloadFormatIndicator": 1})
    assert pub.expect(PUBACK).reason_code == 0
    pub.publish("pfi/bytes", NOT_UTF8, qos=1, pid=4, props={"PayloadFormatIndicator": 0})
    assert pub.expect(PUBACK).reason_code == 0
    got = _publishes(sub.recv_n(2, settle=0.5))
    assert [(p.topic, p.payload, p.props.get("PayloadFormatIndicator")) for p in got] == [
        ("pfi/good", "café".encode(), 1), ("pfi/bytes", NOT_UTF8, 0)], got
    pub.pingreq()
    pub.expect(PINGRESP)


@pytest.mark.strata_only
def test_will_payload_format_indicator_invalid_utf8_connack_0x99(broker):
    """3.1.3.2.3: a will payload declared UTF-8 that is not may be refused with CONNACK
    0x99, which strata does, then closes; the same will with valid UTF-8 is accepted.
    (Mosquitto 2.0.11 does not check: CONNACK 0x00.)"""
    c = RawClient(broker, timeout=3)
    ack = c.connect("pfi-will-bad", will=dict(topic="pfi/will", payload=NOT_UTF8,
                                              props={"PayloadFormatIndicator": 1}))
    assert ack.reason_code == PAYLOAD_FORMAT_INVALID, ack
    assert c.expect_closed(3)
    ok = open_client(broker, "pfi-will-ok", will=dict(topic="pfi/will", payload="café".encode(),
                                                       props={"PayloadFormatIndicator": 1}))
    assert ok.connack.reason_code == 0


# ---- reason strings on the broker's DISCONNECT -------------------------------------------
@pytest.mark.strata_only
@pytest.mark.parametrize("props,has_reason_string", [
    pytest.param(None, True, id="default"),
    pytest.param({"RequestProblemInformation": 1}, True, id="rpi-1"),
    # [MQTT-3.1.2-29] allows one on DISCONNECT even then; strata honours the request
    pytest.param({"RequestProblemInformation": 0}, False, id="rpi-0"),
    # [MQTT-3.14.2-3] left out when it would exceed the client's Maximum Packet Size
    pytest.param({"MaximumPacketSize": 20}, False, id="max-packet-size-20"),
])
def test_protocol_violation_reason_string(broker, props, has_reason_string):
    """A protocol violation (a wildcard in a PUBLISH topic) gets DISCONNECT 0x90 with a
    Reason String saying what was wrong, unless the client asked for no problem
    information or the string would not fit (Mosquitto 2.0.11 sends none, and 0x82)."""
    c = open_client(broker, "rs-client", props=props)
    c.publish("rs/+", b"x")
    d = expect_disconnect(c, 0x90)
    if has_reason_string:
        assert "PUBLISH" in d.props.get("ReasonString", ""), d
    else:
        assert "ReasonString" not in d.props, d
    assert_broker_healthy(broker)
