"""TLS listeners with real clients: mosquitto_pub/mosquitto_sub (--cafile,
--cert, --key), paho-mqtt and MQTT.js, certificates made by the test run
(pki.py). Covers server authentication, client certificates (required,
missing, from another CA, revoked), certificate names as usernames, TLS
versions and cipher settings, SIGHUP renewal without dropping connections,
and bad input on a TLS port."""
import signal
import socket
import ssl
import subprocess
import time

import pytest

from clients import V311, V5, MosquittoSub, mosquitto_pub, mqttjs
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata listener set-up")


def tls_broker(broker_factory, pki, *lines, protocol="mqtt"):
    b = broker_factory(conf_lines=pki.tls_listener(*lines, protocol=protocol))
    kind = "mqtts" if protocol == "mqtt" else "wss"
    return b, b.ports_of[kind][0]


def tls_args(pki, cert=None, key=None):
    args = ["--cafile", str(pki.ca)]
    if cert:
        args += ["--cert", str(cert), "--key", str(key)]
    return args


def wait_log(b, text, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in b.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{b.log()[-3000:]}")


def handshake(port, pki, cert=None, key=None, version=None):
    """A TLS handshake with Python's ssl; returns (protocol, server cert subject CN)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return s.version(), subject


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_clients_over_tls(broker_factory, pki, version):
    b, port = tls_broker(broker_factory, pki)
    sub = MosquittoSub(b, "tls/#", version=version, qos=1, port=port, args=tls_args(pki))
    try:
        for i in range(3):
            mosquitto_pub(b, f"tls/{i}", f"secret-{i}", version=version, qos=1, port=port, args=tls_args(pki))
        got = sub.expect(3)
        assert [(m["topic"], m["payload"]) for m in got] == [(f"tls/{i}", f"secret-{i}") for i in range(3)]
    finally:
        sub.stop()
    # The plain listener of the same broker reaches the same subscribers.
    sub = MosquittoSub(b, "tls/#", version=version, qos=1, port=port, args=tls_args(pki))
    try:
        mosquitto_pub(b, "tls/plain", "from-tcp", version=version, qos=1)
        assert sub.expect(1)[0]["payload"] == "from-tcp"
    finally:
        sub.stop()


def test_client_must_trust_the_server(broker_factory, pki):
    b, port = tls_broker(broker_factory, pki)
    # A client trusting another CA refuses the broker's certificate.
    p = mosquitto_pub(b, "t", "x", port=port, check=False, args=["--cafile", str(pki.dir / "rogue-ca.crt")])
    assert p.returncode != 0, p.output
    # Plain MQTT on a TLS port gets no CONNACK: the bytes are not a TLS handshake.
    p = mosquitto_pub(b, "t", "x", port=port, check=False)
    assert p.returncode != 0, p.output
    assert b.alive()


def test_large_messages_and_many_records(broker_factory, pki, client):
    """Messages larger than a TLS record (16 KB) and bursts of small ones."""
    b, port = tls_broker(broker_factory, pki)
    tls = dict(ca_certs=str(pki.ca))
    sub = client(b, "tls-sub", V5, port=port, tls=tls)
    sub.subscribe("big/#", qos=1)
    pub = client(b, "tls-pub", V311, port=port, tls=tls)
    payloads = [bytes([i % 251]) * size for i, size in enumerate([1, 100, 20_000, 300_000, 5])]
    for i, p in enumerate(payloads):
        pub.publish(f"big/{i}", p, qos=1)
    for i in range(200):
        pub.publish("big/burst", b"%d" % i, qos=0, wait=False)
    got = sub.expect(len(payloads) + 200)
    assert [m.payload for m in got[:len(payloads)]] == payloads
    assert [m.payload for m in got[len(payloads):]] == [b"%d" % i for i in range(200)]


def test_required_client_certificate(broker_factory, pki):
    b, port = tls_broker(broker_factory, pki, f"cafile {pki.ca}", "require_certificate true")
    ok = mosquitto_pub(b, "t", "x", port=port, check=False, args=tls_args(pki, pki.client_cert, pki.client_key))
    assert ok.returncode == 0, ok.output
    missing = mosquitto_pub(b, "t", "x", port=port, check=False, args=tls_args(pki))
    assert missing.returncode != 0, missing.output
    rogue = mosquitto_pub(b, "t", "x", port=port, check=False, args=tls_args(pki, pki.rogue_cert, pki.rogue_key))
    assert rogue.returncode != 0, rogue.output
    wait_log(b, "peer did not return a certificate")
    assert b.alive()


def test_revoked_certificate_is_refused(broker_factory, pki):
    b, port = tls_broker(broker_factory, pki, f"cafile {pki.ca}", "require_certificate true", f"crlfile {pki.crl}")
    ok = mosquitto_pub(b, "t", "x", port=port, check=False, args=tls_args(pki, pki.client_cert, pki.client_key))
    assert ok.returncode == 0, ok.output
    revoked = mosquitto_pub(b, "t", "x", port=port, check=False,
                            args=tls_args(pki, pki.revoked_cert, pki.revoked_key))
    assert revoked.returncode != 0, revoked.output
    wait_log(b, "certificate revoked")


@pytest.mark.parametrize("key,expected", [("use_identity_as_username", "cn"), ("use_subject_as_username", "subject")])
def test_certificate_name_is_the_username(broker_factory, pki, key, expected):
    b, port = tls_broker(broker_factory, pki, f"cafile {pki.ca}", "require_certificate true", f"{key} true")
    name = "sensor-1" if expected == "cn" else pki.subject_rfc2253(pki.client_cert)
    # Whatever username the client sends, the certificate's name counts.
    mosquitto_pub(b, "t", "x", port=port, args=tls_args(pki, pki.client_cert, pki.client_key) + ["-u", "someone-else"],
                  version="mqttv5", qos=1)
    wait_log(b, f"u'{name}')")
    assert "u'someone-else'" not in b.log()
    # A certificate without a Common Name gives no username: refused (bad username or password).
    if expected == "cn":
        p = mosquitto_pub(b, "t", "x", port=port, check=False, version="mqttv5",
                          args=tls_args(pki, pki.nocn_cert, pki.nocn_key))
        assert p.returncode != 0 and "bad user name or password" in p.output.lower(), p.output


def test_tls_version_and_ciphers(broker_factory, pki):
    b, port = tls_broker(broker_factory, pki, "tls_version tlsv1.3")
    version, _ = handshake(port, pki)
    assert version == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        handshake(port, pki, version=ssl.TLSVersion.TLSv1_2)
    b2, port2 = tls_broker(broker_factory, pki, "ciphers ECDHE-RSA-AES128-GCM-SHA256",
                           "ciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256")
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    with socket.create_connection(("127.0.0.1", port2), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
    version, _ = handshake(port2, pki, version=ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2"


def test_bad_tls_settings_stop_startup(tmp_path, pki):
    from conftest import STRATA_BIN
    cases = {
        "missing key": ([f"certfile {pki.server_cert}", f"keyfile {tmp_path / 'nope.key'}"], "keyfile"),
        "key of another cert": ([f"certfile {pki.server_cert}", f"keyfile {pki.client_key}"], "does not belong"),
        "not a certificate": ([f"certfile {pki.server_key}", f"keyfile {pki.server_key}"], "not a PEM certificate"),
        "bad cipher": ([f"certfile {pki.server_cert}", f"keyfile {pki.server_key}", "ciphers NOPE"], "ciphers"),
    }
    for name, (lines, expected) in cases.items():
        conf = tmp_path / "bad.conf"
        conf.write_text("\n".join(["listener 0 127.0.0.1"] + lines) + "\n")
        check = subprocess.run([str(STRATA_BIN), "-c", str(conf), "--check"], capture_output=True, text=True)
        assert check.returncode == 1 and f"{conf}:1: listener: " in check.stderr and expected in check.stderr, \
            (name, check.stderr)
        run = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=10)
        assert run.returncode != 0 and expected in run.stdout + run.stderr, (name, run.stdout, run.stderr)


def test_sighup_renews_the_certificate_without_dropping_clients(broker_factory, pki, client, tmp_path):
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes(pki.server_cert.read_bytes())
    key.write_bytes(pki.server_key.read_bytes())
    b = broker_factory(conf_lines=["listener 0 127.0.0.1", f"certfile {cert}", f"keyfile {key}"])
    port = b.ports_of["mqtts"][0]
    assert "O" not in handshake(port, pki)[1]
    tls = dict(ca_certs=str(pki.ca))
    sub = client(b, "old-conn", V5, port=port, tls=tls)
    sub.subscribe("renew/#", qos=1)

    cert.write_bytes(pki.server2_cert.read_bytes())
    key.write_bytes(pki.server2_key.read_bytes())
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while handshake(port, pki)[1].get("organizationName") != "renewed":
        assert time.monotonic() < deadline, "new connections still get the old certificate"
        time.sleep(0.1)
    # The connection made before the reload still works.
    pub = client(b, "new-conn", V5, port=port, tls=tls)
    pub.publish("renew/x", b"after-reload", qos=1)
    assert sub.expect(1)[0].payload == b"after-reload"

    # A broken renewal keeps the working certificate.
    key.write_text("not a key")
    b.signal(signal.SIGHUP)
    wait_log(b, "TLS files not reloaded")
    assert handshake(port, pki)[1].get("organizationName") == "renewed"


def test_garbage_and_slow_handshakes_on_a_tls_port(broker_factory, pki, client):
    b, port = tls_broker(broker_factory, pki, "")
    # Bytes that are not TLS: the connection is closed, with an alert at most.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00" * 10)
        s.settimeout(5)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert len(data) < 100  # an alert at most, no MQTT
    # A handshake that never finishes does not hold up others.
    stalled = socket.create_connection(("127.0.0.1", port), timeout=5)
    stalled.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello record, then nothing
    ok = client(b, "meanwhile", V5, port=port, tls=dict(ca_certs=str(pki.ca)))
    ok.subscribe("x", qos=1)
    stalled.close()
    assert b.alive()


def test_mqttjs_over_mqtts(broker_factory, pki):
    b, port = tls_broker(broker_factory, pki)
    result = mqttjs(f"mqtts://127.0.0.1:{port}", "--ca", pki.ca, "--version", 5,
                    "--subscribe", "js/#", "--publish", "js/tls", "--count", 5)
    assert result["connected"] and result["error"] is None, result
    assert [m["payload"] for m in result["received"]] == [f"msg-{i}" for i in range(5)]
