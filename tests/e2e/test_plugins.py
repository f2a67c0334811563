"""Plugins loaded by the real broker: the example plugin (plugins/examples/,
in C) and the test plugin (tests/plugins/, in C++), both built into build/lib/.
See docs/plugins.md."""
import signal
import subprocess
import time
import urllib.parse

import pytest

from clients import V311, V5, VERSIONS, TIMEOUT
from clients import client  # noqa: F401  (fixture)
from conftest import STRATA_BIN
from rawmqtt import AUTH, CONNACK, PUBACK, PUBREC, SUBACK, RawClient, auth
from rawmqtt import connect as raw_connect
from rawmqtt import subscribe as raw_subscribe

pytestmark = pytest.mark.strata_only  # Mosquitto cannot load strata plugins

LIB = STRATA_BIN.parent.parent / "lib"
EXAMPLE = LIB / "strata_example.so"
TEST_PLUGIN = LIB / "strata_test_plugin.so"


def plugin_lines(path, **options):
    return [f"plugin {path}"] + [f"plugin_opt_{k} {v}" for k, v in options.items()]


def wait_log(b, text, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in b.log():
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not logged within {timeout}s:\n{b.log()[-3000:]}")


@pytest.fixture
def example(broker_factory):
    return broker_factory(conf_lines=plugin_lines(EXAMPLE, deny_topic="secret/#", rewrite_from="in/",
                                                  rewrite_to="out/", stamp="true"))


# ---------------------------------------------------------------- message_in: deny


def test_deny_v5_gets_the_reason_code(example, client):
    sub = client(example, "sub")
    sub.subscribe("#", qos=1)
    pub = client(example, "pub", V5)
    info = pub.publish("secret/plans", b"x", qos=1)
    assert pub.published[info.mid] == 0x87
    pub.publish("open/news", b"y", qos=1)
    got = sub.expect_exactly(1)
    assert (got[0].topic, got[0].payload) == ("open/news", b"y")
    assert pub.is_connected
    # The reason string too, and QoS 2 (paho hides a PUBREC's code behind its PUBREL).
    raw = RawClient(example)
    raw.connect("raw")
    for qos, ack in ((1, PUBACK), (2, PUBREC)):
        raw.publish("secret/plans", b"x", qos=qos, pid=7)
        p = raw.expect(ack)
        assert p.reason_code == 0x87
        assert p.props["ReasonString"] == "denied by strata-example"
    raw.close()


def test_deny_v311_drops_silently_and_other_topics_flow(example, client):
    sub = client(example, "sub", V311)
    sub.subscribe("#", qos=1)
    pub = client(example, "pub", V311)
    for qos in (0, 1, 2):
        pub.publish("secret/plans", b"x", qos=qos)  # acknowledged as usual
    pub.publish("open/news", b"y", qos=1)
    got = sub.expect_exactly(1)
    assert got[0].topic == "open/news"
    assert pub.is_connected


# ---------------------------------------------------------------- message_in: rewrite


@VERSIONS
def test_rewrite_topic_and_stamp(example, client, version):
    sub = client(example, "sub", V5)
    sub.subscribe("#", qos=1)
    pub = client(example, "pub", version)
    pub.publish("in/room1/temp", b"21.5", qos=1)
    got = sub.expect_exactly(1)
    assert got[0].topic == "out/room1/temp"
    assert got[0].payload == b"21.5"
    assert ("stamped-by", "strata-example") in got[0].prop("UserProperty", [])
    pub.publish("other/topic", b"plain", qos=1)  # not rewritten, not stamped
    plain = sub.expect_exactly(1)[0]
    assert plain.topic == "other/topic"
    assert plain.prop("UserProperty") is None


def test_rewritten_message_is_retained_under_the_new_topic(example, client):
    pub = client(example, "pub")
    pub.publish("in/state", b"on", qos=1, retain=True)
    late = client(example, "late")
    late.subscribe("out/state", qos=1)
    got = late.expect_exactly(1)
    assert got[0].payload == b"on" and got[0].retain


def stored_messages(b, topic_filter):
    """The store's messages under a filter, through the HTTP API (as test_query.py does)."""
    status, doc, _ = b.http_request("GET", f"/api/v1/messages?topic={urllib.parse.quote(topic_filter, safe='')}")
    assert status == 200, doc
    return doc["messages"]


def test_the_store_keeps_the_message_as_rewritten(broker_factory, client, tmp_path):
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {tmp_path / 'data'}", "http_listener 0 127.0.0.1"]
                       + plugin_lines(EXAMPLE, rewrite_from="in/", rewrite_to="out/", stamp="true"))
    pub = client(b, "pub", V5)
    pub.publish("in/room1/temp", b"21.5", qos=1)  # PUBACK: committed (durability wal)
    pub.publish("in/state", b"on", qos=1, retain=True)
    pub.publish("other/t", b"plain", qos=1)
    stored = stored_messages(b, "#")
    assert [(m["topic"], m["payload"], m["retain"]) for m in stored] == \
        [("out/room1/temp", "21.5", False), ("out/state", "on", True), ("other/t", "plain", False)]
    # The rewritten message carries the plugin's stamp in the store too; the other does not.
    assert ["stamped-by", "strata-example"] in stored[0]["properties"].get("user_properties", [])
    assert "user_properties" not in stored[2]["properties"]
    assert stored_messages(b, "in/#") == []  # nothing under the original topic
    # The retained message, restored from the store after a restart, is the rewritten one.
    assert b.stop() == 0
    b.start()
    late = client(b, "late", V5)
    late.subscribe("#", qos=1)
    got = late.expect_exactly(1)
    assert (got[0].topic, got[0].payload, got[0].retain) == ("out/state", b"on", True)


