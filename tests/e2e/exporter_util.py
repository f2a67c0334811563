"""What every exporter's end-to-end tests share: the exporter's state from
GET /api/v1/exporters, waiting for a database to catch up, and a numbered
QoS 1 publish stream that survives broker restarts (for the fault tests, which
compare what the broker acknowledged with what the database holds)."""
import json
import signal
import threading
import time

from clients import V311, MqttClient


def exporters(b):
    """GET /api/v1/exporters of broker `b`, by exporter name."""
    status, doc, _ = b.http_request("GET", "/api/v1/exporters", timeout=5)
    assert status == 200, doc
    return {e["name"]: e for e in doc["exporters"]}


def wait_count(fetch, n, timeout=30, what="rows"):
    """Calls fetch() until it returns at least n items; returns them."""
    deadline = time.monotonic() + timeout
    items = []
    while time.monotonic() < deadline:
        items = fetch()
        if len(items) >= n:
            return items
        time.sleep(0.1)
    raise AssertionError(f"{len(items)} of {n} {what} after {timeout}s")


def wait_state(b, name, state, timeout=10):
    """Waits until exporter `name` reports `state`; returns its entry."""
    deadline = time.monotonic() + timeout
    while True:
        e = exporters(b)[name]
        if e["state"] == state:
            return e
        assert time.monotonic() < deadline, e
        time.sleep(0.1)


def publish_stream(b, stop, acked, version=V311, topic="sensors/s{}/temp"):
    """Publishes numbered readings at QoS 1 until `stop` is set, across broker
    restarts; records the numbers the broker acknowledged."""
    c = MqttClient(b, "stream-pub", version, clean=True, reconnect_on_failure=True)
    n = 0
    try:
        c.connect()
        while not stop.is_set():
            try:
                info = c.publish(topic.format(n % 4), json.dumps({"value": n, "unit": "n"}), qos=1, timeout=1)
                if info.is_published():
                    acked.add(n)
            except (AssertionError, Exception):  # noqa: BLE001  (the broker is down for a moment)
                time.sleep(0.05)
                if not c.is_connected:
                    # The restarted broker (on the port it listens on now), with
                    # a new client: paho would send the old one's unacknowledged
                    # messages again, and a number stored before the kill would
                    # be stored twice, as two messages.
                    c.close()
                    c = MqttClient(b, "stream-pub", version, clean=True)
                    try:
                        c.connect(timeout=2)
                    except (AssertionError, Exception):  # noqa: BLE001  (not back yet)
                        pass
            n += 1
            time.sleep(0.005)
    finally:
        c.close()


def stream_with_kills(b, exporting, kills=3):
    """Runs publish_stream while strata is killed with SIGKILL `kills` times,
    each time once exporting(i) has returned (the database has caught up with
    some of the stream) and half a second of export later; returns the
    numbers the broker acknowledged."""
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        for i in range(kills):
            exporting(i)
            time.sleep(0.5)
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            b.start()
        time.sleep(1)
    finally:
        stop.set()
        pub.join(30)
    return acked
