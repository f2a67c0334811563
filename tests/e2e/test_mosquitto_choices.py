"""Where the MQTT specification leaves a choice, or a conf or password file
can be read more than one way, strata does what Mosquitto does, so that
devices, scripts and monitoring written against Mosquitto keep working.
Every test here also runs against Debian's Mosquitto
(STRATA_TEST_BROKER=mosquitto) unless marked strata_only, which is how
"matches Mosquitto" is shown. docs/mosquitto-compat.md lists the rest."""
import pytest

from conftest import BROKER_KIND
from rawmqtt import (DISCONNECT, PINGRESP, PUBCOMP, PUBLISH, PUBREC, PUBREL, V311, V5, RawClient, expect_disconnect, open_client,
                     pingreq, puback, pubcomp, pubrec, pubrel, sub_options)

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

def _expect_protocol_error(c, version):
    """strata: DISCONNECT 0x82 in 5.0, a plain close in 3.1.1. Mosquitto 2.0.11 closes without a
    DISCONNECT in both (docs/mosquitto-compat.md)."""
    if version == V5 and BROKER_KIND == "strata":
        expect_disconnect(c, PROTOCOL_ERROR)
    else:
        assert c.expect_closed(3.0), "connection not closed"
        assert all(p.type == DISCONNECT for p in c.discarded), c.discarded


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
