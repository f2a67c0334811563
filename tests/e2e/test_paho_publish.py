"""PUBLISH flows: QoS 0/1/2 in both directions, QoS downgrade, ordering,
offline queues of persistent sessions and the flow-control limits."""
import pytest

from clients import V311, V5, VERSIONS, PacketTypes, props
from clients import client  # noqa: F401  (fixture)

QOS = [0, 1, 2]


def _persistent(client, broker, cid, version, **kw):
    """A client whose session outlives the connection."""
    if version == V5:
        return client(broker, cid, version, clean=kw.pop("clean", True), session_expiry=300, **kw)
    return client(broker, cid, version, clean=kw.pop("clean", False), **kw)


@VERSIONS
@pytest.mark.parametrize("pub_qos", QOS)
@pytest.mark.parametrize("sub_qos", QOS)
def test_qos_delivery_and_downgrade(broker, client, version, pub_qos, sub_qos):
    sub = client(broker, "sub", version)
    assert sub.subscribe("q/t", sub_qos) == [sub_qos]
    pub = client(broker, "pub", version)
    info = pub.publish("q/t", b"payload", pub_qos)  # waits for PUBACK / PUBCOMP
    assert info.is_published()
    m = sub.get()
    assert m.topic == "q/t" and m.payload == b"payload"
    assert m.qos == min(pub_qos, sub_qos)  # 3.1.1 [MQTT-3.8.4-6], 5.0 [MQTT-3.8.4-8]
    assert m.retain is False
    sub.expect_none(0.3)  # exactly once, even for QoS 1 on a quiet network


@VERSIONS
@pytest.mark.parametrize("qos", QOS)
def test_ordering_per_publisher(broker, client, version, qos):
    # [MQTT-4.6.0-6]: messages of one publisher on a topic arrive in order
    sub = client(broker, "sub", version)
    sub.subscribe("order/t", 2)
    pub = client(broker, "pub", version)
    n = 60
    infos = [pub.publish("order/t", str(i).encode(), qos, wait=False) for i in range(n)]
    for info in infos:
        info.wait_for_publish(5)
    got = sub.expect(n)
    assert [int(m.payload) for m in got] == list(range(n))
    assert all(m.qos == qos for m in got)


@VERSIONS
def test_ordering_across_topics_of_one_publisher(broker, client, version):
    sub = client(broker, "sub", version)
    sub.subscribe("ord/#", 1)
    pub = client(broker, "pub", version)
    for i in range(30):
        pub.publish(f"ord/{i % 3}", str(i).encode(), 1, wait=False)
    got = sub.expect(30)
    assert [int(m.payload) for m in got] == list(range(30))


@VERSIONS
def test_cross_version_delivery(broker, client, version):
    other = V5 if version == V311 else V311
    sub = client(broker, "sub", other)
    sub.subscribe("x/t", 2)
    pub = client(broker, "pub", version)
    pub.publish("x/t", b"across", 2)
    m = sub.get()
    assert (m.payload, m.qos) == (b"across", 2)


@VERSIONS
def test_persistent_session_receives_queued_messages(broker, client, version):
    s = _persistent(client, broker, "offline", version)
    assert s.connack.session_present is False
    s.subscribe([("off/q1", 1), ("off/q2", 2), ("off/q0", 0)])
    s.go_offline()  # offline for certain before anything is published

    p = client(broker, "pub", version)
    # QoS 0 is not queued for an offline client by default. It goes first: the
    # broker handles one connection's packets in order, so the PUBACK and
    # PUBCOMP below say it was routed before the subscriber reconnects (sent
    # last, it could be routed after the reconnection, to the client online).
    p.publish("off/q0", b"zero", 0)
    p.publish("off/q1", b"one", 1)
    p.publish("off/q2", b"two", 2)

    s = _persistent(client, broker, "offline", version, clean=False)
    assert s.connack.session_present is True  # 3.1.1 [MQTT-3.2.2-2], 5.0 [MQTT-3.2.2-3]
    got = {m.payload: m for m in s.expect(2)}
    assert set(got) == {b"one", b"two"}
    assert got[b"one"].qos == 1 and got[b"two"].qos == 2
    s.expect_none(0.5)
    # the subscriptions survived too
    p.publish("off/q0", b"live", 0)
    assert s.get().payload == b"live"


@VERSIONS
def test_queued_messages_keep_their_order(broker, client, version):
    s = _persistent(client, broker, "offline", version)
    s.subscribe("offo/t", 1)
    s.go_offline()
    p = client(broker, "pub", version)
    for i in range(10):
        p.publish("offo/t", str(i).encode(), 1)
    s = _persistent(client, broker, "offline", version, clean=False)
    assert [int(m.payload) for m in s.expect(10)] == list(range(10))


