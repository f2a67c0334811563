"""Process lifecycle: signals, command line, configuration checking."""
import os
import signal
import socket
import subprocess
import time

import pytest

from clients import V311, V5, MqttClient
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND, STRATA_BIN, _free_port


def _run(args, timeout=10):
    p = subprocess.run([str(STRATA_BIN)] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    p.output = p.stdout.decode(errors="replace")
    return p


# ---------------------------------------------------------------- signals

def test_sigterm_exits_zero_promptly(broker, client):
    a = client(broker, "a", V311)
    b = client(broker, "b", V5)
    a.subscribe("life/#", 1)
    b.publish("life/t", b"x", 1)
    assert a.get().payload == b"x"
    start = time.monotonic()
    assert broker.stop(timeout=10) == 0
    assert time.monotonic() - start < 5
    a.wait_closed()
    b.wait_closed()


def test_sigint_exits_zero(broker, client):
    c = client(broker, "a", V5)
    broker.signal(signal.SIGINT)
    assert broker.proc.wait(10) == 0
    c.wait_closed()


@pytest.mark.strata_only
def test_sigterm_sends_v5_disconnect_server_shutting_down(broker, client):
    # A server closing connections may first send DISCONNECT with 0x8B (Server
    # shutting down), 3.14.2.1 / 4.13. strata does; Mosquitto 2.0.11 just
    # closes the sockets.
    v5 = client(broker, "v5", V5)
    v3 = client(broker, "v3", V311)
    assert broker.stop() == 0
    assert v5.wait_closed() == 0x8B
    assert v3.wait_closed() is None  # 3.1.1 has no server DISCONNECT


def test_sigterm_publishes_wills_of_connected_clients(broker, client):
    # the server closes these connections for a reason other than a DISCONNECT
    # from their clients, so their wills are published ([MQTT-3.1.2-8]);
    # Mosquitto 2.0.11 does it too, before closing the subscribers' connections.
    w5 = client(broker, "watch5", V5)
    w5.subscribe("will/#", 1)
    w3 = client(broker, "watch3", V311)
    w3.subscribe("will/#", 1)
    client(broker, "dying5", V5, will=dict(topic="will/v5", payload=b"five", qos=1))
    client(broker, "dying3", V311, will=dict(topic="will/v3", payload=b"three", qos=1))
    polite = client(broker, "polite", V5, will=dict(topic="will/polite", payload=b"no"))
    polite.disconnect()  # its will is gone
    assert broker.stop() == 0
    for w in (w5, w3):
        got = sorted(m.payload for m in w.expect_exactly(2))
        assert got == [b"five", b"three"], got


def test_sighup_keeps_broker_and_connections(broker, client):
    sub = client(broker, "sub", V311)
    sub.subscribe("hup/#", 1)
    pub = client(broker, "pub", V5)
    pub.publish("hup/retained", b"kept", 1, retain=True)
    assert sub.get().payload == b"kept"
    broker.signal(signal.SIGHUP)
    # existing connections keep working
    pub.publish("hup/t", b"after", 1)
    assert sub.get().payload == b"after"
    assert broker.alive()
    assert sub.is_connected and pub.is_connected
    # new ones too, and the retained message survived
    late = client(broker, "late", V5)
    late.subscribe("hup/retained", 1)
    assert late.get().payload == b"kept"
    broker.signal(signal.SIGHUP)
    pub.publish("hup/t", b"again", 1)
    assert sub.get().payload == b"again"
    assert broker.stop() == 0


# ---------------------------------------------------------------- command line (strata only)

@pytest.mark.strata_only
def test_version():
    p = _run(["--version"])
    assert p.returncode == 0, p.output
    assert "strata" in p.output.lower()
    assert any(ch.isdigit() for ch in p.output)


GOOD_CONF = """\
# a comment
listener 1883 127.0.0.1
allow_anonymous true
max_inflight_messages 10
max_queued_messages 100
retain_available true
"""


@pytest.mark.strata_only
def test_check_good_conf(tmp_path):
    conf = tmp_path / "good.conf"
    conf.write_text(GOOD_CONF)
    p = _run(["--check", "-c", str(conf)])
    assert p.returncode == 0, p.output


BAD_LINES = [
    pytest.param("no_such_option 1", None, id="unknown-key"),
    pytest.param("max_inflight_messages abc", None, id="bad-value"),
    pytest.param("password_file /nonexistent/passwd", "cannot read", id="password_file"),
    pytest.param("cafile /nonexistent/ca.pem", "cannot read", id="cafile"),
    pytest.param("connection bridge-to-cloud", "not supported yet", id="bridge"),
]


def _bad_conf(tmp_path, line, port=1883):
    conf = tmp_path / "bad.conf"
    conf.write_text(GOOD_CONF.replace("listener 1883", f"listener {port}") + line + "\n")
    return conf, GOOD_CONF.count("\n") + 1  # the bad line's number


@pytest.mark.strata_only
@pytest.mark.parametrize("line,reason", BAD_LINES)
def test_check_bad_conf(tmp_path, line, reason):
    conf, lineno = _bad_conf(tmp_path, line)
    p = _run(["--check", "-c", str(conf)])
    assert p.returncode != 0, p.output
    assert f"{conf}:{lineno}:" in p.output, p.output
    if reason:
        assert reason in p.output


@pytest.mark.strata_only
@pytest.mark.parametrize("line,reason", BAD_LINES)
def test_start_with_bad_conf_fails(tmp_path, line, reason):
    # (an ephemeral port, in case the broker does get as far as listening)
    conf, lineno = _bad_conf(tmp_path, line, port=0)
    try:
        p = _run(["-c", str(conf)], timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("strata started despite a bad configuration line")
    assert p.returncode != 0, p.output
    assert f"{conf}:{lineno}:" in p.output, p.output
    if reason:
        assert reason in p.output


@pytest.mark.strata_only
def test_port_option(broker_factory):
    # -p PORT without any listener in the configuration file
    port = _free_port()
    b = broker_factory(listener=False, args=["-p", str(port)])
    assert b.port == port
    c = MqttClient(b, "p-opt", V5)
    try:
        c.connect()
        c.subscribe("p/t", 1)
        c.publish("p/t", b"x", 1)
        assert c.get().payload == b"x"
    finally:
        c.close()
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert b.stop() == 0


@pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's asynchronous log")
def test_a_log_destination_that_does_not_keep_up_never_holds_up_clients(broker_factory, client, tmp_path):
    """The log file is a pipe nobody reads (as a hung disk or a stuck log
    collector would be): with every packet logged (-v), the broker still
    answers every publisher, drops the lines that do not fit, and says how
    many once the pipe is read again."""
    fifo = tmp_path / "log.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open, never read until the end
    try:
        b = broker_factory(conf_lines=[f"log_dest file {fifo}"])
        pub = client(b, "chatty", V5)
        topic = "log/" + "t" * 1000
        # ~6.5 MB of "Received PUBLISH" lines alone: the pipe holds 64 kB, the logger 4 MB more.
        for i in range(6000):
            pub.publish(topic, b"x", qos=1, timeout=10)
        got = b""
        deadline = time.monotonic() + 20
        while b"log lines were dropped" not in got:
            assert time.monotonic() < deadline, got[-2000:]
            try:
                chunk = os.read(reader, 1 << 16)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            got += chunk
    finally:
        os.close(reader)
