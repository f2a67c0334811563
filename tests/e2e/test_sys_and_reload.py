"""$SYS topics, configuration reload on SIGHUP, logging, pid file, daemon
mode, per-listener max_connections and mount_point."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
import types

import pytest

from clients import V311, V5, TIMEOUT, MqttClient
from clients import client  # noqa: F401  (fixture)
from conftest import STRATA_BIN
from rawmqtt import CONNACK, PINGRESP, PUBREC, ConnectionClosed, RawClient, assert_broker_healthy
from rawmqtt import connect as raw_connect


def _wait_until(pred, timeout=TIMEOUT, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def _wait_log(b, text, timeout=TIMEOUT, count=1):
    """Wait until `text` occurs at least `count` times in the broker's log."""
    ok = _wait_until(lambda: b.log().count(text) >= count, timeout)
    assert ok, f"{text!r} not logged {count} time(s) within {timeout}s:\n{b.log()[-3000:]}"


# ------------------------------------------------------------------ $SYS

class SysWatcher:
    """Follows the values of $SYS topics seen by a subscribed client."""

    def __init__(self, c):
        self.c = c
        self.values = {}

    def _pump(self, timeout):
        try:
            m = self.c.messages.get(timeout=timeout)
        except Exception:
            return
        self.values[m.topic] = m.payload.decode(errors="replace")

    def wait_for(self, topic, pred=lambda v: True, timeout=6):
        deadline = time.monotonic() + timeout
        while True:
            v = self.values.get(topic)
            if v is not None and pred(v):
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{topic}: last value {v!r} never satisfied the condition "
                                     f"within {timeout}s (values: {self.values})")
            self._pump(min(left, 0.1))


@pytest.mark.strata_only
def test_sys_topics(broker_factory, client):
    b = broker_factory(conf_lines=["sys_interval 1"])
    c = client(b, "sys-watch", V5)
    assert c.subscribe("$SYS/broker/#", 0) == [0]
    sys = SysWatcher(c)
    version = sys.wait_for("$SYS/broker/version")
    assert version.startswith("strata version"), version
    uptime = sys.wait_for("$SYS/broker/uptime")
    assert re.fullmatch(r"\d+ seconds", uptime), uptime
    # uptime goes on
    sys.wait_for("$SYS/broker/uptime", lambda v: int(v.split()[0]) > int(uptime.split()[0]), timeout=4)

    # clients/connected follows clients connecting and leaving (the retained
    # value may predate this watcher: wait for the count of 1 first)
    connected = "$SYS/broker/clients/connected"
    sys.wait_for(connected, lambda v: int(v) == 1, timeout=4)
    extra = [client(b, f"sys-extra-{i}", V311) for i in range(2)]
    sys.wait_for(connected, lambda v: int(v) == 3, timeout=5)
    for e in extra:
        e.disconnect()
    sys.wait_for(connected, lambda v: int(v) == 1, timeout=5)

    # messages/received grows with publishes
    received = int(sys.wait_for("$SYS/broker/messages/received"))
    pub = client(b, "sys-pub", V311)
    for i in range(5):
        pub.publish("sys/test", b"x", 1)
    sys.wait_for("$SYS/broker/messages/received", lambda v: int(v) >= received + 5, timeout=5)


def test_sys_not_matched_by_leading_wildcards(broker_factory, client):
    # [MQTT-4.7.2-1]: filters starting with # or + do not match topics starting with $
    b = broker_factory(conf_lines=["sys_interval 1"])
    sys_sub = client(b, "sys-only", V5)
    assert sys_sub.subscribe("$SYS/#", 0) == [0]
    everything = client(b, "hash", V5)
    assert everything.subscribe([("#", 0), ("+/broker/#", 0), ("+/broker/uptime", 0)]) == [0, 0, 0]
    v3 = client(b, "hash3", V311)
    assert v3.subscribe("#", 0) == [0]
    # $SYS is being published (uptime changes every second)...
    sys_sub.get(timeout=4)
    time.sleep(2.2)
    assert sys_sub.drain(0.1), "no $SYS update within 2 s with sys_interval 1"
    # ... but none of it (live or retained) reached the wildcard subscribers
    for c in (everything, v3):
        dollar = [m for m in c.drain(0.2) if m.topic.startswith("$")]
        assert dollar == [], f"{c.client_id}: {dollar[:5]}"
    # they do get ordinary topics
    p = client(b, "hash-pub", V311)
    p.publish("plain/topic", b"x", 1)
    assert everything.get().topic == "plain/topic"
    assert v3.get().topic == "plain/topic"