@VERSIONS
def test_queue_qos0_messages(broker_factory, client, version):
    b = broker_factory(conf_lines=["queue_qos0_messages true"])
    s = _persistent(client, b, "offline", version)
    s.subscribe("q0/t", 1)
    s.go_offline()
    p = client(b, "pub", version)
    for i in range(3):
        p.publish("q0/t", str(i).encode(), 0)
    s = _persistent(client, b, "offline", version, clean=False)
    got = s.expect(3)
    assert [m.payload for m in got] == [b"0", b"1", b"2"]
    assert all(m.qos == 0 for m in got)


@VERSIONS
def test_max_queued_messages_drops_excess(broker_factory, client, version):
    b = broker_factory(conf_lines=["max_queued_messages 3"])
    s = _persistent(client, b, "offline", version)
    s.subscribe("mq/t", 1)
    s.go_offline()
    p = client(b, "pub", version)
    for i in range(8):
        p.publish("mq/t", str(i).encode(), 1)
    s = _persistent(client, b, "offline", version, clean=False)
    # exactly the bound survives (Mosquitto keeps the oldest and drops newer ones)
    got = s.expect_exactly(3, quiet=0.5)
    payloads = [int(m.payload) for m in got]
    assert payloads == sorted(payloads)
    # the session still works normally afterwards
    p.publish("mq/t", b"after", 1)
    assert s.get().payload == b"after"


@VERSIONS
def test_max_inflight_messages(broker_factory, client, version):
    b = broker_factory(conf_lines=["max_inflight_messages 2"])
    s = client(b, "slow", version, manual_ack=True)
    s.subscribe("inf/t", 1)
    p = client(b, "pub", version)
    for i in range(6):
        p.publish("inf/t", str(i).encode(), 1)
    first = s.expect_exactly(2)  # no more than 2 unacknowledged
    assert [m.payload for m in first] == [b"0", b"1"]
    got = list(first)
    for m in first:
        s.ack(m.mid, 1)
    while len(got) < 6:  # acknowledging releases the rest, in order
        m = s.get()
        got.append(m)
        s.ack(m.mid, 1)
    assert [m.payload for m in got] == [str(i).encode() for i in range(6)]
    s.expect_none(0.3)


def _assert_window_slides_by_one(s, p, topic, window, total):
    for i in range(total):
        p.publish(topic, str(i).encode(), 1)
    inflight = s.expect_exactly(window)
    assert [m.payload for m in inflight] == [str(i).encode() for i in range(window)]
    nxt = window
    while nxt < total:
        s.ack(inflight.pop(0).mid, 1)
        m = s.get()
        assert m.payload == str(nxt).encode()
        inflight.append(m)
        s.expect_none(0.2)  # one acknowledgement frees exactly one slot
        nxt += 1
    for m in inflight:
        s.ack(m.mid, 1)


@pytest.mark.strata_only
@VERSIONS
def test_max_inflight_messages_window_slides_by_one(broker_factory, client, version):
    # Mosquitto 2.0.11 sends two queued messages for each PUBACK once the
    # window (>= 2) is full, so 3 messages end up in flight with
    # max_inflight_messages 2; for a v5 client that exceeds its Receive
    # Maximum, which [MQTT-3.3.4-9] forbids.
    b = broker_factory(conf_lines=["max_inflight_messages 2"])
    s = client(b, "slow", version, manual_ack=True)
    s.subscribe("inf/t", 1)
    p = client(b, "pub", version)
    _assert_window_slides_by_one(s, p, "inf/t", 2, 6)


@pytest.mark.strata_only
def test_v5_receive_maximum_2_window_slides_by_one(broker, client):
    # [MQTT-3.3.4-9]; Mosquitto 2.0.11 overshoots (see above)
    s = client(broker, "rm", V5, manual_ack=True,
               connect_props=props(PacketTypes.CONNECT, ReceiveMaximum=2))
    s.subscribe("rm/t", 1)
    p = client(broker, "pub", V5)
    _assert_window_slides_by_one(s, p, "rm/t", 2, 6)


def test_v5_client_receive_maximum_respected(broker, client):
    # [MQTT-3.3.4-9]: no more unacknowledged QoS>0 PUBLISHes than the client's
    # Receive Maximum
    s = client(broker, "rm", V5, manual_ack=True,
               connect_props=props(PacketTypes.CONNECT, ReceiveMaximum=1))
    s.subscribe("rm/t", 2)
    p = client(broker, "pub", V5)
    for i in range(4):
        p.publish("rm/t", str(i).encode(), 1)
    first = s.expect_exactly(1)
    assert [m.payload for m in first] == [b"0"]
    for expected in (b"1", b"2", b"3"):
        s.ack(first[-1].mid, 1)
        m = s.get()
        assert m.payload == expected
        s.expect_none(0.2)
        first = [m]
    s.ack(first[-1].mid, 1)

