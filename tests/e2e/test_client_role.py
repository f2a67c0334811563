"""The client role of strata's protocol layer (protocol::client_connection),
driven over TCP by build/bin/strata_client_probe (tests/tools/client_probe.cpp),
against real servers: the broker under test, and Debian's Mosquitto started
here on 127.0.0.1. mosquitto_pub, a third-party client, publishes what the
probe must receive."""
import os
import subprocess
import threading

import pytest

from clients import mosquitto_pub
from conftest import MOSQUITTO_BIN, STRATA_BIN
from servers import free_port, stop_process, wait_port

PROBE = STRATA_BIN.parent / "strata_client_probe"


class Mosquitto:
    """Mosquitto with -v on a free loopback port; its log in `log()`."""

    def __init__(self, workdir):
        workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.log_path = workdir / "mosquitto.log"
        self._log = open(self.log_path, "wb")
        # free_port() only finds a port that was free a moment ago: under a
        # parallel test run another server may take it first, and Mosquitto
        # then exits with "Address already in use". That, and only that, is
        # tried again on another port.
        for attempt in range(3):
            self.port = free_port()
            conf = workdir / "mosquitto.conf"
            lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
            if os.geteuid() == 0:
                lines.append("user root")  # else it drops to a user that cannot read the test's files
            conf.write_text("\n".join(lines) + "\n")
            self.proc = subprocess.Popen([MOSQUITTO_BIN, "-c", str(conf), "-v"], stdout=self._log,
                                         stderr=subprocess.STDOUT)
            try:
                wait_port(self.port, timeout=15, proc=self.proc, what="mosquitto", output=self.log)
                return
            except RuntimeError:
                if attempt == 2 or "Address already in use" not in self.log():
                    raise

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        stop_process(self.proc, 10)
        self._log.close()


@pytest.fixture(params=["broker-under-test", "mosquitto"])
def server(request, broker_factory, tmp_path):
    if request.param == "mosquitto":
        m = Mosquitto(tmp_path / "mosquitto")
        yield m
        m.stop()
    else:
        yield broker_factory()


def probe(server, version, client_id, *args, timeout=30):
    """Runs the probe to its end; returns (exit code, output lines)."""
    cmd = [str(PROBE), str(server.port), str(version), client_id, *args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace").splitlines()


def messages(lines):
    return sorted(l for l in lines if l.startswith("message "))


@pytest.mark.parametrize("version", [3, 4, 5])
def test_qos_0_1_2_round_trip_through_the_server(server, version):
    rc, lines = probe(server, version, f"probe-{version}", "--sub", "t/#:2",
                      "--pub", "t/0:0:zero", "--pub", "t/1:1:one", "--pub", "t/2:2:two", "--expect", "3")
    assert rc == 0, "\n".join(lines) + "\n" + server.log()
    assert lines[0] == "connack 0 0"
    assert "suback 2" in lines
    assert messages(lines) == ["message t/0 0 zero", "message t/1 1 one", "message t/2 2 two"]
    assert sorted(l for l in lines if l.startswith("published")) == ["published 2 0", "published 3 0"]


def probe_while(server, version, client_id, args, when, action, timeout=20):
    """Runs the probe, and `action()` once it prints a line starting with
    `when`; returns (exit code, output lines)."""
    cmd = [str(PROBE), str(server.port), str(version), client_id, *args, "--timeout", str(timeout)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    seen = threading.Event()

    def read():
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace").rstrip("\n"))
            if lines[-1].startswith(when):
                seen.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert seen.wait(timeout), "\n".join(lines)
        action()
        rc = proc.wait(timeout + 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
    return rc, lines


@pytest.mark.parametrize("version", [4, 5])
def test_receives_what_a_third_party_client_publishes(server, version):
    def publish():
        mosquitto_pub(server, "x/1", "from mosquitto_pub", qos=1)
        mosquitto_pub(server, "x/2", "exactly once", qos=2)

    rc, lines = probe_while(server, version, "listener", ["--sub", "x/#:2", "--expect", "2"], "suback", publish)
    assert rc == 0, "\n".join(lines)
    assert messages(lines) == ["message x/1 1 from mosquitto_pub", "message x/2 2 exactly once"]


@pytest.mark.parametrize("version", [4, 5])
def test_a_session_resumed_gets_what_was_queued(server, version):
    keep = ["--clean", "0"] + (["--expiry", "300"] if version == 5 else [])
    rc, lines = probe(server, version, "keeper", *keep, "--sub", "q/#:1", "--drop")
    assert rc == 0, "\n".join(lines)
    assert lines[0] == "connack 0 0"
    mosquitto_pub(server, "q/1", "while away", qos=1)
    rc, lines = probe(server, version, "keeper", *keep, "--expect", "1")
    assert rc == 0, "\n".join(lines) + "\n" + server.log()
    assert lines[0] == "connack 1 0"
    assert messages(lines) == ["message q/1 1 while away"]


@pytest.mark.parametrize("bridge", [True, False])
def test_a_bridge_does_not_get_its_own_messages_back(server, bridge):
    # MQTT 3.1.1 with the bridge bit: the server treats the client as a
    # Mosquitto bridge (No Local, Retain As Published), so a topic bridged
    # both ways cannot loop. Without the bit its own message comes back. A
    # marker from another client, published after the probe's own message
    # was acknowledged, arrives after any copy of it would have.
    def marker():
        mosquitto_pub(server, "t/marker", "from elsewhere", qos=1)

    args = (["--bridge"] if bridge else []) + ["--sub", "t/#:1", "--pub", "t/1:1:own", "--expect", "1" if bridge else "2"]
    rc, lines = probe_while(server, 4, "edge-bridge" if bridge else "plain-client", args, "published", marker)
    assert rc == 0, "\n".join(lines) + "\n" + server.log()
    if bridge:
        assert messages(lines) == ["message t/marker 1 from elsewhere"]
        assert "New bridge connected from" in server.log()
    else:
        assert messages(lines) == ["message t/1 1 own", "message t/marker 1 from elsewhere"]
