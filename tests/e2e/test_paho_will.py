"""Will messages: when they are published and when they are not."""
import time

import pytest

from clients import V5, VERSIONS, PacketTypes, parse_packets, props
from clients import client  # noqa: F401  (fixture)


def _will(topic, payload=b"gone", qos=1, retain=False, **will_props):
    w = dict(topic=topic, payload=payload, qos=qos, retain=retain)
    if will_props:
        w["properties"] = props(PacketTypes.WILLMESSAGE, **will_props)
    return w


@pytest.fixture
def watcher(broker, client):
    w = client(broker, "watcher", V5)
    w.subscribe("will/#", 2)
    return w


@VERSIONS
def test_will_sent_when_connection_drops(broker, client, watcher, version):
    c = client(broker, "dying", version, will=_will("will/drop", b"dropped", qos=1))
    c.drop()  # TCP close without DISCONNECT
    m = watcher.get()
    assert (m.topic, m.payload, m.qos, m.retain) == ("will/drop", b"dropped", 1, False)
    watcher.expect_none(0.3)


@VERSIONS
def test_will_not_sent_on_normal_disconnect(broker, client, watcher, version):
    c = client(broker, "polite", version, will=_will("will/polite"))
    c.disconnect()
    watcher.expect_none(0.7)  # 3.1.1 [MQTT-3.1.2-10], 5.0 [MQTT-3.1.2-10]


def test_v5_will_sent_on_disconnect_with_will_message(broker, client, watcher):
    # DISCONNECT reason 0x04 (Disconnect with Will Message)
    c = client(broker, "want-will", V5, will=_will("will/04", b"asked"))
    c.disconnect(reason=0x04)
    m = watcher.get()
    assert (m.topic, m.payload) == ("will/04", b"asked")


@VERSIONS
def test_will_retained(broker, client, watcher, version):
    c = client(broker, "dying", version, will=_will("will/ret", b"last", qos=1, retain=True))
    c.drop()
    m = watcher.get()
    assert m.payload == b"last"
    # published as a retained message [MQTT-3.1.2-15]/(3.1.1 [MQTT-3.1.2-17])
    late = client(broker, "late", version)
    late.subscribe("will/ret", 1)
    m = late.get()
    assert (m.payload, m.retain) == (b"last", True)


def test_v5_will_properties_passed_through(broker, client, watcher):
    c = client(broker, "dying", V5, will=_will(
        "will/props", b"{}", ContentType="application/json", PayloadFormatIndicator=1,
        ResponseTopic="reply/here", CorrelationData=b"\x01\x02",
        UserProperty=[("b", "2"), ("a", "1"), ("b", "3")]))
    c.drop()
    m = watcher.get()
    assert m.prop("ContentType") == "application/json"
    assert m.prop("PayloadFormatIndicator") == 1
    assert m.prop("ResponseTopic") == "reply/here"
    assert m.prop("CorrelationData") == b"\x01\x02"
    assert m.prop("UserProperty") == [("b", "2"), ("a", "1"), ("b", "3")]  # [MQTT-3.1.3-10]


@VERSIONS
def test_will_sent_on_takeover(broker, client, watcher, version):
    # the old connection is closed by the server, not by a DISCONNECT from
    # its client: its will is published
    old = client(broker, "twin", version, will=_will("will/takeover", b"old"))
    client(broker, "twin", version)
    old.wait_closed()
    m = watcher.get()
    assert (m.topic, m.payload) == ("will/takeover", b"old")


@VERSIONS
def test_will_sent_on_keep_alive_timeout(broker, client, watcher, version):
    # [MQTT-3.1.2-22] (3.1.1 [MQTT-3.1.2-24]): no packet within 1.5 x keep
    # alive -> the server closes the connection as if the network had failed,
    # so the will goes out. Mosquitto 2.0.11 takes ~5 s for keepalive 1.
    c = client(broker, "silent", version, keepalive=1, will=_will("will/ka", b"timeout", qos=0))
    start = time.monotonic()
    c.freeze()  # socket open, no more PINGREQ
    m = watcher.get(timeout=9)
    assert (m.topic, m.payload) == ("will/ka", b"timeout")
    assert time.monotonic() - start >= 0.5
    # and the connection was closed by the server
    c.read_raw(timeout=3)
    assert c.raw_eof


@pytest.mark.strata_only
def test_v5_keep_alive_timeout_disconnect_reason(broker, client):
    # The server may send DISCONNECT 0x8D (Keep Alive timeout) before closing
    # (4.13, reason code table of 3.14.2.1); strata does, Mosquitto 2.0.11 just
    # closes the socket.
    c = client(broker, "silent", V5, keepalive=1)
    c.freeze()
    packets = parse_packets(c.read_raw(timeout=9))
    disconnects = [body for first, body in packets if first == 0xE0]
    assert disconnects and disconnects[0][:1] == b"\x8d", packets


def test_v5_will_delay_not_sent_when_client_reconnects(broker, client, watcher):
    c = client(broker, "flaky", V5, session_expiry=60,
               will=_will("will/delayed", b"late", WillDelayInterval=2))
    c.drop()
    # back within the delay: the will is cancelled [MQTT-3.1.3-9]
    client(broker, "flaky", V5, clean=False, session_expiry=60)
    watcher.expect_none(3.0)


def test_v5_will_delay_sent_after_delay(broker, client, watcher):
    c = client(broker, "flaky", V5, session_expiry=60,
               will=_will("will/delayed", b"late", WillDelayInterval=2))
    start = time.monotonic()
    c.drop()
    m = watcher.get(timeout=6)
    elapsed = time.monotonic() - start
    assert (m.topic, m.payload) == ("will/delayed", b"late")
    assert elapsed >= 1.0, f"will sent after {elapsed:.2f}s despite a 2 s delay"


def test_v5_will_sent_when_session_ends_before_delay(broker, client, watcher):
    # the will goes out when the delay passes or the session ends, whichever
    # comes first [MQTT-3.1.2-8]
    c = client(broker, "short-session", V5, session_expiry=1,
               will=_will("will/session-end", b"ended", WillDelayInterval=60))
    c.drop()
    m = watcher.get(timeout=6)
    assert m.payload == b"ended"


@pytest.mark.strata_only
def test_v5_will_with_session_expiry_zero_and_delay(broker, client, watcher):
    # Session Expiry 0: the session ends with the connection, so the will is
    # published at once despite its delay ("until the Will Delay Interval has
    # passed or the Session ends, whichever happens first" [MQTT-3.1.2-8],
    # 3.1.3.2.2). Mosquitto 2.0.11 keeps waiting for the will delay.
    c = client(broker, "no-session", V5, will=_will("will/now", b"now", WillDelayInterval=30))
    c.drop()
    assert watcher.get(timeout=3).payload == b"now"


@VERSIONS
def test_will_qos_downgraded_to_subscription(broker, client, version):
    w = client(broker, "w0", version)
    w.subscribe("will/q", 0)
    c = client(broker, "dying", version, will=_will("will/q", b"q", qos=2))
    c.drop()
    m = w.get()
    assert (m.payload, m.qos) == (b"q", 0)
