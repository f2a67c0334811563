"""QoS 1 and QoS 2 flows at the byte level, inbound (client to broker) and
outbound (broker to a subscriber that acknowledges only when the test says so)."""
import time

import pytest

from rawmqtt import (PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, V311, V5, assert_broker_healthy,
                     open_client)

VERSIONS = pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])


def _session_kw(version, clean):
    """CONNECT arguments for a session that outlives the connection. 3.1.1 needs
    CleanSession 0 from the start; v5 uses Clean Start 1 + Session Expiry the first time."""
    if version == V5:
        return {"clean": clean, "props": {"SessionExpiryInterval": 60}}
    return {"clean": False}


def _publishes(packets):
    return [p for p in packets if p.type == PUBLISH]


# ---- inbound ----------------------------------------------------------------
@VERSIONS
def test_qos1_inbound_puback(broker, version):
    sub = open_client(broker, "q1-sub", version=version)
    sub.subscribe(1, [("q1/t", 1)])
    pub = open_client(broker, "q1-pub", version=version)
    pub.publish("q1/t", b"one", qos=1, pid=0x1234)
    ack = pub.expect(PUBACK)
    assert ack.pid == 0x1234 and ack.flags == 0
    assert ack.reason_code == 0, ack  # there is a subscriber: not 0x10 No matching subscribers
    m = sub.expect(PUBLISH)
    assert (m.topic, m.payload, m.qos, m.dup) == ("q1/t", b"one", 1, False), m
    assert m.pid != 0


@VERSIONS
def test_qos2_inbound_flow(broker, version):
    sub = open_client(broker, "q2-sub", version=version)
    sub.subscribe(1, [("q2/t", 2)])
    pub = open_client(broker, "q2-pub", version=version)
    pub.publish("q2/t", b"two", qos=2, pid=77)
    rec = pub.expect(PUBREC)
    assert rec.pid == 77 and rec.reason_code == 0 and rec.flags == 0, rec
    pub.pubrel(77)
    comp = pub.expect(PUBCOMP)
    assert comp.pid == 77 and comp.reason_code == 0 and comp.flags == 0, comp
    m = sub.expect(PUBLISH)
    assert (m.topic, m.payload, m.qos) == ("q2/t", b"two", 2), m
    sub.pubrec(m.pid)
    rel = sub.expect(PUBREL)
    assert rel.pid == m.pid and rel.flags == 0x02, rel  # [MQTT-3.6.1-1]
    sub.pubcomp(m.pid)
    assert sub.recv_all(0.3) == []


@VERSIONS
def test_qos2_duplicate_before_pubrel_delivered_once(broker, version):
    """[MQTT-4.3.3-10] a QoS 2 PUBLISH repeated (DUP=1, same id) before PUBREL is not
    delivered again; each copy gets a PUBREC."""
    sub = open_client(broker, "q2d-sub", version=version)
    sub.subscribe(1, [("q2d/t", 1)])
    pub = open_client(broker, "q2d-pub", version=version)
    pub.publish("q2d/t", b"once", qos=2, pid=9)
    assert pub.expect(PUBREC).pid == 9
    pub.publish("q2d/t", b"once", qos=2, pid=9, dup=True)
    assert pub.expect(PUBREC).pid == 9
    pub.pubrel(9)
    assert pub.expect(PUBCOMP).pid == 9
    # after PUBCOMP the id is free: a new message with the same id is a new message
    pub.publish("q2d/t", b"again", qos=2, pid=9)
    assert pub.expect(PUBREC).pid == 9
    pub.pubrel(9)
    assert pub.expect(PUBCOMP).pid == 9
    got = []
    for p in _publishes(sub.recv_n(2)):
        got.append(p.payload)
        sub.puback(p.pid)
    assert got == [b"once", b"again"]


@VERSIONS
def test_pubrel_for_unknown_id_gets_pubcomp(broker, version):
    pub = open_client(broker, "rel-unknown", version=version)
    pub.pubrel(4242)
    comp = pub.expect(PUBCOMP)
    assert comp.pid == 4242
    pub.pingreq()
    assert pub.recv_packet(3).name == "PINGRESP"


