"""The Neo4j exporter against a real Neo4j 5 (community, Neo4j's own harness
started by the test run: servers_neo4j.py), read back with Cypher over Neo4j's
HTTP API. What is published arrives as the graph docs/exporters.md ("Neo4j")
describes: (:Client)-[:PUBLISHED]->(:Topic), the topic hierarchy as CHILD_OF,
readings as nodes (or relationships) with captured levels, typed fields, text
and bytes payloads, misfits as <target>_errors nodes with the reason; a Neo4j
outage of more than 10 s in the middle of a publish stream, and kill -9 of
strata in the middle of an export, lose no reading and duplicate none; a
wrong password or an unreachable server is reported and retried, not fatal."""
import base64
import itertools
import json
import threading
import time

import pytest

from clients import V5, MqttClient
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from servers import free_port
from servers_neo4j import PASSWORD, neo4j  # noqa: F401  (fixture)
from exporter_util import exporters, publish_stream, stream_with_kills

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

ROUTES = [
    "exporter_route sensors/+room/+kind {t}_readings fields=value,unit:text",
    "exporter_route logs/# {t}_logs payload=text",
    "exporter_route raw/# {t}_raw payload=bytes",
    "exporter_route docs/# {t}_docs",
    "exporter_route devices/+device {t}_devices fields=ts:text>device_time,cfg:json>config",
]

_labels = itertools.count(1)


@pytest.fixture
def graph(neo4j, tmp_path):
    """The Neo4j server, emptied (constraints stay), and files for this test."""
    neo4j.wipe()
    neo4j.tmp = tmp_path
    return neo4j


def exporter_broker(broker_factory, server, t, password=PASSWORD, url=None, extra=()):
    pw = server.tmp / f"{t}.pw"
    pw.write_text(password + "\n")
    lines = ["storage rocksdb", f"storage_path {server.tmp / t}", "http_listener 0 127.0.0.1",
             "exporter out neo4j", f"exporter_url {url or server.url()}", f"exporter_password_file {pw}",
             "exporter_retry_min 100", "exporter_retry_max 1000", "exporter_batch_time 20"]
    lines += [r.format(t=t) for r in ROUTES] + list(extra)
    return broker_factory(conf_lines=lines)


def wait_count(server, cypher, n, timeout=60, **params):
    """Waits until `cypher` (which returns one count) reaches n; returns it."""
    deadline = time.monotonic() + timeout
    count = None
    while time.monotonic() < deadline:
        count = server.cypher(cypher, **params)[0][0]
        if count >= n:
            return count
        time.sleep(0.2)
    raise AssertionError(f"{count} of {n} after {timeout}s: {cypher}")


