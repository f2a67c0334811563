"""The MongoDB exporter against a real MongoDB-wire server, FerretDB
(servers_mongodb.py), read back with pymongo. What is published (by paho and
mosquitto_pub) arrives as documents with the right fields and types; misfits
land in `<target>_errors` with their reason; exporting the same messages again
leaves every document once (the _id is the message's key); an outage of the
server of more than 10 s in the middle of a publish stream, and a kill -9 of
strata in the middle of an export, lose no document and duplicate none; a
wrong password or an unreachable server is reported and retried, not fatal.
The structure follows test_exporters_sql.py."""
import datetime
import json
import subprocess
import threading
import time

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from exporter_util import exporters, publish_stream, wait_count, wait_state, stream_with_kills
from servers import PASSWORD, free_port
from servers_mongodb import ferretdb  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

ROUTES = [
    "exporter_route sensors/+room/+kind {t}_readings fields=value,unit:text",
    "exporter_route logs/# {t}_logs payload=text",
    "exporter_route raw/# {t}_raw payload=bytes",
    "exporter_route docs/# {t}_docs",
]

_prefixes = iter(range(1, 1_000_000))


@pytest.fixture
def db(ferretdb):
    """The test database, through pymongo; a fresh collection prefix per test."""
    c = ferretdb.client()
    yield c[ferretdb.url().rsplit("/", 1)[1]]
    c.close()


def prefix():
    return f"m{next(_prefixes)}"


def exporter_broker(broker_factory, tmp_path, url, t, password="ok", name="out", store=None, extra=()):
    pw = tmp_path / f"{name}.pw"
    pw.write_text((PASSWORD if password == "ok" else password) + "\n")
    lines = ["storage rocksdb", f"storage_path {store or tmp_path / t}", "http_listener 0 127.0.0.1",
             f"exporter {name} mongodb", f"exporter_url {url}", f"exporter_password_file {pw}",
             "exporter_retry_min 100", "exporter_retry_max 1000", "exporter_batch_time 20"]
    lines += [r.format(t=t) for r in ROUTES] + list(extra)
    return broker_factory(conf_lines=lines)


def wait_docs(collection, n, query=None, timeout=30):
    return wait_count(lambda: list(collection.find(query or {}).sort("ts_us")), n, timeout,
                      what=f"documents in {collection.name}")


def check_id(doc):
    """The _id is "topicid-ts_us-seq", and agrees with the document's ts_us and ts."""
    topic_id, ts_us, seq = (int(x) for x in doc["_id"].split("-"))
    assert topic_id > 0 and seq >= 0 and ts_us == doc["ts_us"], doc
    assert doc["ts"] == datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ts_us // 1000), doc
    assert abs(doc["ts_us"] / 1e6 - time.time()) < 600, doc  # this run's clock, in µs


