"""MQTT over WebSocket and secure WebSocket: paho-mqtt and MQTT.js (the
browser library, here on Node.js) as real clients, a raw WebSocket client
(rawws.py) for framing edge cases, and refused upgrade requests."""
import socket
import ssl

import pytest

from clients import V311, V5, MosquittoSub, mosquitto_pub, mqttjs
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from rawmqtt import CONNACK, PUBLISH, SUBACK, ConnectionClosed, RawClient
from rawmqtt import connect as raw_connect, publish as raw_publish, subscribe as raw_subscribe
from rawws import CLOSE, PING, PONG, TEXT, RawWsClient, http_exchange

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata listener set-up")


@pytest.fixture
def wsb(broker_factory, pki):
    """A broker with a plain listener, a ws listener and a wss listener."""
    b = broker_factory(conf_lines=["listener 0 127.0.0.1", "protocol websockets"] +
                       pki.tls_listener(protocol="websockets"))
    b.ws_port = b.ports_of["ws"][0]
    b.wss_port = b.ports_of["wss"][0]
    b.tls_ctx = ssl.create_default_context(cafile=str(pki.ca))
    return b


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
@pytest.mark.parametrize("path", ["/mqtt", "/"])
def test_paho_over_ws_and_wss(wsb, pki, client, version, path):
    sub = client(wsb, "ws-sub", version, port=wsb.ws_port, transport="websockets", ws_path=path)
    sub.subscribe("web/#", qos=1)
    pub = client(wsb, "wss-pub", version, port=wsb.wss_port, transport="websockets", ws_path=path,
                 tls=dict(ca_certs=str(pki.ca)))
    payloads = [b"small", b"m" * 70_000, b""]
    for i, p in enumerate(payloads):
        pub.publish(f"web/{i}", p, qos=1)
    assert [m.payload for m in sub.expect(3)] == payloads


def test_all_transports_meet(wsb, pki, client):
    """A message published over one transport reaches subscribers on every other."""
    tcp_sub = MosquittoSub(wsb, "mix/#", qos=1)
    try:
        ws_sub = client(wsb, "ws", V5, port=wsb.ws_port, transport="websockets")
        ws_sub.subscribe("mix/#", qos=1)
        result = mqttjs(f"wss://127.0.0.1:{wsb.wss_port}/mqtt", "--ca", pki.ca, "--publish", "mix/js", "--count", 3,
                        "--version", 4)
        assert result["connected"] and result["error"] is None, result
        assert [m.payload for m in ws_sub.expect(3)] == [b"msg-0", b"msg-1", b"msg-2"]
        assert [m["payload"] for m in tcp_sub.expect(3)] == ["msg-0", "msg-1", "msg-2"]
    finally:
        tcp_sub.stop()


@pytest.mark.parametrize("scheme", ["ws", "wss"])
@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_round_trip(wsb, pki, scheme, version):
    port = wsb.ws_port if scheme == "ws" else wsb.wss_port
    result = mqttjs(f"{scheme}://127.0.0.1:{port}/mqtt", "--ca", pki.ca, "--version", version,
                    "--subscribe", "js/#", "--publish", f"js/{scheme}", "--count", 10, "--qos", 1)
    assert result["connected"] and result["error"] is None, result
    assert result["suback"] == [1]
    assert [m["payload"] for m in result["received"]] == [f"msg-{i}" for i in range(10)]


def test_mqttjs_receives_from_mosquitto_pub(wsb):
    import threading
    box = {}
    t = threading.Thread(target=lambda: box.update(r=mqttjs(f"ws://127.0.0.1:{wsb.ws_port}/mqtt",
                                                            "--subscribe", "cross/#", "--count", 1)))
    t.start()
    # mosquitto_pub over TCP until the subscriber is in place and gets one
    for _ in range(50):
        mosquitto_pub(wsb, "cross/x", "from-mosquitto_pub", qos=1)
        t.join(0.2)
        if not t.is_alive():
            break
    t.join(10)
    assert box["r"]["received"][0] == {"topic": "cross/x", "payload": "from-mosquitto_pub"}, box


@pytest.mark.parametrize("frame_size", [1, 3, None], ids=["1-byte-frames", "3-byte-frames", "one-frame-per-packet"])
def test_packets_split_across_frames(wsb, frame_size):
    c = RawWsClient(wsb.ws_port, frame_size=frame_size)
    assert c.headers.get("sec-websocket-protocol") == "mqtt"
    c.connect("split", version=V5)
    c.subscribe(1, [("split/#", 1)])
    c.publish("split/a", b"x" * 300, qos=1, pid=7)
    m = c.expect(PUBLISH)
    assert m.topic == "split/a" and m.payload == b"x" * 300
    c.close()


