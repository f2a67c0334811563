"""The Kafka exporter against a real Apache Kafka (KRaft, started once for the
module by servers_kafka.py), read back with Kafka's own Java consumer:

- what is published arrives as records with the documented shape
  (docs/exporters.md, Kafka): value, key from the route, headers, timestamp;
  misfits in the dead-letter topic with their reason;
- a Kafka outage of more than 10 s in the middle of a publish stream loses
  nothing and duplicates nothing (by the strata.id header);
- kill -9 of strata in the middle of an export loses nothing and duplicates
  nothing (the restarted exporter reads back what Kafka already has of its
  first batch);
- an unreachable bootstrap server gives state `retrying` and a clear log line;
- a backlog of 10,000 messages is exported whole (rows/s printed)."""
import collections
import json
import os
import shutil
import signal
import socket
import threading
import time

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from exporter_util import exporters, publish_stream, wait_state
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


def exporter_broker(broker_factory, tmp_path, t, url, extra=(), store=None):
    lines = ["storage rocksdb", f"storage_path {store or tmp_path / t}", "http_listener 0 127.0.0.1",
             "exporter out kafka", f"exporter_url {url}", "exporter_batch_time 20",
             "exporter_retry_min 100", "exporter_retry_max 1000"]
    lines += [r.format(t=t) for r in ROUTES] + list(extra)
    return broker_factory(conf_lines=lines)


def wait_rows(b, n, timeout=30):
    """Until the exporter has written at least n rows since strata started."""
    deadline = time.monotonic() + timeout
    while exporters(b)["out"]["rows"] < n:
        assert time.monotonic() < deadline, (exporters(b), b.log()[-3000:])
        time.sleep(0.05)


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

    topics = kafka.consume_topics([f"{t}.readings", f"{t}.readings_errors", f"{t}.logs", f"{t}.raw", f"{t}_docs"],
                                  at_least=25)
    records = topics[f"{t}.readings"]
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

    errors = topics[f"{t}.readings_errors"]
    assert [(r.headers["reason"], r.value, r.key) for r in errors] == [
        ("payload is not JSON", b"21.5 C", b"r9"),
        ("field 'value' missing", json.dumps({"unit": "C"}).encode(), b"r9")]
    assert all(r.headers["mqtt.topic"] == "sensors/r9/temp" for r in errors)

    [log] = topics[f"{t}.logs"]
    assert log.value == "plain text ünïcode".encode() and log.key == b"sensor-pub"
    assert log.headers["mqtt.qos"] == "0"
    [blob] = topics[f"{t}.raw"]
    assert blob.value == raw and blob.key is None and blob.headers["mqtt.retain"] == "true"
    [d] = topics[f"{t}_docs"]
    assert json.loads(d.value) == doc and d.headers["mqtt.qos"] == "2"


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
        wait_rows(b, 20)
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


def test_stop_while_kafka_is_silent_does_not_wait_for_it(broker_factory, tmp_path, kafka, client):
    """A Kafka that stops answering (SIGSTOP: connections open, no replies, no
    errors) leaves the exporter waiting up to 30 s for delivery reports before
    it counts the write as failed. Stopping strata meanwhile interrupts that
    wait instead of sitting it out, and exports the message after a restart."""
    t = prefix()
    b = exporter_broker(broker_factory, tmp_path, t, kafka.bootstrap)
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    wait_rows(b, 1)
    kafka.proc.send_signal(signal.SIGSTOP)
    try:
        pub.publish("sensors/r1/temp", json.dumps({"value": 2, "unit": "C"}), qos=1)
        time.sleep(3)  # the exporter waits for a report that cannot come
        state = exporters(b)["out"]
        assert state["state"] == "up" and state["lag"] == 1, state  # no error yet: Kafka is only silent
        pub.disconnect()
        started = time.monotonic()
        assert b.stop(timeout=60) == 0
        took = time.monotonic() - started
    finally:
        kafka.proc.send_signal(signal.SIGCONT)
    assert took < 10, f"stopping took {took:.1f} s: it waited for Kafka"
    assert "retrying" not in b.log()  # a stop is not a database error
    b.start()
    wait_exported(b)
    records, values, _ = readings(kafka, f"{t}.readings", 2)
    assert sorted(values) == [1, 2]


def test_kill_9_mid_export_loses_and_duplicates_nothing(broker_factory, tmp_path, kafka):
    t = prefix()
    kills = 3
    b = exporter_broker(broker_factory, tmp_path, t, kafka.bootstrap,
                        extra=["exporter_batch_size 50", "exporter_option partitions 2"])
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        for _ in range(kills):
            wait_rows(b, 100)  # the exporter is at work on the stream (the count starts at each start)
            time.sleep(0.3)
            acked_before_kill = len(acked)
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            b.start()
        deadline = time.monotonic() + 30
        while len(acked) < acked_before_kill + 100:  # the stream goes on after the restarts
            assert time.monotonic() < deadline, (len(acked), acked_before_kill)
            time.sleep(0.1)
    finally:
        stop.set()
        pub.join(30)
    wait_exported(b, timeout=90)
    records, values, ids = readings(kafka, f"{t}.readings", len(acked))
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"
    copies = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert not copies, f"{len(copies)} duplicated: {copies[:10]}"
    assert len(values) == len(set(values)), "duplicated values"
    print(f"kill -9 x{kills}: {len(records)} records, {len(acked)} acknowledged publishes, no copies")