def test_documents_match_what_was_published(broker_factory, ferretdb, db, client, tmp_path):
    t = prefix()
    b = exporter_broker(broker_factory, tmp_path, ferretdb.url(), t)
    pub = client(b, "sensor-pub", V5)
    readings = [(f"r{i % 3}", "temp" if i % 2 else "humidity", 20 + i * 0.25) for i in range(20)]
    for room, kind, value in readings:
        pub.publish(f"sensors/{room}/{kind}", json.dumps({"value": value, "unit": "C", "extra": [1]}), qos=1)
    pub.publish("sensors/r9/temp", b"21.5 C", qos=1)                  # not JSON
    pub.publish("sensors/r9/temp", json.dumps({"unit": "C"}), qos=1)  # a field missing
    raw = bytes(range(256))
    pub.publish("raw/blob", raw, qos=1, retain=True)
    doc = {"name": "room 1", "people": 3, "big": 2**40, "ratio": 0.5, "nested": {"ok": True, "list": [1, "a"]}}
    pub.publish("docs/room1", json.dumps(doc), qos=2)
    pub.publish("docs/bad", json.dumps({"$set": 1}), qos=1)          # a field name MongoDB refuses
    pub.publish("docs/nested", json.dumps({"m": [[1, 2], [3]]}), qos=1)  # FerretDB refuses nested arrays
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-i", "mosq-pub", "-q", "1",
                    "-t", "logs/app", "-m", "plain text ünïcode"], check=True, timeout=10)

    docs = wait_docs(db[f"{t}_readings"], 20)
    assert [(d["room"], d["kind"], d["value"], d["unit"], d["topic"], d["qos"], d["client_id"], d["retain"])
            for d in docs] == \
        [(room, kind, value, "C", f"sensors/{room}/{kind}", 1, "sensor-pub", False) for room, kind, value in readings]
    for d in docs:
        check_id(d)
        assert "extra" not in d  # not among the route's fields
    assert isinstance(docs[0]["value"], float) and isinstance(docs[0]["qos"], int)

    errors = wait_docs(db[f"{t}_readings_errors"], 2)
    assert [(e["reason"], e["topic"], bytes(e["payload"])) for e in errors] == \
        [("payload is not JSON", "sensors/r9/temp", b"21.5 C"),
         ("field 'value' missing", "sensors/r9/temp", b'{"unit": "C"}')]
    for e in errors:
        check_id(e)

    logs = wait_docs(db[f"{t}_logs"], 1)
    assert (logs[0]["payload"], logs[0]["client_id"], logs[0]["qos"]) == ("plain text ünïcode", "mosq-pub", 1)
    blob = wait_docs(db[f"{t}_raw"], 1)[0]
    assert (bytes(blob["payload"]), blob["retain"]) == (raw, True)

    stored = wait_docs(db[f"{t}_docs"], 1)[0]
    assert {k: stored[k] for k in doc} == doc
    assert isinstance(stored["big"], int) and isinstance(stored["people"], int)  # JSON integers stay integers
    # Refused by strata's own check, and (nested arrays, which MongoDB itself
    # would take) by the server: both kept with the reason and the JSON.
    bad, nested = wait_docs(db[f"{t}_docs_errors"], 2)
    assert bad["reason"] == "field name '$set' starts with '$'", bad
    assert json.loads(bytes(bad["payload"])) == {"$set": 1}
    assert nested["reason"].startswith("MongoDB refused the document: ") and "nested arrays" in nested["reason"], nested
    assert nested["reason"].endswith("(code 2)") and json.loads(bytes(nested["payload"])) == {"m": [[1, 2], [3]]}
    assert db[f"{t}_docs"].count_documents({}) == 1

    wait_count(lambda: [1] if exporters(b)["out"]["lag"] == 0 else [], 1, what="lag 0")
    state = exporters(b)["out"]
    assert state["state"] == "up" and state["rows"] == 27 and state["error_rows"] == 4, state
    assert "ts_1" in db[f"{t}_readings"].index_information()


def test_exporting_again_keeps_every_document_once(broker_factory, ferretdb, db, client, tmp_path):
    """A second exporter on the same store starts from the oldest message and
    writes every message again into the same collections: only duplicate
    keys, which count as success. Half the documents deleted in between come
    back: the unordered insert goes on past the duplicates."""
    t = prefix()
    store = tmp_path / "store"
    b = exporter_broker(broker_factory, tmp_path, ferretdb.url(), t, store=store)
    pub = client(b, "p", V5)
    for i in range(40):
        pub.publish(f"sensors/r{i % 2}/temp", json.dumps({"value": i, "unit": "C"}), qos=1)
    first = wait_docs(db[f"{t}_readings"], 40)
    pub.disconnect()
    b.stop()
    deleted = db[f"{t}_readings"].delete_many({"value": {"$gte": 20}}).deleted_count
    assert deleted == 20

    b2 = exporter_broker(broker_factory, tmp_path, ferretdb.url(), t, name="again", store=store)
    wait_count(lambda: [1] if exporters(b2)["again"]["rows"] == 40 else [], 1, what="rows exported again")
    again = exporters(b2)["again"]
    assert again["state"] == "up" and again["errors"] == 0, again
    docs = list(db[f"{t}_readings"].find().sort("ts_us"))
    assert docs == first  # the same 40 documents, none twice, the deleted ones back as they were