def test_clients_cannot_publish_to_sys(broker_factory, client):
    b = broker_factory(conf_lines=["sys_interval 1"])
    watch = client(b, "sys-watch", V5)
    assert watch.subscribe("$SYS/#", 1) == [1]
    w3 = client(b, "sys-watch3", V311)
    assert w3.subscribe("$SYS/broker/fake/#", 1) == [1]
    v5 = client(b, "sys-fake5", V5)
    info = v5.publish("$SYS/broker/fake", b"forged", 1)
    assert v5.published[info.mid] == 0x87, f"PUBACK reason 0x{v5.published[info.mid]:02x}, expected 0x87"
    # QoS 2 (raw: paho would send PUBREL after a failed PUBREC anyway)
    with RawClient(b, version=V5) as raw:
        assert raw.connect("sys-fake5q2", version=V5).reason_code == 0
        raw.publish("$SYS/broker/fake/q2", b"forged2", qos=2, pid=5)
        rec = raw.expect(PUBREC)
        assert (rec.pid, rec.reason_code) == (5, 0x87), rec
        raw.disconnect()
    v3 = client(b, "sys-fake3", V311)
    v3.publish("$SYS/broker/fake/v3", b"forged3", 1, retain=True)
    v3.publish("$SYS/broker/fake/v3", b"forged3", 0)
    time.sleep(0.3)
    forged = [m for m in watch.drain(0.3) if m.topic.startswith("$SYS/broker/fake")]
    assert forged == [], forged
    w3.expect_none(0.2)
    # nothing was retained either
    late = client(b, "sys-late", V5)
    assert late.subscribe("$SYS/broker/fake/#", 1) == [1]
    late.expect_none(0.5)
    assert v5.is_connected and v3.is_connected  # denied, not disconnected


# ------------------------------------------------------------------ SIGHUP reload

def _rewrite_conf(b, lines):
    b.conf_path.write_text("\n".join(["listener 0 127.0.0.1", "allow_anonymous true"] + list(lines)) + "\n")


def _reload(b, lines):
    """Rewrite the conf, send SIGHUP and wait until the broker has read it."""
    before = b.log().count("Reloading config")
    _rewrite_conf(b, lines)
    b.signal(signal.SIGHUP)
    _wait_log(b, "Reloading config", count=before + 1)
    # the line is logged before the new settings are handed to the workers
    time.sleep(0.3)
    assert b.alive(), b.log()[-3000:]


def _offline_queue(client, b, sub, pub, n, tag):
    """Take `sub` (persistent) offline, publish n QoS 1 messages, reconnect and
    return the payloads delivered."""
    gone = f"Client {sub.client_id} disconnected"
    before = b.log().count(gone)
    sub.disconnect()
    # the session must be offline before the messages come, or they would go
    # in flight instead of into the queue
    _wait_log(b, gone, count=before + 1)
    for i in range(n):
        pub.publish("reload/q", f"{tag}{i}".encode(), 1)
    ack = sub.reconnect()
    assert ack.session_present is True, ack
    got = sub.drain(0.5)
    return [m.payload.decode() for m in got]


@pytest.mark.strata_only
def test_reload_max_queued_messages(broker_factory, client):
    b = broker_factory(conf_lines=["max_queued_messages 3"])
    sub = client(b, "reload-sub", V311, clean=False)
    assert sub.subscribe("reload/q", 1) == [1]
    pub = client(b, "reload-pub", V5)
    got = _offline_queue(client, b, sub, pub, 10, "a")
    assert got == ["a0", "a1", "a2"], got  # the queue holds 3; later ones are dropped

    _reload(b, ["max_queued_messages 50"])
    assert pub.is_connected and sub.is_connected, "a connection did not survive the reload"
    got = _offline_queue(client, b, sub, pub, 10, "b")
    assert got == [f"b{i}" for i in range(10)], got

    _reload(b, ["max_queued_messages 2"])
    got = _offline_queue(client, b, sub, pub, 10, "c")
    assert got == ["c0", "c1"], got
    assert_broker_healthy(b)


@pytest.mark.strata_only
def test_reload_logging_settings(broker_factory, client):
    # without -v, which would override log_type at every reload
    b = broker_factory(verbose=False)
    a = client(b, "hup-a", V5)
    _wait_log(b, "New client connected from")
    b.await_log(" as hup-a ")
    a.publish("hup/t", b"1", 1)
    a.sync()
    time.sleep(0.2)
    assert "Received PUBLISH" not in b.log(), "debug lines logged without log_type debug"

    _reload(b, ["log_type all"])
    a.publish("hup/t", b"2", 1)
    _wait_log(b, "Received PUBLISH from hup-a")
    client(b, "hup-b", V311)
    _wait_log(b, " as hup-b ")

    _reload(b, ["log_type all", "connection_messages false"])
    n_new = b.log().count("New client connected")
    n_conn = b.log().count("New connection from")
    c = client(b, "hup-c", V5)
    c.sync()
    c.disconnect()
    a.publish("hup/t", b"3", 1)
    _wait_log(b, "Received PUBLISH from hup-a", count=2)
    time.sleep(0.2)
    log = b.log()
    assert " as hup-c " not in log and log.count("New client connected") == n_new, log[-2000:]
    assert log.count("New connection from") == n_conn, log[-2000:]
    assert "Client hup-c disconnected" not in log, log[-2000:]
    assert a.is_connected