# ---------------------------------------------------------------- unsubscribe


@VERSIONS
def test_unsubscribe_event_sees_each_filter_and_can_keep_a_subscription(broker_factory, client, version):
    b = broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, deny_unsubscribe="keep/"))
    sub = client(b, "unsub", version)
    sub.subscribe([("keep/x", 1), ("drop/x", 1), ("$share/g/keep/shared", 1)])
    codes = sub.unsubscribe(["keep/x", "drop/x", "$share/g/keep/shared"])
    if version == V5:
        assert codes == [0x87, 0, 0x87]  # refused by the plugin / removed / refused
    wait_log(b, "event unsubscribe unsub keep/x group=")
    wait_log(b, "event unsubscribe unsub drop/x group=")
    wait_log(b, "event unsubscribe unsub keep/shared group=g")
    pub = client(b, "pub", version)
    for topic in ("keep/x", "drop/x", "keep/shared"):
        pub.publish(topic, topic.encode(), qos=1)
    # The refused unsubscriptions left their subscriptions in place; the other one is gone.
    got = sorted(m.payload for m in sub.expect_exactly(2))
    assert got == [b"keep/shared", b"keep/x"]


# ---------------------------------------------------------------- auth_basic


@pytest.fixture
def with_users(broker_factory):
    return broker_factory(conf_lines=plugin_lines(EXAMPLE, user="alice", password="wonderland"), anonymous=False)


@pytest.mark.parametrize("version,good,bad_password,anonymous", [(V5, 0, 0x86, 0x87), (V311, 0, 4, 5)],
                         ids=["v5", "v311"])
def test_auth_allow_and_deny(with_users, client, version, good, bad_password, anonymous):
    client(with_users, "a", version, username="alice", password="wonderland", expect=good)
    client(with_users, "b", version, username="alice", password="nope", expect=bad_password)
    client(with_users, "c", version, username="mallory", password="wonderland", expect=bad_password)
    client(with_users, "d", version, expect=anonymous)  # no plugin decides: allow_anonymous false


# ---------------------------------------------------------------- acl on subscribe


@VERSIONS
def test_acl_refuses_a_subscription(broker_factory, client, version):
    b = broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, deny_subscribe="private/"))
    c = client(b, "c", version)
    codes = c.subscribe([("private/diary", 1), ("public/news", 1)])
    assert codes == [0x87 if version == V5 else 0x80, 1]


# ---------------------------------------------------------------- two plugins, in conf order


def test_two_plugins_each_do_their_part(broker_factory, client):
    b = broker_factory(conf_lines=plugin_lines(EXAMPLE, deny_topic="secret/#")
                       + plugin_lines(TEST_PLUGIN, deny_subscribe="private/"))
    c = client(b, "c")
    assert c.subscribe([("private/x", 0), ("#", 1)]) == [0x87, 1]
    info = c.publish("secret/x", b"", qos=1)
    assert c.published[info.mid] == 0x87


# ---------------------------------------------------------------- deferred auth


@pytest.fixture
def deferring(broker_factory):
    return broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, defer_user="slow", defer_password="pw"),
                          anonymous=False)


@pytest.mark.parametrize("version,refused", [(V5, 0x86), (V311, 4)], ids=["v5", "v311"])
def test_deferred_auth_answered_from_a_thread(deferring, client, version, refused):
    client(deferring, "ok", version, username="slow", password="pw", expect=0)
    client(deferring, "no", version, username="slow", password="wrong", expect=refused)


def test_packets_sent_before_a_deferred_connack_wait_for_it(deferring):
    c = RawClient(deferring)
    c.send(raw_connect("pipelined", username="slow", password=b"pw") + raw_subscribe(1, [("t", 0)]))
    first = c.recv_packet(TIMEOUT)
    assert first.type == CONNACK and first.reason_code == 0, first
    assert c.expect(SUBACK).reason_codes == [0]
    c.close()


# ---------------------------------------------------------------- enhanced authentication (AUTH)


