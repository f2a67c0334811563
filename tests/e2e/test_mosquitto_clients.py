"""The broker driven by Debian's mosquitto_pub / mosquitto_sub (libmosquitto),
in MQTT 3.1.1 and 5.0."""
import subprocess

import pytest

from clients import (MOSQUITTO_PUB, MOSQUITTO_SUB, V5, MosquittoSub, mosquitto_pub, run_client)
from clients import client  # noqa: F401  (fixture)

MQTT_VERSIONS = pytest.mark.parametrize("ver", ["mqttv311", "mqttv5"])


@MQTT_VERSIONS
@pytest.mark.parametrize("pub_qos,sub_qos", [(0, 2), (1, 2), (2, 2), (2, 0), (2, 1), (1, 0)])
def test_pub_sub_qos(broker, ver, pub_qos, sub_qos):
    sub = MosquittoSub(broker, "cli/qos", version=ver, qos=sub_qos)
    try:
        mosquitto_pub(broker, "cli/qos", "hello", version=ver, qos=pub_qos)
        m = sub.expect(1)[0]
        assert (m["topic"], m["payload"], m["qos"], m["retain"]) == \
            ("cli/qos", "hello", min(pub_qos, sub_qos), 0)
    finally:
        sub.stop()


@MQTT_VERSIONS
def test_wildcards_and_count_exit(broker, ver):
    # -C 3: mosquitto_sub exits 0 once it has 3 messages
    sub = MosquittoSub(broker, ["cli/+/temp", "cli/house/#"], version=ver, qos=1,
                       args=["-C", "3"])
    try:
        for t in ("cli/kitchen/temp", "cli/garden/humidity", "cli/house", "cli/house/a/b"):
            mosquitto_pub(broker, t, t, version=ver, qos=1)
        got = sub.expect(3)
        assert [m["topic"] for m in got] == ["cli/kitchen/temp", "cli/house", "cli/house/a/b"]
        assert sub.wait() == 0
    finally:
        sub.stop()