def test_batch_already_in_kafka_is_not_sent_again(broker_factory, tmp_path, kafka, client):
    """The kill -9 window made certain: Kafka has a whole batch, and the
    exporter's saved cursor is still before it. Two copies of one store (same
    log, same cursor): the first exports the batch; the second then finds all
    of it in Kafka (read back by strata.id), sends none of it again, and
    sends what is published after it once."""
    t = prefix()
    dead = f"127.0.0.1:{free_port()}"
    b = exporter_broker(broker_factory, tmp_path, t, dead)
    pub = client(b, "p", V5)
    for i in range(30):
        pub.publish(f"sensors/r{i % 3}/temp", json.dumps({"value": i, "unit": "C"}), qos=1)
    assert wait_state(b, "out", "retrying")["lag"] == 30
    b.stop()
    copy = tmp_path / f"{t}-copy"
    shutil.copytree(tmp_path / t, copy)
    b.conf_path.write_text(b.conf_path.read_text().replace(f"exporter_url {dead}", f"exporter_url {kafka.bootstrap}"))
    b.start()
    assert wait_exported(b)["rows"] == 30
    b.stop()
    assert len(kafka.consume(f"{t}.readings", at_least=30)) == 30

    second = exporter_broker(broker_factory, tmp_path, t, kafka.bootstrap, store=copy)
    assert wait_exported(second)["rows"] == 30  # counted as written: Kafka has them
    pub2 = client(second, "p2", V5)
    for i in range(30, 35):
        pub2.publish(f"sensors/r{i % 3}/temp", json.dumps({"value": i, "unit": "C"}), qos=1)
    assert wait_exported(second)["rows"] == 35
    records, values, ids = readings(kafka, f"{t}.readings", 35)
    assert sorted(values) == list(range(35)), sorted(values)
    assert len(set(ids)) == 35


def test_records_over_a_size_limit_become_error_records(broker_factory, tmp_path, kafka, client):
    """A record over the producer's limit (librdkafka's message.max.bytes,
    1,000,000 bytes by default: refused before it is sent) or over the
    broker's (1 MiB by default: refused by Kafka, here past a producer whose
    own limit is raised) used to be retried forever, holding back every
    record after it. It becomes an error record in TARGET_errors, without its
    value, with Kafka's reason and the size; the records around it are
    written once each."""
    t = prefix()
    lines = ["storage rocksdb", f"storage_path {tmp_path / t}", "http_listener 0 127.0.0.1"]
    for name, extra in (("out", []), ("wide", ["exporter_option rdkafka.message.max.bytes 3000000"])):
        lines += [f"exporter {name} kafka", f"exporter_url {kafka.bootstrap}", "exporter_batch_time 200",
                  "exporter_retry_min 100", "exporter_retry_max 1000", f"exporter_route raw/# {t}.{name} payload=bytes",
                  *extra]
    b = broker_factory(conf_lines=lines)
    pub = client(b, "p", V5)
    big = os.urandom(1_100_000)  # random: no compression brings it under the limit
    for payload in (b"first", big, b"second", b"third"):
        pub.publish("raw/blob", payload, qos=1)
    for name in ("out", "wide"):
        deadline = time.monotonic() + 60
        while not ((s := exporters(b)[name])["rows"] == 4 and s["lag"] == 0):
            assert time.monotonic() < deadline, s
            time.sleep(0.1)
        assert s["state"] == "up" and s["error_rows"] == 1 and s["refused_rows"] == 1, s
    topics = kafka.consume_topics([f"{t}.out", f"{t}.out_errors", f"{t}.wide", f"{t}.wide_errors"], at_least=8)
    for name in ("out", "wide"):
        assert [r.value for r in topics[f"{t}.{name}"]] == [b"first", b"second", b"third"], name
        [e] = topics[f"{t}.{name}_errors"]
        assert not e.value and e.headers["payload_size"] == str(len(big)), e
        assert e.headers["reason"].startswith("Kafka refused the record: ") and "too large" in e.headers["reason"], e
        assert e.headers["mqtt.topic"] == "raw/blob"
    assert "over message.max.bytes" in topics[f"{t}.out_errors"][0].headers["reason"]  # the producer's limit
    assert "over message.max.bytes" not in topics[f"{t}.wide_errors"][0].headers["reason"]  # the broker's


def test_unreachable_bootstrap_server_is_reported_and_retried(broker_factory, tmp_path, client):
    t = prefix()
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = exporter_broker(broker_factory, tmp_path, t, f"127.0.0.1:{port}")
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    state = wait_state(b, "out", "retrying", timeout=30)
    assert f"Kafka at 127.0.0.1:{port}" in state["last_error"] and state["lag"] >= 1, state
    assert "Connection refused" in state["last_error"], state
    b.await_log(f"Exporter out (kafka): cannot reach Kafka at 127.0.0.1:{port}")
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