def test_enhanced_authentication_exchange(broker_factory):
    b = broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, auth_method="TEST-SASL"))
    c = RawClient(b)
    c.send(raw_connect("e", props={"AuthenticationMethod": "TEST-SASL"}))
    challenge = c.expect(AUTH)
    assert challenge.reason_code == 0x18
    assert challenge.props["AuthenticationData"] == b"challenge"
    c.send(auth(0x18, props={"AuthenticationMethod": "TEST-SASL", "AuthenticationData": b"secret"}))
    ack = c.expect(CONNACK)
    assert ack.reason_code == 0
    assert ack.props["AuthenticationMethod"] == "TEST-SASL"
    assert ack.props["AuthenticationData"] == b"welcome"
    c.close()
    other = RawClient(b)
    assert other.connect("o", props={"AuthenticationMethod": "KERBEROS"}).reason_code == 0x8C
    other.close()


def test_deferred_enhanced_authentication(broker_factory):
    # Both answers of the exchange come later, from the plugin's threads.
    b = broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, defer_auth_method="SLOW-SASL"))
    c = RawClient(b)
    # (During enhanced authentication a client sends nothing but AUTH until its
    # CONNACK [MQTT-3.1.2-30], so nothing is pipelined here.)
    c.send(raw_connect("deferred", props={"AuthenticationMethod": "SLOW-SASL"}))
    challenge = c.expect(AUTH)
    assert challenge.reason_code == 0x18
    assert challenge.props["AuthenticationData"] == b"deferred challenge"
    c.send(auth(0x18, props={"AuthenticationMethod": "SLOW-SASL", "AuthenticationData": b"secret"}))
    ack = c.recv_packet(TIMEOUT)
    assert ack.type == CONNACK and ack.reason_code == 0, ack
    assert ack.props["AuthenticationMethod"] == "SLOW-SASL"
    assert ack.props["AuthenticationData"] == b"deferred welcome"
    assert c.subscribe(1, [("t", 0)]).reason_codes == [0]  # an ordinary connected client now
    c.close()
    bad = RawClient(b)
    bad.send(raw_connect("refused", props={"AuthenticationMethod": "SLOW-SASL"}))
    assert bad.expect(AUTH).reason_code == 0x18
    bad.send(auth(0x18, props={"AuthenticationMethod": "SLOW-SASL", "AuthenticationData": b"guess"}))
    refused = bad.expect(CONNACK)
    assert refused.reason_code == 0x87
    bad.expect_closed()


# ---------------------------------------------------------------- events, reload


def test_connect_disconnect_and_tick_events(broker_factory, client):
    b = broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, log_events="true"))
    c = client(b, "evented")
    wait_log(b, "event connect evented")
    c.disconnect()
    wait_log(b, "event disconnect evented accepted=1 client=1")
    wait_log(b, "event tick")


def test_reload_calls_the_reload_event_with_new_options(broker_factory):
    b = broker_factory(conf_lines=plugin_lines(TEST_PLUGIN, marker="one"))
    b.conf_path.write_text(b.conf_path.read_text().replace("marker one", "marker two"))
    b.signal(signal.SIGHUP)
    wait_log(b, "event reload marker=two")
    assert b.alive()


# ---------------------------------------------------------------- configuration errors


def _run(args, timeout=TIMEOUT):
    p = subprocess.run([str(STRATA_BIN)] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    p.output = p.stdout.decode(errors="replace")
    return p


@pytest.mark.parametrize("lines,reason", [
    (["plugin /nonexistent/strata_nothing.so"], "plugin: cannot load '/nonexistent/strata_nothing.so': no such file"),
    ([f"plugin {STRATA_BIN}"], f"plugin: cannot load '{STRATA_BIN}'"),
    (["plugin_opt_user alice"], "must come after a 'plugin' line"),
    (["auth_plugin /usr/lib/mosquitto_auth.so"], "Mosquitto 1.x auth plugin API is not supported"),
    (["auth_opt_backends files"], "Mosquitto 1.x auth plugin API is not supported"),
], ids=["missing-so", "not-a-library", "option-without-plugin", "auth_plugin", "auth_opt"])
def test_check_reports_plugin_errors(tmp_path, lines, reason):
    conf = tmp_path / "bad.conf"
    conf.write_text("listener 0 127.0.0.1\nallow_anonymous true\n" + "\n".join(lines) + "\n")
    for args in (["--check", "-c", str(conf)], ["-c", str(conf)]):
        p = _run(args)
        assert p.returncode != 0, p.output
        assert f"{conf}:3:" in p.output, p.output
        assert reason in p.output, p.output


def test_check_accepts_a_loadable_plugin(tmp_path):
    conf = tmp_path / "good.conf"
    conf.write_text("listener 0 127.0.0.1\n" + "\n".join(plugin_lines(EXAMPLE, deny_topic="x")) + "\n")
    p = _run(["--check", "-c", str(conf)])
    assert p.returncode == 0, p.output


def test_plugin_without_its_options_stops_startup(broker_factory):
    # the example refuses rewrite_from without rewrite_to in its init
    with pytest.raises(RuntimeError, match="strata_plugin_init failed"):
        broker_factory(conf_lines=plugin_lines(EXAMPLE, rewrite_from="a/"))