@pytest.mark.strata_only
def test_v5_pubrel_for_unknown_id_gets_0x92(broker):
    """3.7.2.1: PUBCOMP 0x92 Packet Identifier not found. Mosquitto 2.0.11 answers 0x00."""
    pub = open_client(broker, "rel-unknown-5")
    pub.pubrel(4242)
    comp = pub.expect(PUBCOMP)
    assert (comp.pid, comp.reason_code) == (4242, 0x92), comp
    assert_broker_healthy(broker)


# ---- outbound: resend after reconnect -------------------------------------
@VERSIONS
def test_unacknowledged_outbound_resent_on_reconnect(broker, version):
    """[MQTT-4.4.0-1] on a resumed session the broker resends unacknowledged PUBLISHes with
    DUP=1 and the same packet id [MQTT-3.3.1-1], and PUBREL for messages whose PUBREC it
    got; once acknowledged, nothing is resent again."""
    sub = open_client(broker, "rs-sub", version=version, **_session_kw(version, clean=True))
    assert sub.subscribe(1, [("rs/1", 1), ("rs/2", 2)]).reason_codes == [1, 2]
    pub = open_client(broker, "rs-pub")
    pub.publish("rs/1", b"one", qos=1, pid=1)
    pub.expect(PUBACK)
    for pid, payload in ((2, b"two"), (3, b"three")):
        pub.publish("rs/2", payload, qos=2, pid=pid)
        pub.expect(PUBREC)
        pub.pubrel(pid)
        pub.expect(PUBCOMP)
    first = {p.payload: p for p in _publishes(sub.recv_n(3))}
    assert set(first) == {b"one", b"two", b"three"}, first
    ids = [p.pid for p in first.values()]
    assert 0 not in ids and len(set(ids)) == 3, ids  # distinct, non-zero
    assert all(not p.dup for p in first.values())
    sub.pubrec(first[b"three"].pid)  # "three" reaches the PUBREL stage
    rel = sub.expect(PUBREL)
    assert rel.pid == first[b"three"].pid
    sub.close()  # no PUBACK for "one", no PUBREC for "two", no PUBCOMP for "three"
    time.sleep(0.2)

    sub = open_client(broker, "rs-sub", version=version, **_session_kw(version, clean=False))
    assert sub.connack.session_present
    again = sub.recv_n(3)
    pubs = {p.payload: p for p in _publishes(again)}
    assert set(pubs) == {b"one", b"two"}, again
    for payload in (b"one", b"two"):
        p = pubs[payload]
        assert p.dup and p.pid == first[payload].pid and p.qos == first[payload].qos, p
    rels = [p for p in again if p.type == PUBREL]
    assert [r.pid for r in rels] == [first[b"three"].pid], again
    # [MQTT-4.6.0-1] resent in the original order: PUBREL of "three" is not before "one"/"two"
    # is not required by all brokers, so only completeness is checked here.
    sub.puback(pubs[b"one"].pid)
    sub.pubrec(pubs[b"two"].pid)
    rel2 = sub.expect(PUBREL)
    assert rel2.pid == pubs[b"two"].pid
    sub.pubcomp(rel2.pid)
    sub.pubcomp(first[b"three"].pid)
    assert sub.recv_all(0.5) == []
    sub.close()
    time.sleep(0.2)

    sub = open_client(broker, "rs-sub", version=version, **_session_kw(version, clean=False))
    assert sub.connack.session_present
    assert sub.recv_all(0.7) == []  # everything acknowledged: nothing resent


