"""The Kafka exporter against a real Apache Kafka (KRaft, started once for the
module by servers_kafka.py), read back with Kafka's own Java consumer:

- what is published arrives as records with the documented shape
  (docs/exporters-kafka.md): value, key from the route, headers, timestamp;
  misfits in the dead-letter topic with their reason;
- a Kafka outage of more than 10 s in the middle of a publish stream loses
  nothing and duplicates nothing (by the strata.id header);
- kill -9 of strata in the middle of an export loses nothing; what it may
  duplicate is what the docs say: exact copies (same strata.id, key, value,
  timestamp), at most one batch per kill, so de-duplicating by strata.id
  gives every message once;
- an unreachable bootstrap server gives state `retrying` and a clear log line;
- a backlog of 10,000 messages is exported whole (rows/s printed)."""
import collections
import json
import signal
import socket
import threading
import time
import urllib.request

import pytest

from clients import V5, V311, MqttClient
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from servers import free_port
from servers_kafka import kafka  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

ROUTES = [
    "exporter_route sensors/+room/+kind {t}.readings fields=value,unit:text key=room",
    "exporter_route logs/# {t}.logs payload=text key=client_id",
    "exporter_route raw/# {t}.raw payload=bytes",
    "exporter_route docs/# {t}_docs",
]

_prefixes = iter(range(1, 1_000_000))


def prefix():
    return f"k{next(_prefixes)}-{int(time.time())}"


def exporter_broker(broker_factory, tmp_path, t, url, extra=()):
    lines = ["storage rocksdb", f"storage_path {tmp_path / t}", "http_listener 0 127.0.0.1",
             "exporter out kafka", f"exporter_url {url}", "exporter_batch_time 20",
             "exporter_retry_min 100", "exporter_retry_max 1000"]
    lines += [r.format(t=t) for r in ROUTES] + list(extra)
    return broker_factory(conf_lines=lines)


def exporters(b):
    with urllib.request.urlopen(f"http://127.0.0.1:{b.http_port}/api/v1/exporters", timeout=5) as r:
        return {e["name"]: e for e in json.load(r)["exporters"]}


def wait_state(b, state, timeout=30):
    deadline = time.monotonic() + timeout
    while exporters(b)["out"]["state"] != state:
        assert time.monotonic() < deadline, exporters(b)
        time.sleep(0.1)
    return exporters(b)["out"]


def wait_exported(b, timeout=60):
    """Until the exporter has nothing left to export."""
    deadline = time.monotonic() + timeout
    while True:
        s = exporters(b)["out"]
        if s["lag"] == 0 and s["state"] == "up":
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.1)


