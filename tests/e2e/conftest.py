"""Test harness: starts a real broker process on an ephemeral loopback port.

By default the broker under test is build/bin/strata. Setting
STRATA_TEST_BROKER=mosquitto runs the same tests against Debian's Mosquitto,
which is how the expectations in these tests were cross-checked; tests that
cover behaviour where strata deliberately differs from Mosquitto 2.0 carry the
`strata_only` marker.
"""
import hashlib
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import json

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
STRATA_BIN = pathlib.Path(os.environ.get("STRATA_BIN", REPO / "build" / "bin" / "strata"))
BROKER_KIND = os.environ.get("STRATA_TEST_BROKER", "strata")
MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")


def pytest_configure(config):
    config.addinivalue_line("markers", "strata_only: behaviour specific to strata (not Mosquitto 2.0)")


def pytest_collection_modifyitems(config, items):
    # STRATA_TEST_RUN_STRATA_ONLY=1 runs the strata_only tests against Mosquitto
    # too (to see them fail there, i.e. that they do check the difference).
    if BROKER_KIND == "strata" or os.environ.get("STRATA_TEST_RUN_STRATA_ONLY") == "1":
        return
    skip = pytest.mark.skip(reason="strata-specific behaviour")
    for item in items:
        if "strata_only" in item.keywords:
            item.add_marker(skip)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A running broker process. `port` is its MQTT listener on 127.0.0.1;
    `ports` lists the port of every socket in the ports file, in its order
    (strata only; [port] for Mosquitto). `http_ports` lists the ports of the
    query API (http_listener; strata only) and `http_port` is the first, or
    None. verbose=False leaves out -v. env: the broker process's environment
    (default: the test's)."""

    def __init__(self, workdir, conf_lines=(), args=(), anonymous=True, listener=True, verbose=True, env=None):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.conf_path = self.workdir / "broker.conf"
        self.log_path = self.workdir / "broker.log"
        self.ports_path = self.workdir / "ports"
        lines = []
        if BROKER_KIND == "mosquitto":
            self.port = _free_port()
            if listener:
                lines.append(f"listener {self.port} 127.0.0.1")
            if os.geteuid() == 0:
                # Mosquitto started as root drops to user "mosquitto", which cannot
                # read the tests' files (password files are private, as they should be).
                lines.append("user root")
        else:
            self.port = None
            if listener:
                lines.append("listener 0 127.0.0.1")
        if anonymous:
            lines.append("allow_anonymous true")
        lines.extend(conf_lines)
        # The HTTP API wants a user: a conf with an http_listener and no HTTP
        # users of its own gets an admin token, which http_headers() sends.
        self.http_token = None
        if any(l.startswith("http_listener") for l in conf_lines) and \
                not any(l.startswith(("http_token_file", "http_admin")) for l in conf_lines):
            self.http_token = "strata_test_" + secrets.token_urlsafe(32)
            tokens = self.workdir / "http_tokens"
            tokens.write_text(f"strata-test:sha256:{hashlib.sha256(self.http_token.encode()).hexdigest()}\n")
            lines += [f"http_token_file {tokens}", "http_admin strata-test"]
        self.conf_path.write_text("\n".join(lines) + "\n")
        self.extra_args = list(args)
        self.verbose = verbose
        self.env = env
        self.ports = []
        self.ports_of = {}
        self.http_ports = []
        self.http_port = None
        self.proc = None
        self.start()

    def command(self):
        if BROKER_KIND == "mosquitto":
            return [MOSQUITTO_BIN, "-c", str(self.conf_path)] + (["-v"] if self.verbose else []) + \
                self.extra_args
        return [str(STRATA_BIN), "-c", str(self.conf_path)] + (["-v"] if self.verbose else []) + \
            ["--ports-file", str(self.ports_path)] + self.extra_args

    def start(self):
        if self.ports_path.exists():
            self.ports_path.unlink()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log()}")
            if BROKER_KIND != "mosquitto":
                # strata writes the ports file (atomically) once every listener is bound
                self.port = None
                if self.ports_path.exists():
                    self._read_ports()
                if self.port is None:
                    time.sleep(0.02)
                    continue
            if self._connectable():
                if not self.ports:
                    self.ports = [self.port]
                return
            time.sleep(0.02)
        raise RuntimeError(f"broker did not start listening:\n{self.log()}")

    def _read_ports(self):
        # one line per bound socket: "<kind> <address> <port>", kind = mqtt, mqtts,
        # ws, wss, http or https; `ports` are the mqtt ones and `port` the first of them
        # (or of any MQTT kind), `ports_of[kind]` every kind's, `http_ports` the
        # HTTP API's (http and https, in file order) and `http_port` the first
        self.ports_of = {}
        for line in self.ports_path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                self.ports_of.setdefault(parts[0], []).append(int(parts[2]))
        self.ports = self.ports_of.get("mqtt", [])
        self.http_ports = [int(p) for kind, _, p in (line.split() for line in self.ports_path.read_text().splitlines()
                                                      if line.split()[0:1] in (["http"], ["https"]))]
        any_mqtt = self.ports or [p for k in ("mqtts", "ws", "wss") for p in self.ports_of.get(k, [])]
        if any_mqtt:
            self.port = any_mqtt[0]
        self.http_port = self.http_ports[0] if self.http_ports else None

    def http_headers(self):
        """The Authorization header of the test's admin token, if it has one."""
        return {"Authorization": f"Bearer {self.http_token}"} if self.http_token else {}

    def http_request(self, method, path_and_query, headers=None, timeout=30):
        """One request to the first HTTP listener as the test's admin (unless
        `headers` says otherwise); returns (status, parsed JSON, headers)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path_and_query}", method=method,
                                         headers={**self.http_headers(), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, json.loads(r.read()), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def _connectable(self):
        if self.port is None:
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def await_log(self, text, count=1, timeout=10):
        """The log, once `text` is in it `count` times. strata writes its log on
        a thread of its own, so a line can land a moment after what it tells of
        is visible to a client: a test that looks for one waits (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if time.monotonic() >= deadline:
                raise AssertionError(f"{text!r} not in the log {count} time(s) within {timeout} s:\n{log[-3000:]}")
            time.sleep(0.02)

    def await_ports(self, condition, what, timeout=10):
        """Reads the ports file again until condition(self) holds: a SIGHUP that
        opens or closes HTTP listeners rewrites it (atomically) once it has."""
        deadline = time.monotonic() + timeout
        while True:
            self._read_ports()
            if condition(self):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"broker exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what}: not so within {timeout} s; ports file:\n"
                                     f"{self.ports_path.read_text()}\nlog:\n{self.log()[-3000:]}")
            time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """Graceful stop (SIGTERM); returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("broker did not stop within %ss after SIGTERM" % timeout)
        finally:
            self._log.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def alive(self):
        return self.proc.poll() is None


@pytest.fixture
def broker_factory(tmp_path):
    """Start brokers with custom conf lines: broker_factory(conf_lines=[...])."""
    started = []

    def make(conf_lines=(), args=(), anonymous=True, name=None, listener=True, verbose=True, env=None):
        workdir = tmp_path / (name or f"broker{len(started)}")
        b = Broker(workdir, conf_lines=conf_lines, args=args, anonymous=anonymous, listener=listener,
                   verbose=verbose, env=env)
        started.append(b)
        return b

    yield make
    for b in started:
        crashed = b.proc.poll() is not None and b.proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)
        b.kill()
        if crashed:
            pytest.fail(f"broker exited unexpectedly with {b.proc.returncode}:\n{b.log()[-4000:]}")


@pytest.fixture
def broker(broker_factory):
    """A broker with default settings plus anonymous access on a loopback listener."""
    return broker_factory()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Certificates for TLS tests, made once per test module run (pki.py)."""
    from pki import Pki
    return Pki(tmp_path_factory.mktemp("pki"))
