"""Client-side helpers for the end-to-end tests: a synchronous wrapper around
paho-mqtt 2.x (MQTT 3.1.1 and 5.0) and a wrapper around the mosquitto_sub /
mosquitto_pub command line clients.

Everything here waits with a bounded timeout: a broker that does not answer
makes a test fail with an AssertionError, never hang.
"""
import queue
import shutil
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

V311 = 4
V5 = 5
TIMEOUT = 5.0  # default bound for any single wait

# @VERSIONS on a test parametrizes its `version` argument over both protocol versions.
VERSIONS = pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])


def props(packet_type, **values):
    """Build paho Properties: props(PacketTypes.CONNECT, SessionExpiryInterval=10).
    UserProperty takes a list of (key, value) tuples."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def prop(properties, name, default=None):
    """A property value from paho Properties (None-safe)."""
    if properties is None:
        return default
    return getattr(properties, name, default)


class Msg:
    """A received PUBLISH, as seen by the application."""

    def __init__(self, m):
        self.topic = m.topic
        self.payload = bytes(m.payload)
        self.qos = m.qos
        self.retain = bool(m.retain)
        self.dup = bool(m.dup)
        self.mid = m.mid
        self.properties = getattr(m, "properties", None)
        self.received_at = time.monotonic()

    def prop(self, name, default=None):
        return prop(self.properties, name, default)

    def __repr__(self):
        return (f"Msg({self.topic!r}, {self.payload!r}, qos={self.qos}, retain={self.retain}, "
                f"props={self.properties})")


class Connack:
    def __init__(self, reason, session_present, properties):
        self.reason = reason              # raw CONNACK return code / reason code (int)
        self.session_present = session_present
        self.properties = properties      # paho Properties (v5) or None

    def prop(self, name, default=None):
        return prop(self.properties, name, default)

    def __repr__(self):
        return f"Connack(reason=0x{self.reason:02x}, sp={self.session_present}, props={self.properties})"


class _Paho(mqtt.Client):
    """paho Client that records the raw CONNACK and DISCONNECT codes.

    paho 2.1 ignores the reason code of a DISCONNECT whose remaining length is
    1 or 2 (reason code alone, or with an empty property length), which the spec
    allows (section 3.14.2.1); so the reason code is read from the packet here."""

    @staticmethod
    def _filter_wildcard_len_check(sub):
        # let invalid filters (e.g. "a/#/b") reach the broker: its checks are under test
        return mqtt.MQTT_ERR_SUCCESS

    def _handle_connack(self):
        pkt = self._in_packet["packet"]
        if len(pkt) >= 2:
            self._strata_raw_connack = (pkt[0], pkt[1])
        return super()._handle_connack()

    def _handle_disconnect(self):
        pkt = self._in_packet["packet"]
        self._strata_raw_disconnect = pkt[0] if len(pkt) >= 1 else 0
        props_ = None
        if len(pkt) > 1 and self._protocol == mqtt.MQTTv5:
            props_ = Properties(PacketTypes.DISCONNECT)
            try:
                props_.unpack(pkt[1:])
            except Exception:  # pragma: no cover - malformed, keep the code
                props_ = None
        self._strata_raw_disconnect_props = props_
        return super()._handle_disconnect()


class MqttClient:
    """A paho client driven by a private network thread.

    version: V311 (4) or V5 (5). clean: clean session (3.1.1) / clean start (5).
    session_expiry: v5 Session Expiry Interval (None = property absent).
    will: dict(topic=, payload=, qos=, retain=, properties=).
    """

    def __init__(self, broker, client_id="", version=V5, *, clean=True, session_expiry=None,
                 keepalive=60, will=None, connect_props=None, manual_ack=False,
                 username=None, password=None, reconnect_on_failure=False,
                 port=None, transport="tcp", ws_path="/mqtt", tls=None):
        # port: another listener than broker.port; transport: "tcp" or
        # "websockets"; tls: dict(ca_certs=, certfile=, keyfile=) for TLS.
        self.broker = broker
        self.host = broker.host
        self.port = broker.port if port is None else port
        self.version = version
        self.client_id = client_id
        self.clean = clean
        self.keepalive = keepalive
        protocol = mqtt.MQTTv5 if version == V5 else mqtt.MQTTv311
        kwargs = dict(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                      protocol=protocol, reconnect_on_failure=reconnect_on_failure,
                      manual_ack=manual_ack, transport=transport)
        if version != V5:
            # paho refuses clean_session=False with an empty id; allow it for tests
            kwargs["clean_session"] = True if (not clean and client_id == "") else clean
        self.c = _Paho(**kwargs)
        if version != V5 and not clean and client_id == "":
            self.c._clean_session = False
        if transport == "websockets":
            self.c.ws_set_options(path=ws_path)
        if tls:
            self.c.tls_set(**tls)
        self.c._strata_raw_connack = None
        self.c._strata_raw_disconnect = None
        self.c._strata_raw_disconnect_props = None
        self.connect_props = connect_props
        if version == V5 and session_expiry is not None:
            if self.connect_props is None:
                self.connect_props = Properties(PacketTypes.CONNECT)
            self.connect_props.SessionExpiryInterval = session_expiry
        if will:
            self.c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                            will.get("retain", False), will.get("properties"))
        if username is not None:
            self.c.username_pw_set(username, password)

        self.messages = queue.Queue()
        self.log = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._closed = threading.Event()
        self._acks = {}            # mid -> (event, result)
        self.connack = None
        self.disconnect_reason = None      # raw reason code from a server DISCONNECT
        self.disconnect_props = None
        self.ack_properties = {}   # mid -> SUBACK/UNSUBACK properties
        self.last_mid = None
        self.published = {}        # mid -> reason code int (v5 PUBACK/PUBREC), 0 for v3
        self._pub_events = {}
        self._thread = None
        self._stop = False

        c = self.c
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_publish = self._on_publish
        c.on_log = self._on_log

    # ---- callbacks (network thread) ----
    def _on_log(self, client, userdata, level, buf):
        with self._lock:
            self.log.append(buf)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        raw = client._strata_raw_connack
        code = raw[1] if raw else reason_code.value
        sp = bool(raw[0] & 1) if raw else flags.session_present
        self.connack = Connack(code, sp, properties if self.version == V5 else None)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if client._strata_raw_disconnect is not None:
            self.disconnect_reason = client._strata_raw_disconnect
            self.disconnect_props = client._strata_raw_disconnect_props
        self._closed.set()
        self._connected.set()  # wake a connect() waiting for a CONNACK that never came
        self._stop = True

    def _on_message(self, client, userdata, message):
        self.messages.put(Msg(message))

    def _ack_done(self, mid, result):
        with self._lock:
            ev = self._acks.setdefault(mid, [threading.Event(), None])
        ev[1] = result
        ev[0].set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.ack_properties[mid] = properties
        self._ack_done(mid, [rc.value for rc in reason_codes])

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        self.ack_properties[mid] = properties
        self._ack_done(mid, [rc.value for rc in reason_codes] if reason_codes else [])

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._lock:
            self.published[mid] = reason_code.value if reason_code is not None else 0
            ev = self._pub_events.setdefault(mid, threading.Event())
        ev.set()

    def _wait_ack(self, mid, timeout, what):
        with self._lock:
            ev = self._acks.setdefault(mid, [threading.Event(), None])
        if not ev[0].wait(timeout):
            raise AssertionError(f"no {what} for mid {mid} within {timeout}s")
        return ev[1]

    # ---- connection ----
    def _loop(self):
        while not self._stop:
            rc = self.c.loop(timeout=0.05)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
        self._closed.set()
        self._connected.set()

    def connect(self, timeout=TIMEOUT, expect=0):
        """Connect and wait for the CONNACK. Returns a Connack; asserts its code
        equals `expect` unless expect is None."""
        kw = {}
        if self.version == V5:
            kw["clean_start"] = bool(self.clean)
            kw["properties"] = self.connect_props
        self.c.connect(self.host, self.port, keepalive=self.keepalive, **kw)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        # Tell paho a network thread exists: otherwise publish() from the test
        # thread writes to the socket itself, racing this loop thread's writes,
        # and two packets can leave in the wrong order.
        self.c._thread = self._thread
        self._thread.start()
        if not self._connected.wait(timeout):
            raise AssertionError(f"no CONNACK within {timeout}s")
        if self.connack is None and self.c._strata_raw_connack is not None:
            # paho did not call on_connect (3.1.1 id rejected): build it from the raw packet
            flags, code = self.c._strata_raw_connack
            self.connack = Connack(code, bool(flags & 1), None)
        if self.connack is None:
            raise AssertionError("connection closed without CONNACK")
        if expect is not None:
            assert self.connack.reason == expect, f"CONNACK {self.connack!r}, expected 0x{expect:02x}"
        return self.connack

    def reconnect(self, timeout=TIMEOUT, clean=None, expect=0):
        """Open a new connection with the same paho client (same client id, will...)."""
        self._join()
        if clean is not None:
            self.clean = clean
            if self.version != V5:
                self.c._clean_session = clean
        self._connected.clear()
        self._closed.clear()
        self.connack = None
        # The paho client keeps its transport, WebSocket path and TLS context.
        self.c._strata_raw_connack = None
        self.c._strata_raw_disconnect = None
        self.disconnect_reason = None
        return self.connect(timeout, expect)

    def _join(self):
        self._stop = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None
        self.c._thread = None

    @property
    def is_connected(self):
        return self.c.is_connected() and not self._closed.is_set()

    def wait_closed(self, timeout=TIMEOUT):
        """Wait until the broker closes the connection; returns the DISCONNECT
        reason code it sent (None if it just closed the socket)."""
        if not self._closed.wait(timeout):
            raise AssertionError(f"connection still open after {timeout}s")
        self._join()
        return self.disconnect_reason

    def disconnect(self, reason=None, properties=None, timeout=TIMEOUT):
        """Normal DISCONNECT (v5: optional reason code and properties)."""
        rc = ReasonCode(PacketTypes.DISCONNECT, identifier=reason) if reason is not None else None
        self.c.disconnect(reasoncode=rc, properties=properties)
        if not self._closed.wait(timeout):
            raise AssertionError("DISCONNECT did not complete")
        self._join()

    def go_offline(self, timeout=TIMEOUT):
        """disconnect(), then wait until the broker has handled the DISCONNECT
        (its log says "Client ID disconnected.", strata and Mosquitto alike):
        paho returns once it has sent it, and a message published meanwhile
        could still reach the connection as online, not the offline session."""
        line = f"Client {self.client_id} disconnected."
        before = self.broker.log().count(line)
        self.disconnect(timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.broker.log().count(line) <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"the broker did not log {line!r} within {timeout}s")
            time.sleep(0.01)

    def drop(self):
        """Close the TCP connection without sending DISCONNECT (abnormal close)."""
        self._join()
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._closed.set()

    def freeze(self):
        """Stop the network loop: the socket stays open but the client sends
        nothing more (no PINGREQ) and reads nothing."""
        self._join()

    def read_raw(self, timeout=TIMEOUT):
        """After freeze(): read bytes from the socket until the broker closes it.
        Returns everything received; self.raw_eof tells whether the broker
        closed the connection (False: the timeout expired first)."""
        self.raw_eof = False
        sock = self.c.socket()
        sock.setblocking(True)
        sock.settimeout(timeout)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            except OSError:  # e.g. connection reset: closed as well
                self.raw_eof = True
                break
            if not chunk:
                self.raw_eof = True
                break
            data += chunk
        return data

    def close(self):
        """Teardown: stop everything, no DISCONNECT."""
        try:
            self._join()
            sock = self.c.socket()
            if sock is not None:
                sock.close()
        except Exception:
            pass

    # ---- operations ----
    def subscribe(self, topic, qos=0, *, no_local=False, retain_as_published=False,
                  retain_handling=0, sub_id=None, user_props=None, timeout=TIMEOUT):
        """Subscribe (topic may be a list of (filter, qos) pairs); waits for the
        SUBACK and returns its list of return/reason codes (ints)."""
        p = None
        if self.version == V5:
            if sub_id is not None or user_props:
                p = Properties(PacketTypes.SUBSCRIBE)
                if sub_id is not None:
                    p.SubscriptionIdentifier = sub_id
                if user_props:
                    p.UserProperty = user_props

            def opts(q):
                return SubscribeOptions(qos=q, noLocal=no_local, retainAsPublished=retain_as_published,
                                        retainHandling=retain_handling)
            if isinstance(topic, list):
                rc, mid = self.c.subscribe([(t, opts(q)) for t, q in topic], properties=p)
            else:
                rc, mid = self.c.subscribe(topic, options=opts(qos), properties=p)
        else:
            if isinstance(topic, list):
                rc, mid = self.c.subscribe(topic)
            else:
                rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe failed locally: {rc}"
        self.last_mid = mid
        return self._wait_ack(mid, timeout, "SUBACK")

    def unsubscribe(self, topic, timeout=TIMEOUT):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"unsubscribe failed locally: {rc}"
        self.last_mid = mid
        return self._wait_ack(mid, timeout, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, wait=True,
                timeout=TIMEOUT):
        """Publish; with wait=True blocks until the PUBACK/PUBCOMP (QoS>0) or
        until the packet is written (QoS 0). Returns the paho MQTTMessageInfo."""
        info = self.c.publish(topic, payload, qos, retain, properties)
        if wait:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise AssertionError(f"publish to {topic!r} (qos {qos}) not completed within {timeout}s")
        return info

    def ack(self, mid, qos):
        """manual_ack mode: acknowledge a received QoS 1/2 message."""
        self.c.ack(mid, qos)

    # ---- received messages ----
    def get(self, timeout=TIMEOUT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message received within {timeout}s") from None

    def expect(self, n, timeout=TIMEOUT):
        """Wait for exactly n more messages (returns them in arrival order)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                out.append(self.messages.get(timeout=max(left, 0.001)))
            except queue.Empty:
                raise AssertionError(f"got {len(out)} of {n} messages within {timeout}s: {out}") from None
        return out

    def expect_none(self, within=0.5):
        """Assert that no message arrives within the given window."""
        try:
            m = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message {m!r}")

    def expect_exactly(self, n, timeout=TIMEOUT, quiet=0.3):
        """Wait for n messages, then check that no further one arrives within
        `quiet` seconds."""
        out = self.expect(n, timeout)
        self.expect_none(quiet)
        return out

    def drain(self, settle=0.3):
        """Return every message that arrives until none came for `settle` seconds."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=settle))
            except queue.Empty:
                return out

    def sync(self, timeout=TIMEOUT):
        """Round trip through the broker (a QoS 1 publish to a private topic),
        so everything this client sent before has been processed."""
        self.publish("strata-test/sync", b"", qos=1, timeout=timeout)


def collect(clients, n, timeout=TIMEOUT, quiet=0.3):
    """Gather n messages in total from several clients (e.g. the members of a
    shared subscription); returns one list per client. Then checks that no
    further message arrives within `quiet` seconds."""
    out = [[] for _ in clients]
    deadline = time.monotonic() + timeout
    while sum(map(len, out)) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"got {sum(map(len, out))} of {n} messages: {out}")
        for i, c in enumerate(clients):
            try:
                out[i].append(c.messages.get(timeout=0.01))
            except queue.Empty:
                pass
    for c in clients:
        c.expect_none(quiet)
    return out


@pytest.fixture
def client():
    """Factory: client(broker, client_id="", version=V5, **kw) returns a
    connected MqttClient (pass connect=False to only build it, expect=... to
    check a refusal code). Every client is closed at teardown."""
    made = []

    def make(broker, client_id="", version=V5, *, connect=True, expect=0, **kw):
        c = MqttClient(broker, client_id, version, **kw)
        made.append(c)
        if connect:
            c.connect(expect=expect)
        return c

    yield make
    for c in made:
        c.close()


# --------------------------------------------------------------------------
# mosquitto_sub / mosquitto_pub

MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
STDBUF = shutil.which("stdbuf")
FMT_PREFIX = "MSG\t"


class MosquittoSub:
    """mosquitto_sub running in the background. Lines of received messages are
    formatted as MSG<TAB>topic<TAB>qos<TAB>retain<TAB>extra<TAB>payload where
    `extra` is given by the `extra_format` (e.g. "%P" for user properties)."""

    def __init__(self, broker, topics, version="mqttv311", qos=0, args=(), extra_format="",
                 wait_subscribed=True, timeout=TIMEOUT, port=None):
        fmt = FMT_PREFIX + "%t\t%q\t%r\t" + extra_format + "\t%p"
        cmd = [MOSQUITTO_SUB, "-h", broker.host, "-p", str(port or broker.port), "-V", version,
               "-q", str(qos), "-d", "-F", fmt]
        for t in ([topics] if isinstance(topics, str) else topics):
            cmd += ["-t", t]
        cmd += list(args)
        self.cmd = cmd
        if STDBUF:  # stdout is a pipe: make mosquitto_sub line buffered
            cmd = [STDBUF, "-oL"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.debug = []
        self._subscribed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait_subscribed:
            if not self._subscribed.wait(timeout):
                self.stop()
                raise AssertionError(f"mosquitto_sub did not get a SUBACK:\n{self.output()}")

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(FMT_PREFIX):
                parts = line[len(FMT_PREFIX):].split("\t", 4)
                self.lines.put(dict(topic=parts[0], qos=int(parts[1]), retain=int(parts[2]),
                                    extra=parts[3], payload=parts[4]))
            else:
                self.debug.append(line)
                if "received SUBACK" in line:
                    self._subscribed.set()

    def output(self):
        return "\n".join(self.debug)

    def expect(self, n, timeout=TIMEOUT):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.lines.get(timeout=max(deadline - time.monotonic(), 0.001)))
            except queue.Empty:
                raise AssertionError(f"mosquitto_sub got {len(out)} of {n} messages: {out}\n"
                                     f"{self.output()}") from None
        return out

    def expect_none(self, within=0.5):
        try:
            m = self.lines.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message {m!r}")

    def wait(self, timeout=TIMEOUT):
        """Wait for the process to exit (e.g. with -C); returns its exit code.
        Also waits for the reader to take the last lines from the pipe, so that
        output() is complete when this returns: the process can exit before the
        reader thread has read what it printed last."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mosquitto_sub still running after {timeout}s:\n{self.output()}")
        self._reader.join(timeout)
        if self._reader.is_alive():  # a child holding the pipe open: say so rather than read half
            raise AssertionError(f"mosquitto_sub exited but its output did not end:\n{self.output()}")
        return rc

    def stop(self, graceful=False):
        """Stop mosquitto_sub. By default it is killed (SIGKILL: no DISCONNECT,
        immediate); graceful=True sends SIGTERM, on which mosquitto_sub sends a
        DISCONNECT, which can take it a second or more to get to."""
        if self.proc.poll() is None:
            if graceful:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)


