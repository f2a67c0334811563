"""Where the MQTT specification leaves a choice, or a conf or password file
can be read more than one way, strata does what Mosquitto does, so that
devices, scripts and monitoring written against Mosquitto keep working.
Every test here also runs against Debian's Mosquitto
(STRATA_TEST_BROKER=mosquitto) unless marked strata_only, which is how
"matches Mosquitto" is shown. docs/mosquitto-compat.md lists the rest."""
import re

import pytest

from conftest import BROKER_KIND
from rawmqtt import (DISCONNECT, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, V311, V5, RawClient, expect_disconnect, open_client,
                     pingreq, puback, pubcomp, pubrec, pubrel, sub_options)

MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
PACKET_TOO_LARGE = 0x95
NOT_AUTHORIZED_V311 = 5


# ---------------------------------------------------------------- message_size_limit and wills

@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_will_over_message_size_limit_is_refused_at_connect(broker_factory, version):
    b = broker_factory(conf_lines=["message_size_limit 1"])
    watcher = open_client(b, f"will-watch-{version}", V5)
    watcher.subscribe(1, [("will/size", sub_options(0))])
    with RawClient(b, version=version) as big:
        ack = big.connect("will-big", version=version, will=dict(topic="will/size", payload=b"AB", qos=0))
        assert ack.reason_code == (PACKET_TOO_LARGE if version == V5 else NOT_AUTHORIZED_V311), ack
        if version == V5:
            assert ack.body == bytes([0, PACKET_TOO_LARGE, 0]), ack  # no properties, as Mosquitto
        assert big.expect_closed(3.0)
    small = RawClient(b, version=version)
    ack = small.connect("will-small", version=version, will=dict(topic="will/size", payload=b"A", qos=0))
    assert ack.reason_code == 0, ack
    small.sock.close()  # no DISCONNECT: the will goes
    m = watcher.expect(PUBLISH)
    assert m.payload == b"A", m
    assert watcher.recv_packet(0.3) is None, "the refused client's will must never be published"


# ---------------------------------------------------------------- acknowledgements of the wrong kind

def _expect_refusal(c, version, code):
    """strata: DISCONNECT with `code` in 5.0, a plain close in 3.1.1. Mosquitto 2.0.11 closes without a
    DISCONNECT in both (docs/mosquitto-compat.md)."""
    if version == V5 and BROKER_KIND == "strata":
        expect_disconnect(c, code)
    else:
        assert c.expect_closed(3.0), "connection not closed"
        assert all(p.type == DISCONNECT for p in c.discarded), c.discarded


def _expect_protocol_error(c, version):
    _expect_refusal(c, version, PROTOCOL_ERROR)


@pytest.mark.parametrize("qos, wrong", [(1, pubrec), (2, puback), (2, pubcomp)],
                         ids=["PUBREC-for-QoS1", "PUBACK-for-QoS2", "PUBCOMP-before-PUBREL"])
@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_an_acknowledgement_of_the_wrong_kind_is_a_protocol_error(broker, version, qos, wrong):
    sub = open_client(broker, f"wrong-ack-{version}-{qos}-{wrong.__name__}", version)
    sub.subscribe(1, [("wrong/ack", sub_options(qos))])
    pub = open_client(broker, f"wrong-ack-pub-{version}-{qos}-{wrong.__name__}", V5)
    pub.publish("wrong/ack", b"x", qos=qos, pid=1)
    if qos == 2:  # Mosquitto passes a QoS 2 message on at PUBREL
        assert pub.expect(PUBREC).pid == 1
        pub.send(pubrel(1))
        assert pub.expect(PUBCOMP).pid == 1
    m = sub.expect(PUBLISH)
    assert m.qos == qos, m
    sub.send(wrong(m.pid, version=version))
    _expect_protocol_error(sub, version)


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_acknowledgements_of_unknown_packet_ids_are_tolerated(broker, version):
    # A late duplicate is no error: PUBACK and PUBCOMP are ignored, PUBREC gets a PUBREL.
    c = open_client(broker, f"unknown-ack-{version}", version)
    c.send(puback(77, version=version))
    c.send(pubcomp(78, version=version))
    c.send(pubrec(79, version=version))
    rel = c.expect(PUBREL)
    assert rel.pid == 79, rel
    c.send(pingreq())
    assert c.expect(PINGRESP)


# ---------------------------------------------------------------- PUBREC first

@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_pubrec_goes_out_before_the_message_is_passed_on(broker, version):
    # The publisher subscribes to its own topic: the order on its one connection shows it.
    c = open_client(broker, f"pubrec-first-{version}", version)
    c.subscribe(1, [("pubrec/first", sub_options(2))])
    c.publish("pubrec/first", b"x", qos=2, pid=5)
    first = c.recv_packet(3.0)
    assert first is not None and first.type == PUBREC and first.pid == 5, first
    c.send(pubrel(5, version=version))
    rest = {p.type: p for p in [c.recv_packet(3.0), c.recv_packet(3.0)]}
    assert set(rest) == {PUBCOMP, PUBLISH}, rest
    assert rest[PUBLISH].payload == b"x"


