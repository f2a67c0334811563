"""Specification points that Mosquitto-compatibility testing exposed, each
checked on the exact bytes the broker sends. Tests that Mosquitto 2.0 passes
too run against it in STRATA_TEST_BROKER=mosquitto mode; the others say why
they are strata's own (docs/mosquitto-compat.md)."""
import pytest

from conftest import BROKER_KIND
from rawmqtt import (PUBACK, V31, V311, V5, RawClient,
                     expect_disconnect, expect_silent_close, open_client, sub_options)

MALFORMED_PACKET = 0x81
# Mosquitto 2.0.11 takes "$share/g" and "$share//a" as plain filters; the spec
# says a ShareName must be non-empty and followed by "/" and a filter [MQTT-4.8.2-2].
SHARE_WITHOUT_FILTER = [pytest.param(f, marks=pytest.mark.strata_only) for f in ("$share/g", "$share//a")]
MALFORMED_FILTERS = ["a/#/b", "#/a", "a/b+", "a/+b/c", "", "$share/g+/a", *SHARE_WITHOUT_FILTER]


def _wire_size(p):
    """Bytes of a received packet on the wire: fixed header byte, Remaining Length, body."""
    n, length = 1, len(p.body)
    while True:
        n += 1
        length //= 128
        if not length:
            return n + len(p.body)


# ---------------------------------------------------------------- Maximum Packet Size and CONNACK

@pytest.mark.strata_only  # Mosquitto 2.0.11 sends the CONNACK whatever its size
@pytest.mark.parametrize("client_id", ["mps-client", ""], ids=["named", "assigned-id"])
def test_connack_larger_than_the_clients_maximum_packet_size_is_not_sent(broker, client_id):
    # [MQTT-3.1.2-24]: the server must not send a packet larger than the
    # client's Maximum Packet Size, the CONNACK included.
    with RawClient(broker) as probe:
        size = _wire_size(probe.connect(client_id, version=V5))
        probe.disconnect()
    with RawClient(broker) as small:
        small.connect(client_id, version=V5, expect_connack=False, props={"MaximumPacketSize": size - 1})
        expect_silent_close(small)
    # The id was not left claimed: the same client connects with room for its CONNACK.
    with RawClient(broker) as fits:
        ack = fits.connect(client_id, version=V5, props={"MaximumPacketSize": size})
        assert ack.reason_code == 0 and _wire_size(ack) == size, ack


# ---------------------------------------------------------------- MQTT 3.1

def test_mqtt31_connack_has_no_session_present_flag(broker):
    # MQTT 3.1 (protocol level 3) has no session present flag: the byte is 0,
    # even when the session was kept.
    with RawClient(broker, version=V31) as first:
        first.connect("v31-keeper", version=V31, clean=False)
        first.disconnect()
    with RawClient(broker, version=V31) as again:
        ack = again.connect("v31-keeper", version=V31, clean=False)
        assert ack.body == b"\x00\x00", ack


# ---------------------------------------------------------------- malformed topic filters

@pytest.mark.parametrize("bad", MALFORMED_FILTERS)
def test_subscribe_with_a_malformed_filter_closes_v311(broker, bad):
    c = open_client(broker, "bad-filter-311", V311)
    c.subscribe(1, [("ok/t", 0), (bad, 0)], expect_suback=False)
    expect_silent_close(c)


@pytest.mark.strata_only  # Mosquitto 2.0.11 closes without a DISCONNECT
@pytest.mark.parametrize("bad", MALFORMED_FILTERS)
def test_subscribe_with_a_malformed_filter_is_disconnect_0x81_v5_and_none_of_its_filters_counts(broker, bad):
    c = open_client(broker, "bad-filter-5", V5, clean=False, props={"SessionExpiryInterval": 60})
    c.subscribe(1, [("ok/t", sub_options(1)), (bad, sub_options(0))], expect_suback=False)
    expect_disconnect(c, MALFORMED_PACKET)
    # The session outlives the connection: the well-formed filter of the same packet was not taken.
    back = open_client(broker, "bad-filter-5", V5, clean=False, props={"SessionExpiryInterval": 60})
    assert back.connack.session_present
    pub = open_client(broker, "bad-filter-pub", V5)
    pub.publish("ok/t", b"x", qos=1, pid=1)
    assert pub.expect(PUBACK).pid == 1
    assert back.recv_packet(0.5) is None


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_unsubscribe_with_a_malformed_filter_closes(broker, version):
    c = open_client(broker, f"bad-unsub-{version}", version)
    c.subscribe(1, [("ok/u", 0)])
    c.unsubscribe(2, ["ok/u", "a/#/b"])
    if version == V5 and BROKER_KIND == "strata":
        expect_disconnect(c, MALFORMED_PACKET)
    else:
        assert c.expect_closed(3.0), "connection not closed"


# ---------------------------------------------------------------- clean start on a takeover

@pytest.mark.parametrize("conf", [[], pytest.param(["threads 4"], marks=pytest.mark.strata_only),
                                  ["persistence true", "persistence_location {data}/"]],
                         ids=["default", "threads-4", "persistence"])
@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_takeover_with_clean_start_begins_a_new_session(broker_factory, tmp_path, version, conf):
    # [MQTT-3.1.2-6] / v5 3.1.2.4: a client id still connected that connects
    # again with Clean Session / Clean Start 1 gets session present 0, and
    # inherits neither the subscriptions nor the messages waiting for the old one.
    broker = broker_factory(conf_lines=[line.format(data=tmp_path) for line in conf])
    kept = {} if version == V311 else {"props": {"SessionExpiryInterval": 300}}
    old = open_client(broker, "taken", version, clean=False, **kept)
    old.subscribe(1, [("takeover/#", sub_options(1))])
    # A message in flight to the old connection, never acknowledged.
    pub = open_client(broker, "takeover-pub", V5)
    pub.publish("takeover/a", b"in-flight", qos=1, pid=1)
    assert pub.expect(PUBACK).pid == 1
    assert old.recv_packet(3.0).payload == b"in-flight"
    new = open_client(broker, "taken", version, clean=True)
    assert not new.connack.session_present
    pub.publish("takeover/b", b"after", qos=1, pid=2)
    assert pub.expect(PUBACK).pid == 2
    assert new.recv_packet(0.5) is None, "the new session inherited the old one's subscription or messages"