def test_several_packets_packed_in_one_frame(wsb):
    c = RawWsClient(wsb.ws_port)
    packed = raw_connect("packed", version=V5) + raw_subscribe(1, [("packed/#", 0)]) + \
        raw_publish("packed/1", b"one") + raw_publish("packed/2", b"two")
    c.send(packed)
    c.version = V5
    assert c.expect(CONNACK).reason_code == 0
    c.expect(SUBACK)
    assert [c.expect(PUBLISH).payload for _ in range(2)] == [b"one", b"two"]
    c.close()


def test_ping_pong_and_close_handshake(wsb):
    c = RawWsClient(wsb.ws_port)
    c.connect("pinger", version=V5)
    c.send_frame(PING, b"are-you-there")
    assert c.wait_control(PONG) == b"are-you-there"
    c.send_frame(CLOSE, b"\x03\xe8")
    assert c.wait_control(CLOSE)[:2] == b"\x03\xe8"
    assert c.expect_closed(3)


def test_close_frame_without_disconnect_publishes_the_will(wsb, client):
    watcher = client(wsb, "watcher", V5)
    watcher.subscribe("wills/#", qos=1)
    c = RawWsClient(wsb.ws_port)
    c.connect("dying", version=V5, will=dict(topic="wills/dying", payload=b"gone", qos=1))
    c.send_frame(CLOSE, b"\x03\xe9")
    assert watcher.expect(1)[0].payload == b"gone"


@pytest.mark.parametrize("bad,code", [
    (lambda c: c.send_frame(TEXT, b"\x10\x00"), 1003),      # MQTT needs binary frames [MQTT-6.0.0-1]
    (lambda c: c.send_frame(2, b"\xc0\x00", mask=False), 1002),  # clients must mask
    (lambda c: c.send_frame(0, b"\xc0\x00"), 1002),          # continuation of nothing
], ids=["text-frame", "unmasked", "stray-continuation"])
def test_framing_violations_close_the_connection(wsb, bad, code):
    c = RawWsClient(wsb.ws_port)
    c.connect("violator", version=V5)
    bad(c)
    payload = c.wait_control(CLOSE)
    assert int.from_bytes(payload[:2], "big") == code
    assert c.expect_closed(3)
    # everybody else carries on
    with RawClient(wsb) as other:
        other.connect("other", version=V5)


def test_refused_upgrades(wsb):
    status, _ = http_exchange(wsb.ws_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status.startswith("HTTP/1.1 426"), status
    status, answer = http_exchange(wsb.ws_port, b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                   b"Connection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
                                   b"Sec-WebSocket-Version: 8\r\n\r\n")
    assert status.startswith("HTTP/1.1 426") and b"Sec-WebSocket-Version: 13" in answer, answer
    with pytest.raises(ConnectionClosed, match="400"):
        RawWsClient(wsb.ws_port, subprotocol="chat, superchat")
    status, _ = http_exchange(wsb.ws_port, b"GET /mqtt HTTP/1.1\r\nCookie: " + b"c" * 5000 + b"\r\n\r\n")
    assert status.startswith("HTTP/1.1 431"), status
    # An MQTT client on the websockets port is told at once.
    status, _ = http_exchange(wsb.ws_port, raw_connect("lost", version=V5))
    assert status.startswith("HTTP/1.1 400"), status
    # The same over TLS.
    status, _ = http_exchange(wsb.wss_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", tls_ctx=wsb.tls_ctx)
    assert status.startswith("HTTP/1.1 426"), status
    assert wsb.alive()


def test_ws_client_without_subprotocol_header(wsb):
    c = RawWsClient(wsb.ws_port, subprotocol=None)
    assert "sec-websocket-protocol" not in c.headers
    assert c.connect("no-subprotocol", version=V311).reason_code == 0
    c.close()


def test_legacy_mqttv31_subprotocol(wsb):
    c = RawWsClient(wsb.ws_port, subprotocol="mqttv3.1")
    assert c.headers.get("sec-websocket-protocol") == "mqttv3.1"
    c.close()


def test_raw_wss_split_frames(wsb):
    c = RawWsClient(wsb.wss_port, tls_ctx=wsb.tls_ctx, frame_size=2)
    c.connect("wss-split", version=V5)
    c.subscribe(1, [("wss/#", 1)])
    c.publish("wss/x", b"y" * 20_000, qos=1, pid=3)
    assert c.expect(PUBLISH).payload == b"y" * 20_000
    c.close()