# ---------------------------------------------------------------- CONNACK: assigned ids and property order

ASSIGNED_ID = re.compile(r"auto-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def test_connack_properties_in_mosquittos_order_with_a_mosquitto_like_assigned_id(broker_factory):
    b = broker_factory(conf_lines=["max_keepalive 30", "max_packet_size 10000", "retain_available false",
                                   "max_qos 1", "max_inflight_messages 20", "max_topic_alias 10"])
    with RawClient(b, version=V5) as c:
        ack = c.connect("", version=V5, keepalive=60)
    assert ack.reason_code == 0, ack
    assert list(ack.props) == ["TopicAliasMaximum", "ServerKeepAlive", "AssignedClientIdentifier",
                               "RetainAvailable", "MaximumPacketSize", "ReceiveMaximum", "MaximumQoS"], ack.props
    assert ASSIGNED_ID.fullmatch(ack.props["AssignedClientIdentifier"]), ack.props
    assert (ack.props["TopicAliasMaximum"], ack.props["ServerKeepAlive"], ack.props["MaximumPacketSize"],
            ack.props["ReceiveMaximum"], ack.props["MaximumQoS"]) == (10, 30, 10000, 20, 1), ack.props


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_refused_empty_client_id_gets_mosquittos_code(broker_factory, version):
    b = broker_factory(conf_lines=["allow_zero_length_clientid false"])
    with RawClient(b, version=version) as c:
        ack = c.connect("", version=version)
        # 5.0: 0x80 (unspecified error), as Mosquitto; 3.1.1: 2 (identifier rejected).
        assert ack.reason_code == (0x80 if version == V5 else 2), ack
        assert c.expect_closed(3.0)


# ---------------------------------------------------------------- topic depth

DEEP = "/".join(["l"] * 201)    # 201 levels: one over Mosquitto's limit
DEEPEST = "/".join(["l"] * 200)


# Debian's Mosquitto 2.0.11 has no such limit; later Mosquitto releases refuse over 200 levels.
@pytest.mark.strata_only
@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_filters_deeper_than_200_levels_are_refused(broker, version):
    ok = open_client(broker, f"deep-ok-{version}", version)
    ok.subscribe(1, [(DEEPEST, sub_options(1))])
    ok.publish(DEEPEST, b"200 levels", qos=1, pid=1)
    got = {p.type: p for p in (ok.recv_packet(3.0), ok.recv_packet(3.0))}
    assert got[PUBACK].pid == 1 and got[PUBLISH].payload == b"200 levels", got
    sub = open_client(broker, f"deep-sub-{version}", version)
    sub.subscribe(1, [(DEEP, sub_options(0))], expect_suback=False)
    _expect_refusal(sub, version, MALFORMED_PACKET)


@pytest.mark.strata_only
@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_topics_deeper_than_200_levels_are_refused(broker, version):
    pub = open_client(broker, f"deep-pub-{version}", version)
    pub.publish(DEEP, b"x", qos=1, pid=2)
    _expect_refusal(pub, version, PROTOCOL_ERROR)


# ---------------------------------------------------------------- bridge state topics

@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_clients_may_publish_bridge_state_but_nothing_else_in_sys(broker, version):
    # As bridges and monitoring tools do with Mosquitto: $SYS/broker/connection/NAME/state.
    watch = open_client(broker, f"bridge-watch-{version}", V5)
    watch.subscribe(1, [("$SYS/broker/connection/+/state", sub_options(1))])
    bridge = open_client(broker, f"bridge-{version}", version)
    bridge.publish(f"$SYS/broker/connection/edge-{version}/state", b"1", qos=1, retain=True, pid=1)
    assert bridge.expect(PUBACK).pid == 1
    m = watch.expect(PUBLISH)
    assert (m.topic, m.payload) == (f"$SYS/broker/connection/edge-{version}/state", b"1"), m
    late = open_client(broker, f"bridge-late-{version}", V5)
    late.subscribe(1, [(f"$SYS/broker/connection/edge-{version}/state", sub_options(1))])
    kept = late.expect(PUBLISH)
    assert kept.retain and kept.payload == b"1", kept
    # The rest of $SYS stays closed: acknowledged (5.0: 0x87 from strata), not passed on.
    other = open_client(broker, f"bridge-other-{version}", V5)
    other.subscribe(1, [("$SYS/broker/connection/edge/other", sub_options(1)), ("$SYS/custom/x", sub_options(1))])
    bridge.publish("$SYS/broker/connection/edge/other", b"x", qos=1, pid=2)
    bridge.publish("$SYS/custom/x", b"x", qos=1, pid=3)
    assert [bridge.expect(PUBACK).pid for _ in range(2)] == [2, 3]
    assert other.recv_packet(0.5) is None