@VERSIONS
def test_pubrel_resent_until_pubcomp(broker, version):
    """A PUBREL not answered with PUBCOMP is resent after reconnecting (and not the PUBLISH)."""
    sub = open_client(broker, "rl-sub", version=version, **_session_kw(version, clean=True))
    sub.subscribe(1, [("rl/t", 2)])
    pub = open_client(broker, "rl-pub")
    pub.publish("rl/t", b"x", qos=2, pid=1)
    pub.expect(PUBREC)
    pub.pubrel(1)
    pub.expect(PUBCOMP)
    m = sub.expect(PUBLISH)
    sub.pubrec(m.pid)
    assert sub.expect(PUBREL).pid == m.pid
    sub.close()
    time.sleep(0.2)
    sub = open_client(broker, "rl-sub", version=version, **_session_kw(version, clean=False))
    got = sub.recv_n(1)
    assert [(p.type, p.pid) for p in got] == [(PUBREL, m.pid)], got
    sub.pubcomp(m.pid)
    assert sub.recv_all(0.5) == []


# ---- outbound: flow control ------------------------------------------------
def _flood(broker, topic, n, name):
    pub = open_client(broker, name)
    for i in range(1, n + 1):
        pub.publish(topic, str(i).encode(), qos=1, pid=i)
        assert pub.expect(PUBACK).pid == i
    return pub


def _drain_one_by_one(sub, limit, total):
    """Acknowledge the oldest outstanding message one at a time; returns the payloads in
    order and the largest number of unacknowledged PUBLISHes seen."""
    outstanding, order, worst = [], [], 0
    deadline = time.monotonic() + 8
    while len(order) < total and time.monotonic() < deadline:
        for p in _publishes(sub.recv_all(0.3)):
            assert p.pid != 0 and p.pid not in [o.pid for o in outstanding], (p, outstanding)
            outstanding.append(p)
            order.append(p.payload)
        worst = max(worst, len(outstanding))
        if outstanding:
            sub.puback(outstanding.pop(0).pid)
    for p in outstanding:
        sub.puback(p.pid)
    return order, worst


def test_v5_receive_maximum_limits_outbound_initially(broker):
    """[MQTT-3.3.4-7] with Receive Maximum 2 only two unacknowledged QoS 1 PUBLISHes are
    sent; an acknowledgement releases the next one, in order."""
    sub = open_client(broker, "fc-sub", props={"ReceiveMaximum": 2})
    sub.subscribe(1, [("fc/t", 1)])
    _flood(broker, "fc/t", 6, "fc-pub")
    first = _publishes(sub.recv_n(2, settle=0.5))
    assert [p.payload for p in first] == [b"1", b"2"], first
    assert len({p.pid for p in first}) == 2 and all(p.pid for p in first)
    sub.puback(first[0].pid)
    nxt = _publishes(sub.recv_n(1))
    assert nxt and nxt[0].payload == b"3", nxt


@pytest.mark.strata_only
def test_v5_receive_maximum_never_exceeded(broker):
    """[MQTT-3.3.4-7] the limit holds all along: Mosquitto 2.0.11 sends two new messages per
    PUBACK once the queue is used, so three are outstanding with Receive Maximum 2."""
    sub = open_client(broker, "fc2-sub", props={"ReceiveMaximum": 2})
    sub.subscribe(1, [("fc2/t", 1)])
    _flood(broker, "fc2/t", 8, "fc2-pub")
    order, worst = _drain_one_by_one(sub, 2, 8)
    assert order == [str(i).encode() for i in range(1, 9)]
    assert worst <= 2, f"{worst} unacknowledged PUBLISHes with Receive Maximum 2"


@pytest.fixture
def inflight3(broker_factory):
    return broker_factory(conf_lines=["max_inflight_messages 3"])


def test_v311_max_inflight_messages_limits_outbound_initially(inflight3):
    sub = open_client(inflight3, "mi-sub", version=V311)
    sub.subscribe(1, [("mi/t", 1)])
    _flood(inflight3, "mi/t", 6, "mi-pub")
    first = _publishes(sub.recv_n(3, settle=0.5))
    assert [p.payload for p in first] == [b"1", b"2", b"3"], first
    sub.puback(first[0].pid)
    nxt = _publishes(sub.recv_n(1))
    assert nxt and nxt[0].payload == b"4", nxt