@pytest.mark.strata_only
def test_reload_invalid_conf_keeps_running_settings(broker_factory, client):
    b = broker_factory(conf_lines=["max_queued_messages 3"])
    sub = client(b, "bad-sub", V5, clean=False, session_expiry=300)
    assert sub.subscribe("reload/q", 1) == [1]
    pub = client(b, "bad-pub", V311)

    before = b.log().count("Reloading config")
    lines = ["max_queued_messages 50", "no_such_option 1"]
    _rewrite_conf(b, lines)
    bad_line = 2 + len(lines)  # after the listener and allow_anonymous lines
    b.signal(signal.SIGHUP)
    _wait_log(b, "Reloading config", count=before + 1)
    _wait_log(b, f"{b.conf_path}:{bad_line}:")
    b.await_log("not reloaded")
    assert b.alive()
    assert pub.is_connected and sub.is_connected
    # still the old limit
    got = _offline_queue(client, b, sub, pub, 10, "x")
    assert got == ["x0", "x1", "x2"], got
    # a later good reload works
    _reload(b, ["max_queued_messages 50"])
    got = _offline_queue(client, b, sub, pub, 10, "y")
    assert got == [f"y{i}" for i in range(10)], got
    assert_broker_healthy(b)


# ------------------------------------------------------------------ logging

@pytest.mark.strata_only
def test_log_dest_file(broker_factory, client, tmp_path):
    path = tmp_path / "strata-file.log"
    b = broker_factory(conf_lines=[f"log_dest file {path}"])
    c = client(b, "to-file", V5)
    c.publish("file/t", b"x", 1)
    assert _wait_until(lambda: path.exists() and "Received PUBLISH from to-file" in path.read_text()), \
        path.read_text() if path.exists() else "no log file"
    text = path.read_text()
    assert "strata version" in text
    assert " as to-file " in text
    # the default destination (stderr) is replaced
    assert " as to-file " not in b.log(), b.log()[-2000:]


@pytest.mark.strata_only
def test_a_start_up_failure_shows_on_stderr_even_when_the_log_goes_to_a_file(tmp_path):
    # Otherwise a systemd unit or a terminal sees strata exit 1 and nothing
    # else (the log file may be somewhere the user does not look).
    log_path = tmp_path / "strata-file.log"
    conf = tmp_path / "s.conf"
    conf.write_text(f"listener 0 127.0.0.1\nlog_dest file {log_path}\n"
                    f"pid_file {tmp_path}/no-such-dir/strata.pid\n")
    p = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "unable to write pid file" in p.stderr, p.stderr
    assert "unable to write pid file" in log_path.read_text()
    assert "starting" not in p.stderr, p.stderr  # only the fatal line, not the whole log


def test_verbose_logs_publish(broker_factory, client):
    b = broker_factory()  # conftest starts it with -v
    c = client(b, "chatty", V311)
    c.publish("verbose/t", b"x", 1)
    _wait_log(b, "Received PUBLISH from chatty")
    # and without -v (default log types) it does not
    quiet = broker_factory(verbose=False)
    c = client(quiet, "mum", V311)
    c.publish("verbose/t", b"x", 1)
    c.sync()
    time.sleep(0.2)
    log = quiet.log()
    assert "Received PUBLISH" not in log, log
    assert " as mum " in log, log  # (connection messages are logged by default)


def test_connection_messages_false(broker_factory, client):
    b = broker_factory(conf_lines=["connection_messages false"])
    c = client(b, "silent", V5)
    c.sync()
    c.disconnect()
    other = client(b, "other", V311)
    other.publish("cm/t", b"x", 1)
    _wait_log(b, "Received PUBLISH from other")
    log = b.log()
    assert "New client connected" not in log, log
    assert "New connection from" not in log, log
    assert "silent disconnected" not in log, log


# ------------------------------------------------------------------ pid file, daemon

@pytest.mark.strata_only
def test_pid_file(broker_factory, tmp_path):
    pid_path = tmp_path / "strata.pid"
    b = broker_factory(conf_lines=[f"pid_file {pid_path}"])
    assert pid_path.exists()
    assert int(pid_path.read_text().strip()) == b.proc.pid
    assert b.stop() == 0
    assert not pid_path.exists(), "pid file left behind after SIGTERM"


