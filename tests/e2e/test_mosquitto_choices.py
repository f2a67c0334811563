"""Where the MQTT specification leaves a choice, or a conf or password file
can be read more than one way, strata does what Mosquitto does, so that
devices, scripts and monitoring written against Mosquitto keep working.
Every test here also runs against Debian's Mosquitto
(STRATA_TEST_BROKER=mosquitto) unless marked strata_only, which is how
"matches Mosquitto" is shown. docs/mosquitto-compat.md lists the rest."""
import pytest

from rawmqtt import PUBLISH, V311, V5, RawClient, open_client, sub_options

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