@pytest.mark.strata_only
@VERSIONS
def test_max_inflight_messages_never_exceeded(inflight3, version):
    """Same as above, all along (Mosquitto 2.0.11 overshoots after the first PUBACK)."""
    sub = open_client(inflight3, "mi2-sub", version=version)
    sub.subscribe(1, [("mi2/t", 1)])
    _flood(inflight3, "mi2/t", 8, "mi2-pub")
    order, worst = _drain_one_by_one(sub, 3, 8)
    assert order == [str(i).encode() for i in range(1, 9)]
    assert worst <= 3, f"{worst} unacknowledged PUBLISHes with max_inflight_messages 3"


def test_v5_receive_maximum_counts_qos2_until_pubcomp(broker):
    """A QoS 2 message occupies the window until PUBCOMP (not PUBREC) [MQTT-4.9.0-2]."""
    sub = open_client(broker, "fq2-sub", props={"ReceiveMaximum": 1})
    sub.subscribe(1, [("fq2/t", 2)])
    pub = open_client(broker, "fq2-pub")
    for pid in (1, 2):
        pub.publish("fq2/t", str(pid).encode(), qos=2, pid=pid)
        pub.expect(PUBREC)
        pub.pubrel(pid)
        pub.expect(PUBCOMP)
    first = _publishes(sub.recv_n(1, settle=0.5))
    assert [p.payload for p in first] == [b"1"], first
    sub.pubrec(first[0].pid)
    got = sub.recv_n(1, settle=0.5)
    assert [(p.type, p.pid) for p in got] == [(PUBREL, first[0].pid)], got
    sub.pubcomp(first[0].pid)
    second = _publishes(sub.recv_n(1))
    assert [p.payload for p in second] == [b"2"], second


@pytest.mark.strata_only
def test_v5_smaller_receive_maximum_after_reconnect(broker):
    """[MQTT-3.3.4-7] the Receive Maximum of the new connection holds for the resent
    messages too: 10 unacknowledged with Receive Maximum 10, then a reconnect with
    Receive Maximum 2 gets exactly 2 of them (DUP, same ids); each PUBACK releases the
    next one, in order, and the messages queued meanwhile come after them.
    (Mosquitto 2.0.11 resends all ten at once.)"""
    kw = {"props": {"SessionExpiryInterval": 60, "ReceiveMaximum": 10}}
    sub = open_client(broker, "rmr-sub", **kw)
    sub.subscribe(1, [("rmr/t", 1)])
    pub = _flood(broker, "rmr/t", 10, "rmr-pub")
    first = _publishes(sub.recv_n(10, settle=0.5))
    assert [p.payload for p in first] == [str(i).encode() for i in range(1, 11)], first
    ids = [p.pid for p in first]
    sub.close()  # none acknowledged
    time.sleep(0.2)
    for i in (11, 12):  # queued for the offline session, behind the ten in flight
        pub.publish("rmr/t", str(i).encode(), qos=1, pid=i)
        assert pub.expect(PUBACK).pid == i

    sub = open_client(broker, "rmr-sub", clean=False,
                      props={"SessionExpiryInterval": 60, "ReceiveMaximum": 2})
    assert sub.connack.session_present
    got = _publishes(sub.recv_n(2, settle=0.7))
    assert [(p.payload, p.pid, p.dup) for p in got] == [(b"1", ids[0], True), (b"2", ids[1], True)], got
    outstanding, order = list(got), [p.payload for p in got]
    while outstanding:
        sub.puback(outstanding.pop(0).pid)
        more = _publishes(sub.recv_all(0.3))
        assert len(more) <= 1, f"one PUBACK released {len(more)} messages: {more}"
        outstanding += more
        order += [p.payload for p in more]
        assert len(outstanding) <= 2, outstanding
        for p in more:
            n = int(p.payload)
            if n <= 10:  # resent: DUP and the packet id of the first time
                assert p.dup and p.pid == ids[n - 1], p
            else:  # queued meanwhile: sent for the first time
                assert not p.dup, p
    assert order == [str(i).encode() for i in range(1, 13)]