def _process_gone(pid):
    """True when `pid` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.strata_only
def test_daemon_mode(tmp_path):
    pid_path = tmp_path / "daemon.pid"
    ports_path = tmp_path / "daemon.ports"
    log_path = tmp_path / "daemon.log"
    conf = tmp_path / "daemon.conf"
    conf.write_text("\n".join([
        "listener 0 127.0.0.1",
        "allow_anonymous true",
        f"pid_file {pid_path}",
        f"log_dest file {log_path}",
    ]) + "\n")
    start = time.monotonic()
    p = subprocess.run([str(STRATA_BIN), "-d", "-c", str(conf), "--ports-file", str(ports_path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    assert p.returncode == 0, p.stdout
    assert time.monotonic() - start < 5, "strata -d did not return at once"
    pid = None
    try:
        assert _wait_until(lambda: ports_path.exists() and pid_path.exists(), 10), \
            log_path.read_text() if log_path.exists() else "no log"
        pid = int(pid_path.read_text().strip())
        assert not _process_gone(pid)
        port = int(ports_path.read_text().split()[2])
        target = types.SimpleNamespace(host="127.0.0.1", port=port)
        c = MqttClient(target, "to-daemon", V5)
        try:
            c.connect()
            assert c.subscribe("daemon/t", 1) == [1]
            c.publish("daemon/t", b"served", 1)
            assert c.get().payload == b"served"
        finally:
            c.close()
        os.kill(pid, signal.SIGTERM)
        assert _wait_until(lambda: _process_gone(pid), 10), "daemon still running 10 s after SIGTERM"
        assert not pid_path.exists(), "pid file left behind"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert "terminating" in log_path.read_text()
    finally:
        if pid is not None and not _process_gone(pid):
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------ listeners

def _try_open(b, cid):
    """A connected RawClient, or None if the broker closed the connection."""
    try:
        c = RawClient(b, version=V5, timeout=3)
    except OSError:
        return None
    try:
        c.send(raw_connect(cid, version=V5))
        p = c.recv_packet(3)
    except (OSError, ConnectionClosed):
        c.close()
        return None
    if p is None or p.type != CONNACK or p.reason_code != 0:
        c.close()
        return None
    return c


def _open_retrying(b, cid, timeout=3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = _try_open(b, cid)
        if c is not None:
            return c
        time.sleep(0.05)
    raise AssertionError(f"{cid}: connection not accepted within {timeout}s")


# Mosquitto 2.0.11 did not refuse the 4th connection here (its per-listener
# client count is known to drift: eclipse-mosquitto/mosquitto#1460).
@pytest.mark.strata_only
def test_listener_max_connections(broker_factory):
    b = broker_factory(conf_lines=["max_connections 3"])
    # (retrying: the harness's start-up probe may still be counted for a moment)
    held = [_open_retrying(b, f"mc-{i}") for i in range(3)]
    try:
        # the 4th is closed at once, without a CONNACK
        for attempt in range(3):
            c = RawClient(b, version=V5, timeout=3)
            try:
                try:
                    c.send(raw_connect(f"mc-extra-{attempt}", version=V5))
                except OSError:
                    pass
                assert c.expect_closed(2), "4th connection not closed"
                assert c.discarded == [], f"4th connection got {c.discarded}"
            finally:
                c.close()
        # the 3 are unaffected
        for c in held:
            c.pingreq()
            c.expect(PINGRESP)
        # one leaves: a new one is accepted again
        held.pop(0).disconnect()
        held.append(_open_retrying(b, "mc-new"))
        assert _try_open(b, "mc-over") is None, "max_connections exceeded after a slot was reused"
    finally:
        for c in held:
            c.close()


@pytest.mark.strata_only
def test_mount_point(broker_factory, client):
    b = broker_factory(conf_lines=["listener 0 127.0.0.1", "mount_point tenant1/"])
    assert len(b.ports) == 2, f"ports file: {b.ports_path.read_text()}"
    plain_ep = types.SimpleNamespace(host=b.host, port=b.ports[0])
    tenant_ep = types.SimpleNamespace(host=b.host, port=b.ports[1])
    plain = client(plain_ep, "plain", V5)
    assert plain.subscribe([("tenant1/#", 1), ("other/#", 1)]) == [1, 1]
    tenant = client(tenant_ep, "tenant", V311)
    assert tenant.subscribe("#", 1) == [1]

    tenant.publish("a", b"from-tenant", 1)
    m = plain.get()
    assert (m.topic, m.payload) == ("tenant1/a", b"from-tenant"), m
    m = tenant.get()  # its own subscription, topic shown without the mount point
    assert (m.topic, m.payload) == ("a", b"from-tenant"), m

    plain.publish("other/x", b"not-for-tenant", 1)
    assert plain.get().topic == "other/x"
    plain.publish("tenant1/b", b"for-tenant", 1)
    assert plain.get().topic == "tenant1/b"
    got = tenant.expect_exactly(1, quiet=0.3)
    assert [(m.topic, m.payload) for m in got] == [("b", b"for-tenant")], got