def mosquitto_pub(broker, topic, message=None, version="mqttv311", qos=0, retain=False,
                  args=(), timeout=TIMEOUT, check=True, port=None):
    """Run mosquitto_pub once; returns the CompletedProcess (output decoded).
    `port`: another listener than broker.port."""
    cmd = [MOSQUITTO_PUB, "-h", broker.host, "-p", str(port or broker.port), "-V", version,
           "-q", str(qos), "-t", topic]
    if message is None:
        if not {"-f", "-l", "-s"} & set(args):
            cmd.append("-n")
    else:
        cmd += ["-m", message]
    if retain:
        cmd.append("-r")
    cmd += list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{out}"
    p.output = out
    return p


def run_client(cmd, timeout=TIMEOUT):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    p.output = p.stdout.decode(errors="replace")
    return p


def parse_packets(data):
    """Split raw MQTT bytes into (first_byte, body) tuples (used to look at what
    the broker wrote to a frozen paho socket)."""
    out = []
    i = 0
    while i < len(data):
        first = data[i]
        i += 1
        mult, length = 1, 0
        while True:
            if i >= len(data):
                return out
            b = data[i]
            i += 1
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        out.append((first, data[i:i + length]))
        i += length
    return out


__all__ = ["V311", "V5", "VERSIONS", "TIMEOUT", "props", "prop", "Msg", "MqttClient", "client",
           "collect",
           "MosquittoSub", "mosquitto_pub", "run_client", "parse_packets", "PacketTypes",
           "Properties", "ReasonCode", "SubscribeOptions"]


# --------------------------------------------------------------------------
# MQTT.js (npm), installed under the build directory by tools/test-env

def mqttjs(url, *args, timeout=30):
    """Runs tests/e2e/js/mqttjs_client.js (see its header for the arguments) and
    returns its JSON result. The URL names the broker by address (127.0.0.1):
    where /etc/hosts maps localhost to ::1 first (Debian's does), Node.js 18
    connects to ::1 only, and the test brokers listen on 127.0.0.1."""
    import json
    import os
    import urllib.parse
    from conftest import REPO, STRATA_BIN
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", f"give MQTT.js the address 127.0.0.1, not {url}"
    env = dict(os.environ, NODE_PATH=str(STRATA_BIN.parents[1] / "js" / "node_modules"))
    script = REPO / "tests" / "e2e" / "js" / "mqttjs_client.js"
    out = subprocess.run(["node", str(script), url, *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    lines = out.stdout.strip().splitlines()
    assert lines, f"MQTT.js printed nothing (exit {out.returncode}):\n{out.stderr}"
    return json.loads(lines[-1])