def test_records_match_what_was_published(broker_factory, tmp_path, kafka, client):
    t = prefix()
    b = exporter_broker(broker_factory, tmp_path, t, kafka.bootstrap, extra=["exporter_option partitions 3"])
    pub = client(b, "sensor-pub", V5)
    before_ms = int(time.time() * 1000)
    readings = [(f"r{i % 3}", "temp" if i % 2 else "humidity", round(20 + i * 0.25, 2)) for i in range(20)]
    for room, kind, value in readings:
        pub.publish(f"sensors/{room}/{kind}", json.dumps({"value": value, "unit": "C", "extra": [1]}), qos=1)
    pub.publish("sensors/r9/temp", b"21.5 C", qos=1)                  # not JSON
    pub.publish("sensors/r9/temp", json.dumps({"unit": "C"}), qos=1)  # a field missing
    pub.publish("logs/app", "plain text ünïcode", qos=0)
    raw = bytes(range(256))
    pub.publish("raw/blob", raw, qos=1, retain=True)
    doc = {"name": "room 1", "people": 3, "nested": {"ok": True}}
    pub.publish("docs/room1", json.dumps(doc), qos=2)
    after_ms = int(time.time() * 1000) + 1

    state = wait_exported(b)
    assert state["rows"] == 25 and state["error_rows"] == 2 and state["errors"] == 0, state

    records = kafka.consume(f"{t}.readings", at_least=20)
    assert len(records) == 20
    # Three partitions; one key (the room) always goes to one partition, in publish order.
    by_room = collections.defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_room[r.key.decode()].append(r)
    for room, recs in by_room.items():
        assert len({r.partition for r in recs}) == 1, (room, recs)
        assert [json.loads(r.value) for r in recs] == \
            [{"value": v, "unit": "C"} for rm, _, v in readings if rm == room]
    assert {r.partition for r in records} <= {0, 1, 2}
    ids = set()
    for r in records:
        h = r.headers
        room, kind = h["capture.room"], h["capture.kind"]
        assert r.key == room.encode()
        assert h["mqtt.topic"] == f"sensors/{room}/{kind}"
        assert h["mqtt.client_id"] == "sensor-pub" and h["mqtt.qos"] == "1" and h["mqtt.retain"] == "false"
        assert r.timestamp_type == "CreateTime" and before_ms <= r.timestamp <= after_ms
        assert r.timestamp == int(h["strata.ts_us"]) // 1000
        topic_id, ts_us, seq = h["strata.id"].split("-")
        assert ts_us == h["strata.ts_us"] and int(topic_id) > 0 and int(seq) >= 0
        ids.add(h["strata.id"])
        assert [k for k, _ in r.header_list] == ["strata.id", "strata.ts_us", "mqtt.topic", "mqtt.client_id",
                                                 "mqtt.qos", "mqtt.retain", "capture.room", "capture.kind"]
    assert len(ids) == 20

    errors = kafka.consume(f"{t}.readings_errors", at_least=2)
    assert [(r.headers["reason"], r.value, r.key) for r in errors] == [
        ("payload is not JSON", b"21.5 C", b"r9"),
        ("field 'value' missing", json.dumps({"unit": "C"}).encode(), b"r9")]
    assert all(r.headers["mqtt.topic"] == "sensors/r9/temp" for r in errors)

    [log] = kafka.consume(f"{t}.logs", at_least=1)
    assert log.value == "plain text ünïcode".encode() and log.key == b"sensor-pub"
    assert log.headers["mqtt.qos"] == "0"
    [blob] = kafka.consume(f"{t}.raw", at_least=1)
    assert blob.value == raw and blob.key is None and blob.headers["mqtt.retain"] == "true"
    [d] = kafka.consume(f"{t}_docs", at_least=1)
    assert json.loads(d.value) == doc and d.headers["mqtt.qos"] == "2"


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
            n += 1
            time.sleep(0.005)
    finally:
        c.close()


def readings(kafka, topic, at_least, timeout=60):
    """(value, strata.id) of every record of `topic`, once there are at least `at_least`."""
    records = kafka.consume(topic, at_least=at_least, timeout=timeout)
    return records, [json.loads(r.value)["value"] for r in records], [r.headers["strata.id"] for r in records]


def test_kafka_outage_loses_and_duplicates_nothing(broker_factory, tmp_path, kafka):
    t = prefix()
    b = exporter_broker(broker_factory, tmp_path, t, kafka.bootstrap)
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        kafka.consume(f"{t}.readings", at_least=20)
        stopped = time.monotonic()
        kafka.stop()
        seen_retrying = False
        while time.monotonic() - stopped < 12:
            seen_retrying = seen_retrying or exporters(b)["out"]["state"] == "retrying"
            time.sleep(0.2)
        assert seen_retrying, exporters(b)
        assert exporters(b)["out"]["lag"] > 0  # the stream went on; the messages wait in the store
        kafka.start()
        time.sleep(1)
    finally:
        stop.set()
        pub.join(30)
        if kafka.proc.poll() is not None:
            kafka.start()
    log = b.log()
    assert "Exporter out (kafka): no delivery from Kafka at" in log and "retrying in" in log, log[-3000:]
    wait_exported(b, timeout=90)
    records, values, ids = readings(kafka, f"{t}.readings", len(acked))
    assert len(ids) == len(set(ids)), f"duplicated: {[i for i, n in collections.Counter(ids).items() if n > 1][:10]}"
    assert len(values) == len(set(values)), "duplicated values"
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"