def test_a_document_a_unique_index_of_the_users_refuses_goes_to_the_error_collection(broker_factory, ferretdb, db,
                                                                                      client, tmp_path):
    """A duplicate key on the _id index is a document already there (a replay);
    one on a unique index of the user's is a refusal. It was taken for the
    first and the document lost without a word; it goes to the error
    collection with the server's reason, and the documents after it arrive."""
    t = prefix()
    db[f"{t}_readings"].create_index("value", unique=True)
    b = exporter_broker(broker_factory, tmp_path, ferretdb.url(), t)
    pub = client(b, "p", V5)
    for v in (1, 2, 1, 3):
        pub.publish("sensors/r1/temp", json.dumps({"value": v, "unit": "C"}), qos=1)
    docs = wait_docs(db[f"{t}_readings"], 3)
    assert [d["value"] for d in docs] == [1, 2, 3]
    errors = wait_docs(db[f"{t}_readings_errors"], 1)
    assert errors[0]["reason"].startswith("MongoDB refused the document: E11000 duplicate key"), errors
    assert errors[0]["reason"].endswith("(code 11000)"), errors
    assert json.loads(bytes(errors[0]["payload"])) == {"value": 1, "unit": "C"}
    wait_count(lambda: [1] if exporters(b)["out"]["lag"] == 0 else [], 1, what="lag 0")
    state = exporters(b)["out"]
    assert state["state"] == "up" and state["rows"] == 4 and state["error_rows"] == 1, state


def test_server_outage_loses_and_duplicates_nothing(broker_factory, ferretdb, db, tmp_path):
    t = prefix()
    b = exporter_broker(broker_factory, tmp_path, ferretdb.url(), t)
    readings = db[f"{t}_readings"]
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        wait_docs(readings, 20)
        ferretdb.stop()
        try:
            deadline = time.monotonic() + 10
            seen_retrying = False
            while time.monotonic() < deadline:
                seen_retrying = seen_retrying or exporters(b)["out"]["state"] == "retrying"
                time.sleep(0.2)
            assert seen_retrying, exporters(b)
            assert exporters(b)["out"]["lag"] > 0  # the stream went on; the messages wait in the store
        finally:
            ferretdb.start()
        time.sleep(1)
    finally:
        stop.set()
        pub.join(30)
    b.await_log("Exporter out (mongodb):")
    b.await_log("retrying")
    values = [d["value"] for d in wait_docs(readings, len(acked), timeout=60)]
    assert len(values) == len(set(values)), "duplicated documents"
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"
    assert wait_state(b, "out", "up")["errors"] > 0


def test_kill_9_mid_export_loses_and_duplicates_nothing(broker_factory, ferretdb, db, tmp_path):
    t = prefix()
    b = exporter_broker(broker_factory, tmp_path, ferretdb.url(), t, extra=["exporter_batch_size 50"])
    readings = db[f"{t}_readings"]
    acked = stream_with_kills(b, lambda _: wait_docs(readings, 10))
    values = [d["value"] for d in wait_docs(readings, len(acked), timeout=60)]
    assert len(values) == len(set(values)), "duplicated documents"
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"


@pytest.mark.parametrize("fault", ["wrong password", "unreachable server"])
def test_connection_faults_are_reported_and_retried(broker_factory, ferretdb, db, client, tmp_path, fault):
    t = prefix()
    if fault == "wrong password":
        url, password, where = ferretdb.url(), "not-the-password", f"127.0.0.1:{ferretdb.port} as strata"
    else:
        port = free_port()  # nothing listens there
        url, password, where = f"mongodb://strata@127.0.0.1:{port}/iot", "ok", f"127.0.0.1:{port}"
    b = exporter_broker(broker_factory, tmp_path, url, t, password=password)
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    state = wait_state(b, "out", "retrying")
    assert f"cannot connect to MongoDB at {where}" in state["last_error"] and state["lag"] >= 1, state
    b.await_log("Exporter out (mongodb): cannot connect to MongoDB")
    assert PASSWORD not in b.log() and "not-the-password" not in b.log()
    time.sleep(1.5)  # more retries, still alive and still retrying
    assert b.alive() and exporters(b)["out"]["state"] == "retrying"
    assert exporters(b)["out"]["errors"] >= 2
    assert db[f"{t}_readings"].count_documents({}) == 0