def wait_exporter(b, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = exporters(b)["out"]
        if predicate(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"exporter state after {timeout}s: {state}")


def publish_samples(pub):
    """Publishes the sample set; returns the 20 readings published (room, kind, value)."""
    readings = [(f"r{i % 3}", "temp" if i % 2 else "humidity", round(20 + i * 0.25, 2)) for i in range(20)]
    for room, kind, value in readings:
        pub.publish(f"sensors/{room}/{kind}", json.dumps({"value": value, "unit": "C", "extra": [1]}), qos=1)
    pub.publish("sensors/r9/temp", b"21.5 C", qos=1)                  # not JSON
    pub.publish("sensors/r9/temp", json.dumps({"unit": "C"}), qos=1)  # a field missing
    pub.publish("logs/app", "plain text ünïcode", qos=0)
    pub.publish("raw/blob", bytes(range(256)), qos=1, retain=True)
    pub.publish("docs/room1", json.dumps({"name": "room 1", "people": 3, "nested": {"ok": True}, "tags": ["a", "b"],
                                          "mixed": [1, "x"], "ratio": 0.5, "flag": False}), qos=2)
    return readings


def check_topics_and_clients(server, client_id, topics):
    # Every topic of the stream and its ancestors, once each, chained by CHILD_OF.
    expected = set()
    for topic in topics:
        levels = topic.split("/")
        expected |= {"/".join(levels[:i]) for i in range(1, len(levels) + 1)}
    names = [r[0] for r in server.cypher("MATCH (t:Topic) RETURN t.name")]
    assert sorted(names) == sorted(expected)
    edges = server.cypher("MATCH (c:Topic)-[:CHILD_OF]->(p:Topic) RETURN c.name, p.name")
    assert sorted(map(tuple, edges)) == sorted((n, n.rsplit("/", 1)[0]) for n in expected if "/" in n)
    assert server.cypher("MATCH p = (:Topic {name: 'sensors/r0/temp'})-[:CHILD_OF*]->(a) "
                         "RETURN a.name ORDER BY length(p)") == [["sensors/r0"], ["sensors"]]
    published = server.cypher("MATCH (c:Client)-[p:PUBLISHED]->(t:Topic) RETURN c.id, t.name")
    assert sorted(map(tuple, published)) == sorted((client_id, t) for t in topics), "one PUBLISHED per client and topic"


def test_graph_matches_what_was_published(broker_factory, graph, client):
    t = f"t{next(_labels)}_nodes"
    b = exporter_broker(broker_factory, graph, t)
    pub = client(b, "sensor-pub", V5)
    readings = publish_samples(pub)
    # Fields named like properties every node has, given other names by the route.
    pub.publish("devices/d1", json.dumps({"ts": "2026-11-30T07:00:00Z", "cfg": {"rate": 5}}), qos=1)

    wait_count(graph, f"MATCH (x:`{t}_readings`) RETURN count(x)", 20)
    rows = graph.cypher(f"MATCH (x:`{t}_readings`)-[:ON_TOPIC]->(tp:Topic) "
                        "RETURN x.room, x.kind, x.value, x.unit, x.topic, x.qos, x.client_id, x.retain, tp.name, "
                        "x.extra IS NULL, x.uid, x.ts_us, x.ts.epochMillis ORDER BY x.ts_us")
    assert [tuple(r[:9]) for r in rows] == \
        [(room, kind, value, "C", f"sensors/{room}/{kind}", 1, "sensor-pub", False, f"sensors/{room}/{kind}")
         for room, kind, value in readings]
    assert all(r[9] for r in rows), "only the route's fields"
    assert all(r[12] == r[11] // 1000 for r in rows), "ts is the arrival time"
    assert len({r[10] for r in rows}) == 20
    assert graph.cypher(f"MATCH (x:`{t}_readings`) RETURN count(x), count(DISTINCT x.uid)") == [[20, 20]]

    errors = [tuple(r) for r in wait_nodes(graph, f"{t}_readings_errors", "x.reason, x.payload, x.topic", 2)]
    assert errors == [("payload is not JSON", "21.5 C", "sensors/r9/temp"),
                      ("field 'value' missing", '{"unit": "C"}', "sensors/r9/temp")]
    assert wait_nodes(graph, f"{t}_logs", "x.payload, x.qos", 1) == [["plain text ünïcode", 0]]
    raw = wait_nodes(graph, f"{t}_raw", "x.payload, x.payload_encoding, x.retain", 1)
    assert base64.b64decode(raw[0][0]) == bytes(range(256)) and raw[0][1:] == ["base64", True]
    doc = wait_nodes(graph, f"{t}_docs", "x.name, x.people, x.nested, x.tags, x.mixed, x.ratio, x.flag, x.qos", 1)[0]
    # Neo4j properties are primitives or lists of one type: the rest is kept as JSON text.
    assert doc[:2] == ["room 1", 3] and json.loads(doc[2]) == {"ok": True} and doc[3] == ["a", "b"]
    assert json.loads(doc[4]) == [1, "x"] and doc[5:] == [0.5, False, 2]

    device = wait_nodes(graph, f"{t}_devices", "x.device, x.device_time, x.config, x.ts.epochMillis > 0", 1)[0]
    assert device[:2] == ["d1", "2026-11-30T07:00:00Z"] and json.loads(device[2]) == {"rate": 5} and device[3]

    check_topics_and_clients(graph, "sensor-pub",
                             {f"sensors/{room}/{kind}" for room, kind, _ in readings} |
                             {"sensors/r9/temp", "logs/app", "raw/blob", "docs/room1", "devices/d1"})
    state = wait_exporter(b, lambda s: s["lag"] == 0)
    assert state["state"] == "up" and state["rows"] == 26 and state["error_rows"] == 2, state
    # MERGE finds what it merges on through these (index-backed uniqueness constraints).
    constraints = {(r[0], tuple(r[1]), tuple(r[2])) for r in graph.cypher(
        "SHOW CONSTRAINTS YIELD entityType, labelsOrTypes, properties, type WHERE type = 'UNIQUENESS' "
        "RETURN entityType, labelsOrTypes, properties")}
    for label, key in [("Topic", "name"), ("Client", "id"), (f"{t}_readings", "uid"),
                       (f"{t}_readings_errors", "uid"), (f"{t}_docs", "uid")]:
        assert ("NODE", (label,), (key,)) in constraints, (label, constraints)


def wait_nodes(server, label, returns, n, timeout=30):
    wait_count(server, f"MATCH (x:`{label}`) RETURN count(x)", n, timeout)
    return server.cypher(f"MATCH (x:`{label}`) RETURN {returns} ORDER BY x.ts_us")


def test_readings_as_relationships(broker_factory, graph, client):
    t = f"t{next(_labels)}_rels"
    b = exporter_broker(broker_factory, graph, t, extra=["exporter_option readings relationships"])
    pub = client(b, "sensor-pub", V5)
    readings = publish_samples(pub)

    wait_count(graph, f"MATCH ()-[x:`{t}_readings`]->() RETURN count(x)", 20)
    rows = graph.cypher(f"MATCH (c:Client)-[x:`{t}_readings`]->(tp:Topic) "
                        "RETURN c.id, tp.name, x.room, x.kind, x.value, x.unit, x.qos, x.client_id, x.topic "
                        "ORDER BY x.ts_us")
    assert [tuple(r) for r in rows] == \
        [("sensor-pub", f"sensors/{room}/{kind}", room, kind, value, "C", 1, "sensor-pub", f"sensors/{room}/{kind}")
         for room, kind, value in readings]
    assert graph.cypher(f"MATCH ()-[x:`{t}_readings`]->() RETURN count(DISTINCT x.uid)") == [[20]]
    assert graph.cypher(f"MATCH (x:`{t}_readings`) RETURN count(x)") == [[0]], "no reading nodes"
    # Misfits are still nodes: they have no topic-level meaning to hang on.
    errors = wait_nodes(graph, f"{t}_readings_errors", "x.reason", 2)
    assert errors == [["payload is not JSON"], ["field 'value' missing"]]
    # Published after the readings: it may come in a later batch than they did.
    state = wait_exporter(b, lambda s: s["lag"] == 0)
    assert state["state"] == "up", state
    raw = graph.cypher(f"MATCH (:Client)-[x:`{t}_raw`]->(:Topic {{name: 'raw/blob'}}) RETURN x.payload")
    assert [base64.b64decode(r[0]) for r in raw] == [bytes(range(256))]
    check_topics_and_clients(graph, "sensor-pub",
                             {f"sensors/{room}/{kind}" for room, kind, _ in readings} |
                             {"sensors/r9/temp", "logs/app", "raw/blob", "docs/room1"})
    constraints = graph.cypher(
        "SHOW CONSTRAINTS YIELD entityType, labelsOrTypes, properties, type WHERE type = 'RELATIONSHIP_UNIQUENESS' "
        "RETURN labelsOrTypes, properties")
    assert [[f"{t}_readings"], ["uid"]] in constraints, constraints
    state = wait_exporter(b, lambda s: s["lag"] == 0)
    assert state["state"] == "up" and state["rows"] == 25 and state["error_rows"] == 2, state


def stream_values(server, label):
    """(count, distinct uids, distinct values) of the stream's readings."""
    return server.cypher(f"MATCH (x:`{label}`) RETURN count(x), count(DISTINCT x.uid), collect(DISTINCT x.value)")[0]


def check_stream(server, label, acked, timeout=120):
    assert acked, "the publisher got no acknowledgement at all"
    wait_count(server, f"MATCH (x:`{label}`) WHERE x.value IN $acked RETURN count(DISTINCT x.value)", len(acked),
               timeout, acked=sorted(acked))
    count, uids, values = stream_values(server, label)
    assert count == uids == len(values), f"duplicated readings: {count} nodes, {uids} uids, {len(values)} values"
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"


def test_neo4j_outage_loses_and_duplicates_nothing(broker_factory, graph):
    t = f"t{next(_labels)}_outage"
    b = exporter_broker(broker_factory, graph, t)
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        wait_count(graph, f"MATCH (x:`{t}_readings`) RETURN count(x)", 20)
        graph.stop()
        try:
            assert not graph.running()
            down_at = time.monotonic()
            seen_retrying = False
            while time.monotonic() < down_at + 10:
                seen_retrying = seen_retrying or exporters(b)["out"]["state"] == "retrying"
                time.sleep(0.2)
            state = exporters(b)["out"]
            assert seen_retrying, state
            assert state["lag"] > 0, state  # the stream went on; the readings wait in the store
        finally:
            graph.start()  # a minute or more on a busy machine: the outage grows
        time.sleep(1)
    finally:
        stop.set()
        pub.join(30)
    log = b.log()
    assert "Exporter out (neo4j):" in log and "retrying" in log, log[-2000:]
    check_stream(graph, f"{t}_readings", acked)
    state = wait_exporter(b, lambda s: s["lag"] == 0, timeout=60)
    assert state["state"] == "up" and state["errors"] > 0, state
    b.await_log("Exporter out (neo4j) is writing again.")


def test_kill_9_mid_export_loses_and_duplicates_nothing(broker_factory, graph):
    t = f"t{next(_labels)}_kill"
    b = exporter_broker(broker_factory, graph, t, extra=["exporter_batch_size 50"])
    acked = stream_with_kills(b, lambda i: wait_count(graph, f"MATCH (x:`{t}_readings`) RETURN count(x)", 10 * (i + 1)))
    check_stream(graph, f"{t}_readings", acked)


def test_wrong_password_is_reported_and_retried(broker_factory, graph, client):
    t = f"t{next(_labels)}_badpw"
    b = exporter_broker(broker_factory, graph, t, password="not-the-password")
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    state = wait_exporter(b, lambda s: s["state"] == "retrying")
    assert "authentication failed" in state["last_error"] and "Unauthorized" in state["last_error"], state
    assert state["lag"] >= 1 and state["rows"] == 0, state
    time.sleep(1.5)  # a few more tries
    state = exporters(b)["out"]
    assert state["state"] == "retrying" and state["errors"] >= 2, state
    b.await_log("Exporter out (neo4j): Neo4j at 127.0.0.1:")
    b.await_log("authentication failed")
    assert b.alive()
    assert graph.cypher(f"MATCH (x:`{t}_readings`) RETURN count(x)") == [[0]]


def test_unreachable_server_is_reported_and_retried(broker_factory, graph, client):
    t = f"t{next(_labels)}_down"
    port = free_port()  # nothing listens there
    b = exporter_broker(broker_factory, graph, t, url=f"http://neo4j@127.0.0.1:{port}")
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    state = wait_exporter(b, lambda s: s["state"] == "retrying")
    assert f"127.0.0.1:{port}" in state["last_error"] and "refused" in state["last_error"].lower(), state
    assert state["lag"] >= 1, state
    b.await_log("Exporter out (neo4j):")
    assert b.alive()


def test_payloads_neo4j_cannot_store_as_given(broker_factory, graph, client):
    """JSON that has no Neo4j property type (nested lists, lists of mixed
    types, nulls, numbers past 64 bits, an empty key) never wedges the
    exporter: it is kept as JSON text, or goes to the error nodes."""
    t = f"t{next(_labels)}_odd"
    b = exporter_broker(broker_factory, graph, t)
    pub = client(b, "odd-pub", V5)
    pub.publish("docs/a", json.dumps({"grid": [[1, 2], [3]], "none": None, "nulls": [None, 1], "empty": [],
                                      "big": 2 ** 64 + 1, "uid": "mine", "topic": "not the topic"}), qos=1)
    pub.publish("docs/b", json.dumps({"": 1, "ok": 2}), qos=1)
    pub.publish("docs/c", json.dumps([1, 2, 3]), qos=1)
    pub.publish("docs/d", json.dumps({"after": True}), qos=1)
    wait_exporter(b, lambda s: s["lag"] == 0 and s["rows"] == 4)
    a = wait_nodes(graph, f"{t}_docs", "x.topic, x.grid, x.none, x.nulls, x.empty, x.big, x.field_uid, "
                                       "x.field_topic, x.uid <> 'mine', x.value, x.after", 3)
    assert a[0][0] == "docs/a" and json.loads(a[0][1]) == [[1, 2], [3]] and a[0][2] is None
    assert json.loads(a[0][3]) == [None, 1] and a[0][4] == [] and a[0][5] == float(2 ** 64 + 1)
    assert a[0][6:9] == ["mine", "not the topic", True], "metadata wins; the payload's fields are renamed"
    assert a[1][0] == "docs/c" and a[1][9] == [1, 2, 3]
    assert a[2][0] == "docs/d" and a[2][10] is True
    errors = wait_nodes(graph, f"{t}_docs_errors", "x.topic, x.reason, x.payload", 1)
    assert errors[0][0] == "docs/b" and "property name" in errors[0][1] and json.loads(errors[0][2]) == {"": 1, "ok": 2}
    assert exporters(b)["out"]["state"] == "up"


def test_readings_a_constraint_of_the_users_refuses_go_to_the_error_nodes(broker_factory, graph, client):
    """A transaction Neo4j refuses for what its rows hold (here a uniqueness
    constraint the user put on a property) used to be retried forever,
    holding back every reading after it. The batch is split until the refused
    reading is found: it becomes an error node with Neo4j's message, the
    others are written."""
    t = f"t{next(_labels)}_unique"
    graph.cypher(f"CREATE CONSTRAINT {t}_one_value IF NOT EXISTS FOR (x:`{t}_readings`) REQUIRE x.value IS UNIQUE")
    b = exporter_broker(broker_factory, graph, t, extra=["exporter_batch_time 300"])
    pub = client(b, "p", V5)
    values = [1, 2, 3, 2, 4, 5, 1, 6]  # within the batch time: one or two batches, with the refused among them
    for v in values:
        pub.publish("sensors/r1/temp", json.dumps({"value": v, "unit": "C"}), qos=1)
    state = wait_exporter(b, lambda s: s["lag"] == 0 and s["rows"] == len(values))
    assert state["state"] == "up" and state["error_rows"] == 2 and state["refused_rows"] == 2, state
    readings = wait_nodes(graph, f"{t}_readings", "x.value", 6)
    assert [r[0] for r in readings] == [1, 2, 3, 4, 5, 6]
    errors = wait_nodes(graph, f"{t}_readings_errors", "x.reason, x.payload", 2)
    assert [json.loads(e[1]) for e in errors] == [{"value": 2, "unit": "C"}, {"value": 1, "unit": "C"}]
    assert all(e[0].startswith("Neo4j: Neo.ClientError.Schema.ConstraintValidationFailed") for e in errors), errors