def test_kill_9_mid_export_loses_nothing_and_duplicates_only_whole_copies(broker_factory, tmp_path, kafka):
    t = prefix()
    batch_size = 50
    kills = 3
    b = exporter_broker(broker_factory, tmp_path, t, kafka.bootstrap, extra=[f"exporter_batch_size {batch_size}"])
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        seen = 0
        for _ in range(kills):
            seen = len(kafka.consume(f"{t}.readings", at_least=seen + 10))
            time.sleep(0.5)
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            b.start()
        time.sleep(1)
    finally:
        stop.set()
        pub.join(30)
    wait_exported(b, timeout=90)
    records, values, ids = readings(kafka, f"{t}.readings", len(acked))
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"
    # What the docs promise about copies: the same strata.id is the same
    # message (key, value, timestamp, headers); at most one batch per kill.
    first = {}
    for r in records:
        i = r.headers["strata.id"]
        if i in first:
            o = first[i]
            assert (r.key, r.value, r.timestamp, r.header_list) == (o.key, o.value, o.timestamp, o.header_list)
        else:
            first[i] = r
    duplicates = len(records) - len(first)
    print(f"kill -9 x{kills}: {len(records)} records, {duplicates} copies, {len(first)} messages")
    assert duplicates <= kills * batch_size
    # De-duplicated by strata.id: every message once.
    unique_values = [json.loads(r.value)["value"] for r in first.values()]
    assert len(unique_values) == len(set(unique_values))


def test_unreachable_bootstrap_server_is_reported_and_retried(broker_factory, tmp_path, client):
    t = prefix()
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = exporter_broker(broker_factory, tmp_path, t, f"127.0.0.1:{port}")
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    state = wait_state(b, "retrying", timeout=30)
    assert f"Kafka at 127.0.0.1:{port}" in state["last_error"] and state["lag"] >= 1, state
    assert "Connection refused" in state["last_error"], state
    assert f"Exporter out (kafka): cannot reach Kafka at 127.0.0.1:{port}" in b.log()
    assert b.alive()


def test_backlog_of_10k_messages(broker_factory, tmp_path, kafka, client):
    """10,000 messages wait in the store (the exporter's Kafka is unreachable),
    then strata restarts with the right address and exports them all."""
    t = prefix()
    dead = f"127.0.0.1:{free_port()}"
    b = exporter_broker(broker_factory, tmp_path, t, dead)
    pub = client(b, "bulk", V5)
    n = 10_000
    payload = {"value": 0, "unit": "C", "pad": "x" * 200}  # about 256 bytes
    infos = []
    for i in range(n):
        payload["value"] = i
        infos.append(pub.publish(f"sensors/r{i % 8}/temp", json.dumps(payload), qos=1, wait=False))
    for info in infos:
        info.wait_for_publish(30)
    pub.close()
    b.stop()
    b.conf_path.write_text(b.conf_path.read_text().replace(f"exporter_url {dead}", f"exporter_url {kafka.bootstrap}"))
    started = time.monotonic()
    b.start()
    best = 0.0
    first_rows = None  # (time, rows) when the first rows were counted
    deadline = started + 120
    while True:
        s = exporters(b)["out"]
        now = time.monotonic()
        best = max(best, s["rows_per_second"])
        if first_rows is None and s["rows"] > 0:
            first_rows = (now, s["rows"])
        if s["rows"] >= n and s["lag"] == 0:
            break
        assert now < deadline, s
        time.sleep(0.05)
    took = now - started
    span = now - first_rows[0]
    rate = (n - first_rows[1]) / span if span > 0 else float("inf")
    print(f"10k backlog: {n} rows in {took:.2f} s after strata's start; {rate:.0f} rows/s from the first "
          f"counted batch ({first_rows[1]} rows) to the last; highest rows_per_second reported {best:.0f}")
    records, values, ids = readings(kafka, f"{t}.readings", n)
    assert sorted(values) == list(range(n))
    assert len(set(ids)) == n
