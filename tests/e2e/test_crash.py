"""Crash safety: QoS 1 and QoS 2 publishers and a persistent subscriber keep
working while strata is killed with SIGKILL several times. Afterwards every
message whose publisher got PUBACK/PUBCOMP is in the store and reached the
persistent subscriber: at least once for QoS 1, exactly once for QoS 2.
strata only (Mosquitto does not promise this)."""
import collections
import json
import random
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import STRATA_BIN

pytestmark = pytest.mark.strata_only

MESSAGES = 300        # per publisher
KILLS = 5
DEADLINE = 90         # seconds, the whole test


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """Persistent v3.1.1 subscriber (clean session 0) that reconnects by itself."""

    def __init__(self, port):
        self.got = collections.Counter()
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="crash-sub", clean_session=False,
                             protocol=mqtt.MQTTv311)
        self.c.reconnect_delay_set(0.05, 0.3)
        self.c.on_connect = self.on_connect
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if not flags.session_present:
            client.subscribe("crash/#", 2)

    def on_message(self, client, userdata, m):
        with self.lock:
            self.got[m.payload.decode()] += 1

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.got)

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


class Publisher:
    """Publishes MESSAGES numbered messages at one QoS; paho resends whatever is
    unacknowledged after each reconnect (clean session 0, same packet ids)."""

    def __init__(self, port, qos):
        self.qos = qos
        self.acked_mids = set()
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"crash-pub-{qos}", clean_session=False,
                             protocol=mqtt.MQTTv311)
        self.c.max_inflight_messages_set(10)
        self.c.reconnect_delay_set(0.05, 0.3)
        self.payloads = {}
        self.c.on_publish = self.on_publish
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()

    def on_publish(self, client, userdata, mid, reason_code, properties):
        # May run before run() has recorded the mid: mids are resolved later.
        with self.lock:
            self.acked_mids.add(mid)

    def run(self):
        for i in range(MESSAGES):
            payload = f"q{self.qos}-{i}"
            # While the broker is down paho keeps QoS 1/2 messages and sends
            # them after reconnecting (info.rc is then "not connected").
            info = self.c.publish(f"crash/q{self.qos}", payload, self.qos)
            with self.lock:
                self.payloads[info.mid] = payload
            time.sleep(0.002)  # spread the publishes over the kills

    @property
    def acked(self):
        with self.lock:
            return {self.payloads[m] for m in self.acked_mids if m in self.payloads}

    def all_acked(self):
        return len(self.acked) == MESSAGES

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def start(conf, log):
    proc = subprocess.Popen([str(STRATA_BIN), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    return proc


def wait_listening(port, proc):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, "strata exited at start"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("strata did not listen again")


@pytest.mark.parametrize("durability", ["wal", "fsync"])
def test_acknowledged_messages_survive_repeated_kill9(tmp_path, durability):
    port = free_port()
    data = tmp_path / "data"
    conf = tmp_path / "crash.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nstorage rocksdb\nstorage_path {data}\n"
                    f"storage_durability {durability}\nmax_queued_messages 100000\n")
    log = open(tmp_path / "strata.log", "ab")
    proc = start(conf, log)
    wait_listening(port, proc)
    started = time.monotonic()
    sub = Collector(port)
    time.sleep(0.3)  # subscribed before anything is published
    pubs = [Publisher(port, 1), Publisher(port, 2)]
    threads = [threading.Thread(target=p.run) for p in pubs]
    for t in threads:
        t.start()
    try:
        rng = random.Random(7)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.6))
            proc.kill()
            proc.wait()
            proc = start(conf, log)
            wait_listening(port, proc)
        for t in threads:
            t.join(DEADLINE)
        while not all(p.all_acked() for p in pubs):
            assert time.monotonic() - started < DEADLINE, "publishers did not get every acknowledgement"
            time.sleep(0.1)
        acked = {p.qos: set(p.acked) for p in pubs}
        # Every acknowledged message reaches the persistent subscriber.
        while True:
            got = sub.snapshot()
            missing = [m for q in acked for m in acked[q] if got[m] == 0]
            if not missing:
                break
            assert time.monotonic() - started < DEADLINE, f"{len(missing)} acknowledged messages never arrived, e.g. {missing[:5]}"
            time.sleep(0.1)
        time.sleep(0.5)  # let any duplicate show up
        got = sub.snapshot()
        duplicated_qos2 = {m: n for m, n in got.items() if m.startswith("q2-") and n > 1}
        assert not duplicated_qos2, f"QoS 2 messages delivered more than once: {dict(list(duplicated_qos2.items())[:5])}"
    finally:
        for p in pubs:
            p.stop()
        sub.stop()
        proc.terminate()
        proc.wait(10)
        log.close()
    # Every acknowledged message is in the store (read while the broker is stopped).
    out = subprocess.run([str(STRATA_BIN), "query", "-c", str(conf), "messages", "--topic", "crash/#",
                          "--limit", "10000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    stored = collections.Counter(item["payload"] for item in json.loads(out.stdout)["messages"])
    for q in acked:
        not_stored = [m for m in acked[q] if stored[m] == 0]
        assert not not_stored, f"acknowledged QoS {q} messages missing from the store: {not_stored[:5]}"
    # QoS 2 messages are stored once: the resent PUBLISH after a crash is recognised.
    assert all(stored[m] == 1 for m in acked[2])