@MQTT_VERSIONS
def test_lines_from_stdin_keep_order(broker, ver):
    sub = MosquittoSub(broker, "cli/lines", version=ver, qos=1)
    try:
        lines = [f"line {i}" for i in range(50)]
        p = subprocess.run([MOSQUITTO_PUB, "-h", broker.host, "-p", str(broker.port), "-V", ver,
                            "-q", "1", "-t", "cli/lines", "-l"],
                           input=("\n".join(lines) + "\n").encode(), timeout=10,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert p.returncode == 0, p.stdout
        assert [m["payload"] for m in sub.expect(50)] == lines
    finally:
        sub.stop()


@MQTT_VERSIONS
def test_large_payload(broker, ver, tmp_path):
    data = tmp_path / "blob"
    data.write_bytes(bytes(range(256)) * 1024)  # 256 KiB
    sub = MosquittoSub(broker, "cli/big", version=ver, qos=1, extra_format="%l")
    try:
        mosquitto_pub(broker, "cli/big", None, version=ver, qos=1, args=["-f", str(data)])
        m = sub.expect(1)[0]
        assert int(m["extra"]) == 256 * 1024
    finally:
        sub.stop()


@MQTT_VERSIONS
def test_retained(broker, ver):
    mosquitto_pub(broker, "cli/ret", "v1", version=ver, qos=1, retain=True)
    mosquitto_pub(broker, "cli/ret", "v2", version=ver, qos=1, retain=True)
    # a new subscriber gets the last retained value, flagged retained
    p = run_client([MOSQUITTO_SUB, "-h", broker.host, "-p", str(broker.port), "-V", ver,
                    "-t", "cli/ret", "-C", "1", "-W", "5", "-F", "%t %r %p"])
    assert p.returncode == 0, p.output
    assert p.output.strip() == "cli/ret 1 v2"
    # live messages to an existing subscription are not flagged
    sub = MosquittoSub(broker, "cli/ret", version=ver, qos=1)
    try:
        assert sub.expect(1)[0]["retain"] == 1
        mosquitto_pub(broker, "cli/ret", "v3", version=ver, qos=1, retain=True)
        m = sub.expect(1)[0]
        assert (m["payload"], m["retain"]) == ("v3", 0)
        # clear it with an empty retained message
        mosquitto_pub(broker, "cli/ret", None, version=ver, qos=1, retain=True)
        assert sub.expect(1)[0]["payload"] == ""
    finally:
        sub.stop()
    late = MosquittoSub(broker, "cli/ret", version=ver, qos=1)
    try:
        late.expect_none(0.5)
    finally:
        late.stop()


@MQTT_VERSIONS
def test_remove_retained(broker, ver):
    for t in ("cli/rr/a", "cli/rr/b"):
        mosquitto_pub(broker, t, "x", version=ver, retain=True)
    # --remove-retained answers each retained message with an empty retained
    # publish on its topic, which the broker also forwards back (not retained)
    sub = MosquittoSub(broker, "cli/rr/#", version=ver, args=["--remove-retained"])
    try:
        got = sub.expect(4)
        retained = sorted(m["topic"] for m in got if m["retain"] == 1)
        cleared = sorted(m["topic"] for m in got if m["retain"] == 0 and m["payload"] == "")
        assert retained == ["cli/rr/a", "cli/rr/b"], got
        assert cleared == ["cli/rr/a", "cli/rr/b"], got
    finally:
        sub.stop()
    late = MosquittoSub(broker, "cli/rr/#", version=ver)
    try:
        late.expect_none(0.5)
    finally:
        late.stop()


@MQTT_VERSIONS
def test_persistent_session_queue(broker, ver):
    args = ["-c", "-i", f"cli-persist-{ver}"]
    sub = MosquittoSub(broker, "cli/persist", version=ver, qos=1, args=args)
    sub.stop()  # killed: the session stays
    for i in range(3):
        mosquitto_pub(broker, "cli/persist", f"m{i}", version=ver, qos=1)
    mosquitto_pub(broker, "cli/persist", "q0", version=ver, qos=0)  # not queued
    again = MosquittoSub(broker, "cli/persist", version=ver, qos=1, args=args,
                         wait_subscribed=False)
    try:
        got = again.expect(3)
        assert [m["payload"] for m in got] == ["m0", "m1", "m2"]
        assert all(m["qos"] == 1 for m in got)
        again.expect_none(0.3)
    finally:
        again.stop()


@MQTT_VERSIONS
def test_will_on_killed_client(broker, ver):
    watcher = MosquittoSub(broker, "cli/will", version=ver, qos=1)
    dying = MosquittoSub(broker, "cli/unused", version=ver,
                         args=["--will-topic", "cli/will", "--will-payload", "bye",
                               "--will-qos", "1"])
    try:
        dying.stop()  # SIGKILL: no DISCONNECT
        m = watcher.expect(1)[0]
        assert (m["topic"], m["payload"], m["qos"]) == ("cli/will", "bye", 1)
    finally:
        dying.stop()
        watcher.stop()


@MQTT_VERSIONS
def test_no_will_on_clean_exit(broker, ver):
    watcher = MosquittoSub(broker, "cli/will", version=ver, qos=1)
    try:
        p = run_client([MOSQUITTO_PUB, "-h", broker.host, "-p", str(broker.port), "-V", ver,
                        "-t", "cli/other", "-m", "x", "--will-topic", "cli/will",
                        "--will-payload", "bye"])
        assert p.returncode == 0, p.output
        watcher.expect_none(0.7)
    finally:
        watcher.stop()


def test_v5_properties(broker):
    sub = MosquittoSub(broker, "cli/props", version="mqttv5", qos=1,
                       extra_format="%P|%C|%R|%D|%F|%E")
    try:
        mosquitto_pub(broker, "cli/props", "{}", version="mqttv5", qos=1, args=[
            "-D", "publish", "user-property", "k1", "v1",
            "-D", "publish", "user-property", "k2", "v2",
            "-D", "publish", "content-type", "application/json",
            "-D", "publish", "response-topic", "cli/reply",
            "-D", "publish", "correlation-data", "corr-42",
            "-D", "publish", "payload-format-indicator", "1",
            "-D", "publish", "message-expiry-interval", "120"])
        m = sub.expect(1)[0]
        user, ctype, rtopic, corr, pfi, expiry = m["extra"].split("|")
        assert user == "k1:v1 k2:v2"
        assert (ctype, rtopic, corr, pfi) == ("application/json", "cli/reply", "corr-42", "1")
        assert 119 <= int(expiry) <= 120
    finally:
        sub.stop()


def test_v5_subscription_identifier(broker):
    sub = MosquittoSub(broker, "cli/sid", version="mqttv5", qos=1, extra_format="%S",
                       args=["-D", "subscribe", "subscription-identifier", "77"])
    try:
        mosquitto_pub(broker, "cli/sid", "x", version="mqttv5", qos=1)
        assert sub.expect(1)[0]["extra"] == "77"
    finally:
        sub.stop()


def test_cross_client_v311_to_v5(broker, client):
    # paho v5 subscriber, mosquitto_pub 3.1.1 publisher, and the other way round
    c = client(broker, "paho", V5)
    c.subscribe("cli/x/#", 2)
    mosquitto_pub(broker, "cli/x/a", "from-cli", version="mqttv311", qos=2)
    m = c.get()
    assert (m.topic, m.payload, m.qos) == ("cli/x/a", b"from-cli", 2)
    sub = MosquittoSub(broker, "cli/y", version="mqttv311", qos=2)
    try:
        c.publish("cli/y", b"from-paho", 2)
        got = sub.expect(1)[0]
        assert (got["payload"], got["qos"]) == ("from-paho", 2)
    finally:
        sub.stop()


@pytest.mark.parametrize("ver,code,text", [("mqttv311", 5, "not authorised"),
                                           ("mqttv5", 0x87, "Not authorized")])
def test_refused_without_anonymous(broker_factory, ver, code, text):
    b = broker_factory(anonymous=False, conf_lines=["allow_anonymous false"])
    p = mosquitto_pub(b, "cli/t", "x", version=ver, check=False)
    # mosquitto_pub exits with the CONNACK code
    assert p.returncode == code, p.output
    assert text in p.output


def test_v5_empty_client_id_is_assigned(broker):
    # libmosquitto 2.0 sends an empty client id in 5.0: the broker assigns one
    p = run_client([MOSQUITTO_PUB, "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5",
                    "-t", "cli/t", "-m", "x", "-d"])
    assert p.returncode == 0, p.output
    assert "received CONNACK (0)" in p.output
