"""The durable store: what survives a restart and a kill -9, and what the
broker does when the store cannot be opened or written. strata only."""
import base64
import collections
import json
import os
import pathlib
import signal
import subprocess
import time
import types

import pytest

from clients import V5, V311
from clients import client  # noqa: F401  (fixture)
from rawmqtt import RawClient, PUBLISH, PUBREC, PUBREL, PUBCOMP, PUBACK, V5 as RAW_V5, sub_options
from conftest import STRATA_BIN
from fault_fs import FaultFs

pytestmark = pytest.mark.strata_only


def storage_conf(path, *extra):
    return ["storage rocksdb", f"storage_path {path}", *extra]


# What survives a restart is the same whether the store keeps the history of
# every message (storage rocksdb) or only what Mosquitto's persistence keeps.
KEEPS = pytest.mark.parametrize("keeps", ["history", "sessions"])


def kept_conf(path, keeps, *extra):
    if keeps == "history":
        return storage_conf(path, *extra)
    return ["persistence true", f"persistence_location {path}", *extra]


def restart(b, hard):
    """Stops the broker (SIGKILL when hard, else SIGTERM) and starts it again on its data."""
    if hard:
        b.proc.kill()
        b.proc.wait()
    else:
        assert b.stop() == 0
    b.start()


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
@pytest.mark.parametrize("version", [V311, V5])
@KEEPS
def test_session_queue_and_retained_survive_restart(broker_factory, client, tmp_path, hard, version, keeps):
    b = broker_factory(conf_lines=kept_conf(tmp_path / "data", keeps))
    kw = {"clean": False} if version == V311 else {"clean": False, "session_expiry": 3600}
    sub = client(b, "keeper", version, **kw)
    sub.subscribe("keep/#", 2)
    sub.disconnect()
    pub = client(b, "writer", V311)
    for i in range(5):
        pub.publish("keep/q", f"m{i}".encode(), 1 + i % 2)
    pub.publish("keep/retained", b"still here", 1, retain=True)
    pub.disconnect()
    restart(b, hard)
    sub = client(b, "keeper", version, **kw)
    assert sub.connack.session_present is True
    got = sub.expect(6)
    # paho hands a QoS 2 message to the application only at PUBREL, so order
    # is compared per QoS level.
    for qos in (1, 2):
        assert [m.payload for m in got if m.topic == "keep/q" and m.qos == qos] == \
            [f"m{i}".encode() for i in range(5) if 1 + i % 2 == qos]
    # The subscription itself was restored: new messages flow without subscribing again.
    pub = client(b, "writer2", V311)
    pub.publish("keep/q", b"after", 1)
    assert sub.get().payload == b"after"
    fresh = client(b, "fresh", V311)
    fresh.subscribe("keep/retained", 0)
    m = fresh.get()
    assert m.payload == b"still here" and m.retain is True


@KEEPS
def test_cleared_retained_stays_cleared(broker_factory, client, tmp_path, keeps):
    b = broker_factory(conf_lines=kept_conf(tmp_path / "data", keeps))
    pub = client(b, "p", V311)
    pub.publish("r/t", b"x", 1, retain=True)
    pub.publish("r/t", b"", 1, retain=True)
    pub.disconnect()
    restart(b, hard=True)
    c = client(b, "c", V311)
    c.subscribe("r/#", 1)
    c.expect_none(0.5)


@KEEPS
def test_session_expiry_continues_across_restart(broker_factory, client, tmp_path, keeps):
    b = broker_factory(conf_lines=kept_conf(tmp_path / "data", keeps))
    kw = {"clean": False, "session_expiry": 2}
    c = client(b, "short", V5, **kw)
    c.subscribe("x/#", 1)
    c.disconnect()
    restart(b, hard=False)
    time.sleep(3)
    c = client(b, "short", V5, **kw)
    assert c.connack.session_present is False


def test_clean_session_leaves_no_trace(broker_factory, client, tmp_path):
    b = broker_factory(conf_lines=storage_conf(tmp_path / "data"))
    c = client(b, "passing", V311)  # clean session
    c.subscribe("y/#", 1)
    c.disconnect()
    restart(b, hard=True)
    c = client(b, "passing", V311, clean=False)
    assert c.connack.session_present is False


def raw_connect(b, cid, clean=False):
    c = RawClient(b, version=RAW_V5, timeout=5)
    c.connack = c.connect(cid, clean=clean, props={"SessionExpiryInterval": 3600})
    return c


@KEEPS
def test_unacknowledged_delivery_is_resent_after_kill(broker_factory, tmp_path, keeps):
    b = broker_factory(conf_lines=kept_conf(tmp_path / "data", keeps))
    sub = raw_connect(b, "slow", clean=True)
    sub.subscribe(1, [("d/t", sub_options(1))])
    pub = raw_connect(b, "p")
    pub.publish("d/t", b"must arrive", qos=1, pid=7)
    pub.expect(PUBACK)
    first = sub.expect(PUBLISH)  # never acknowledged
    assert first.payload == b"must arrive"
    b.proc.kill()
    b.proc.wait()
    b.start()
    sub = raw_connect(b, "slow")
    assert sub.connack.session_present
    again = sub.expect(PUBLISH)
    assert again.payload == b"must arrive" and again.dup and again.pid == first.pid
    gone = "Client slow disconnected."
    before = b.log().count(gone)
    sub.puback(again.pid)
    sub.disconnect()
    # A reconnect that overtakes the old connection's PUBACK and DISCONNECT
    # (the broker's other thread may read the new socket first) is a takeover
    # of a session whose message is still unacknowledged: it is rightly sent
    # again. What is tested here is the acknowledged case, so wait for it.
    deadline = time.monotonic() + 5
    while b.log().count(gone) <= before:
        assert time.monotonic() < deadline, "the broker did not see the DISCONNECT"
        time.sleep(0.02)
    sub = raw_connect(b, "slow")
    assert sub.recv_packet(0.5) is None  # acknowledged: not sent again


@KEEPS
def test_inbound_qos2_is_delivered_once_across_kill(broker_factory, client, tmp_path, keeps):
    b = broker_factory(conf_lines=kept_conf(tmp_path / "data", keeps))
    watcher_kw = {"clean": False}
    watcher = client(b, "watch", V311, **watcher_kw)
    watcher.subscribe("once/t", 2)
    pub = raw_connect(b, "pub2")
    pub.publish("once/t", b"exactly once", qos=2, pid=42)
    assert pub.expect(PUBREC).pid == 42
    b.proc.kill()
    b.proc.wait()
    b.start()
    watcher = client(b, "watch", V311, **watcher_kw)
    pub = raw_connect(b, "pub2")
    # The client did not get PUBCOMP, so it resends the PUBLISH with DUP [MQTT-4.3.3]:
    pub.publish("once/t", b"exactly once", qos=2, pid=42, dup=True)
    assert pub.expect(PUBREC).pid == 42
    pub.pubrel(42)
    assert pub.expect(PUBCOMP).pid == 42
    got = watcher.expect(1)
    assert got[0].payload == b"exactly once"
    watcher.expect_none(0.5)


@KEEPS
def test_outbound_qos2_released_state_survives_kill(broker_factory, client, tmp_path, keeps):
    b = broker_factory(conf_lines=kept_conf(tmp_path / "data", keeps))
    sub = raw_connect(b, "recv2", clean=True)
    sub.subscribe(1, [("rel/t", sub_options(2))])
    pub = client(b, "p", V311)
    pub.publish("rel/t", b"two step", 2)
    p = sub.expect(PUBLISH)
    sub.pubrec(p.pid)
    assert sub.expect(PUBREL).pid == p.pid  # sent only once "released" is durable
    b.proc.kill()
    b.proc.wait()
    b.start()
    sub = raw_connect(b, "recv2")
    # The broker must continue with PUBREL, not resend the PUBLISH (a duplicate).
    again = sub.recv_packet(3)
    assert again is not None and again.type == PUBREL and again.pid == p.pid
    sub.pubcomp(p.pid)
    assert sub.recv_packet(0.5) is None


# ---- a store that cannot be opened ---------------------------------------------

def start_failing(tmp_path, data, name="fail", env=None):
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"listener 0 127.0.0.1\nallow_anonymous true\nstorage rocksdb\nstorage_path {data}\n")
    return subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=20, env=env)


def test_locked_store_stops_startup(broker_factory, tmp_path):
    data = tmp_path / "data"
    broker_factory(conf_lines=storage_conf(data))
    out = start_failing(tmp_path, data)
    assert out.returncode == 1
    assert f"store {data} is in use by another process" in out.stderr


def test_corrupt_store_stops_startup_and_is_not_wiped(broker_factory, tmp_path):
    data = tmp_path / "data"
    b = broker_factory(conf_lines=storage_conf(data))
    pub = RawClient(b, version=RAW_V5)
    pub.connect("c")
    pub.publish("k/t", b"precious", qos=1, pid=1)
    pub.expect(PUBACK)
    assert b.stop() == 0
    manifest = next(data.glob("MANIFEST-*"))
    manifest.write_bytes(b"\x00garbage\xff" * 64)

    def data_files():
        # RocksDB's own info log (LOG*) and OPTIONS files are not data.
        return {p.name: p.read_bytes() for p in data.iterdir() if not p.name.startswith(("LOG", "OPTIONS"))}

    before = data_files()
    out = start_failing(tmp_path, data)
    assert out.returncode == 1
    assert f"store {data}" in out.stderr and "corrupt" in out.stderr
    assert data_files() == before  # nothing deleted, rewritten or repaired


# A full or read-only disk is a directory seen through fault_fs (an LD_PRELOAD
# shim): no mount, so these run on machines without CAP_SYS_ADMIN too.

def test_read_only_file_system_stops_startup_of_a_new_store(tmp_path):
    ro = FaultFs(tmp_path / "ro", read_only=True)
    out = start_failing(tmp_path, ro.root / "data", env=ro.env())
    assert out.returncode == 1
    assert f"store {ro.root / 'data'}: cannot create the directory (Read-only file system)" in out.stderr
    assert not (ro.root / "data").exists()


def test_read_only_file_system_stops_startup_of_a_store_and_leaves_it_as_it_was(broker_factory, tmp_path):
    ro = FaultFs(tmp_path / "ro", read_only=True)
    data = ro.root / "data"
    b = broker_factory(conf_lines=storage_conf(data))  # written while the file system was writable
    pub = RawClient(b, version=RAW_V5)
    pub.connect("c")
    pub.publish("k/t", b"precious", qos=1, pid=1)
    pub.expect(PUBACK)
    assert b.stop() == 0
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    out = start_failing(tmp_path, data, env=ro.env())
    assert out.returncode == 1
    assert f"store {data} cannot be written (" in out.stderr and "Read-only file system" in out.stderr
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_full_disk_refuses_qos1_keeps_serving_and_recovers(broker_factory, client, tmp_path):
    small = FaultFs(tmp_path / "small", size=128 << 20)
    b = broker_factory(conf_lines=storage_conf(small.root / "data", "storage_min_free_space 16MB"),
                       env=small.env())
    watcher = client(b, "watcher", V311)
    watcher.subscribe("full/#", 0)
    pub5 = client(b, "pub5", V5)
    assert pub5.publish("full/t", b"before", 1) is not None
    assert pub5.published[pub5.last_mid or max(pub5.published)] == 0
    # Fill the file system until less than storage_min_free_space is left.
    filler = small.root / "filler"
    small.fill(filler, leave=8 << 20)
    refused = False
    deadline = time.monotonic() + 10
    while not refused and time.monotonic() < deadline:  # the store notices within a second
        info = pub5.publish("full/t", b"x" * 1000, 1, wait=False)
        info.wait_for_publish(5)
        refused = pub5.published.get(info.mid) == 0x97  # Quota exceeded
        if not refused:
            time.sleep(0.2)
    assert refused, "no QoS 1 publish was refused with 0x97 on a full disk"
    b.await_log("below storage_min_free_space")
    # Subscribers are still served (QoS 0 needs no store write).
    pub0 = client(b, "pub0", V311)
    pub0.publish("full/q0", b"still routed", 0)
    got = [m.payload for m in watcher.expect(1, timeout=5)]
    while b"still routed" not in got:
        got.append(watcher.get(timeout=5).payload)
    # A 3.1.1 publisher of QoS 1 is disconnected (it cannot be told "refused").
    pub3 = client(b, "pub3", V311)
    pub3.publish("full/t", b"x", 1, wait=False)
    pub3.wait_closed(5)
    # Space comes back: the store accepts again.
    filler.unlink()
    ok = False
    deadline = time.monotonic() + 10
    while not ok and time.monotonic() < deadline:
        info = pub5.publish("full/t", b"after", 1, wait=False)
        info.wait_for_publish(5)
        ok = pub5.published.get(info.mid) == 0
        if not ok:
            time.sleep(0.3)
    assert ok, "the store did not accept publishes again after space was freed"
    assert b.alive()


def test_full_disk_refuses_qos2_with_pubrec_0x97_and_keeps_sessions_in_step(broker_factory, client, tmp_path):
    """While space is short, new QoS 2 messages are refused with PUBREC 0x97,
    but what keeps the store in step with the broker is still written: a
    subscription made meanwhile, and the end of a delivery acknowledged
    meanwhile, are both as the broker left them after a restart."""
    small = FaultFs(tmp_path / "small", size=128 << 20)
    b = broker_factory(conf_lines=storage_conf(small.root / "data", "storage_min_free_space 16MB"),
                       env=small.env())
    # A persistent subscriber with a QoS 1 delivery in flight (received, not yet acknowledged).
    slow = raw_connect(b, "slow", clean=True)
    slow.subscribe(1, [("low/d", sub_options(1))])
    pub = raw_connect(b, "pub2", clean=True)
    pub.publish("low/d", b"in flight", qos=1, pid=1)
    assert pub.expect(PUBACK).reason_code == 0
    inflight = slow.expect(PUBLISH)
    assert inflight.payload == b"in flight"

    filler = small.root / "filler"
    small.fill(filler, leave=8 << 20)
    # QoS 2: refused with PUBREC 0x97 once the store has noticed (within a second).
    refused = None
    deadline = time.monotonic() + 10
    pid = 10
    while time.monotonic() < deadline:
        pub.publish("low/q2", b"refused", qos=2, pid=pid)
        rec = pub.expect(PUBREC)
        assert rec.pid == pid
        if rec.reason_code == 0x97:
            refused = pid
            break
        pub.pubrel(pid)  # accepted before the store noticed: finish that flow
        assert pub.expect(PUBCOMP).pid == pid
        pid += 1
        time.sleep(0.2)
    assert refused is not None, "no QoS 2 publish was refused with PUBREC 0x97 on a full disk"
    b.await_log("below storage_min_free_space")

    # Bookkeeping while short of space: a new persistent subscription, and the
    # acknowledgement that ends the delivery in flight.
    late = raw_connect(b, "late", clean=True)
    assert late.subscribe(1, [("low/late", sub_options(1))]).reason_codes == [1]
    late.disconnect()
    slow.puback(inflight.pid)
    slow.disconnect()
    time.sleep(0.5)  # SUBACK and PUBACK do not wait for the store's commit

    filler.unlink()
    restart(b, hard=False)
    # The subscription made while space was short survived the restart ...
    late = raw_connect(b, "late")
    assert late.connack.session_present
    # ... and the delivery acknowledged meanwhile is not sent again.
    slow = raw_connect(b, "slow")
    assert slow.connack.session_present
    assert slow.recv_packet(1.0) is None, "a delivery acknowledged while space was short came back"
    # The refused QoS 2 packet id is free for the client again (PUBREC 0x97 ended that flow).
    pub = raw_connect(b, "pub2")
    pub.publish("low/late", b"reused id", qos=2, pid=refused)
    rec = pub.expect(PUBREC)
    assert (rec.pid, rec.reason_code) == (refused, 0)
    pub.pubrel(refused)
    assert pub.expect(PUBCOMP).pid == refused
    got = late.expect(PUBLISH)
    assert got.payload == b"reused id"


# ---- durability none ----------------------------------------------------------------

def query_messages(b, topic_filter="#"):
    """Every stored message under a filter, page by page, read with `strata query`
    (the broker stopped or running)."""
    messages, cursor = [], None
    while True:
        args = [str(STRATA_BIN), "query", "-c", str(b.conf_path), "messages", "--topic", topic_filter,
                "--limit", "10000"] + (["--cursor", cursor] if cursor else [])
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        page = json.loads(out.stdout)
        messages += page["messages"]
        if not page["more"]:
            return messages
        cursor = page["next_cursor"]


def query_topics(b, topic_filter="#"):
    out = subprocess.run([str(STRATA_BIN), "query", "-c", str(b.conf_path), "topics", "--filter", topic_filter],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return {t["topic"]: t["count"] for t in json.loads(out.stdout)["topics"]}


def test_durability_none_graceful_stop_keeps_everything(broker_factory, client, tmp_path):
    b = broker_factory(conf_lines=storage_conf(tmp_path / "data", "storage_durability none"))
    keeper = client(b, "keeper", V311, clean=False)
    keeper.subscribe("none/#", 1)
    keeper.disconnect()
    pub = client(b, "p", V5)
    sent = []  # (topic, payload, qos)
    for i in range(60):
        topic, qos = f"none/t{i % 4}", i % 3
        pub.publish(topic, f"{topic}#{i}".encode(), qos)
        sent.append((topic, f"{topic}#{i}", qos))
    pub.publish("none/retained", b"kept", 1, retain=True)
    pub.disconnect()
    assert b.stop() == 0
    # Nothing is in a write-ahead log with `none`: all of it must have been flushed at stop.
    stored = [(m["topic"], m["payload"]) for m in query_messages(b, "none/#") if m["topic"] != "none/retained"]
    assert sorted(stored) == sorted((t, p) for t, p, _ in sent)
    assert query_topics(b, "none/#") == {"none/t0": 15, "none/t1": 15, "none/t2": 15, "none/t3": 15,
                                         "none/retained": 1}
    b.start()
    keeper = client(b, "keeper", V311, clean=False)
    assert keeper.connack.session_present is True
    # Its queue was restored: the QoS 1/2 messages (QoS 0 is not queued for
    # offline sessions), the retained one included.
    queued = sorted([p for _, p, qos in sent if qos > 0] + ["kept"])
    got = keeper.expect_exactly(len(queued), timeout=10)
    assert sorted(m.payload.decode() for m in got) == queued
    fresh = client(b, "fresh", V311)
    fresh.subscribe("none/retained", 0)
    assert fresh.get().payload == b"kept"


def test_durability_none_kill9_keeps_topic_names_with_their_messages(broker_factory, client, tmp_path):
    """With `none`, a crash loses what was not flushed, but what survives must
    be consistent: every surviving message under its own topic, and no topic
    id handed out again to another topic. A memtable flush is forced by
    writing more than RocksDB's 64 MB write buffer; each payload names its topic."""
    data = tmp_path / "data"
    b = broker_factory(conf_lines=storage_conf(data, "storage_durability none", "http_listener 0 127.0.0.1"))
    pub = client(b, "p", V5)
    pub.publish("first/topic", b"first/topic#0", 1)
    chunk = os.urandom(1 << 20)
    for i in range(72):
        pub.publish("big/blob", f"big/blob#{i}|".encode() + chunk, 1, timeout=30)
    # Wait for the flush the full write buffer started, and a little for its commit.
    deadline = time.monotonic() + 30
    while not list(data.glob("*.sst")):
        assert time.monotonic() < deadline, "RocksDB did not flush a full write buffer"
        time.sleep(0.1)
    time.sleep(1.5)
    b.proc.kill()
    b.proc.wait()
    b.start()
    # New topics after the crash: with a lost dictionary they would get the old ids.
    pub = client(b, "p2", V5)
    for topic in ("after/a", "after/b", "after/c"):
        pub.publish(topic, f"{topic}#0".encode(), 1)
    assert b.stop() == 0
    messages = query_messages(b, "#")

    def head(m):
        p = m["payload"][:64]
        return base64.b64decode(p[:len(p) // 4 * 4]) if m["encoding"] == "base64" else p.encode()

    wrong = [(m["topic"], head(m)[:20]) for m in messages if not head(m).startswith(m["topic"].encode() + b"#")]
    assert not wrong, f"messages stored under another topic than their own: {wrong[:5]}"
    by_topic = collections.Counter(m["topic"] for m in messages)
    # What the flush wrote is there, under names the store still knows.
    assert by_topic["first/topic"] == 1
    assert by_topic["big/blob"] >= 1
    assert all(by_topic[t] == 1 for t in ("after/a", "after/b", "after/c"))


# ---- what is stored -------------------------------------------------------------------

def test_qos0_retained_and_will_messages_are_stored(broker_factory, client, tmp_path):
    b = broker_factory(conf_lines=storage_conf(tmp_path / "data"))
    pub = client(b, "pub0", V311)
    pub.publish("kinds/q0", b"at most once", 0)
    pub.publish("kinds/retained", b"remember me", 0, retain=True)
    pub.disconnect()
    watcher = client(b, "watcher", V311)
    watcher.subscribe("kinds/will", 1)
    doomed = client(b, "doomed", V5, will={"topic": "kinds/will", "payload": b"gone", "qos": 1})
    doomed.drop()  # no DISCONNECT: the will is published
    assert watcher.get().payload == b"gone"
    assert b.stop() == 0
    stored = {m["topic"]: m for m in query_messages(b, "kinds/#")}
    assert set(stored) == {"kinds/q0", "kinds/retained", "kinds/will"}
    assert (stored["kinds/q0"]["payload"], stored["kinds/q0"]["qos"]) == ("at most once", 0)
    assert (stored["kinds/retained"]["payload"], stored["kinds/retained"]["retain"]) == ("remember me", True)
    will = stored["kinds/will"]
    assert (will["payload"], will["qos"], will["client_id"]) == ("gone", 1, "doomed")


def test_mosquitto_persistence_keys_place_the_store(broker_factory, client, tmp_path):
    where = tmp_path / "mosquitto-db"
    b = broker_factory(conf_lines=["persistence true", f"persistence_location {where}"])
    keeper = client(b, "keeper", V311, clean=False)
    keeper.subscribe("m/#", 1)
    keeper.disconnect()
    pub = client(b, "p", V311)
    pub.publish("m/t", b"queued while away", 1)
    pub.disconnect()
    assert b.stop() == 0
    names = {p.name for p in where.iterdir()}
    # A RocksDB store: its CURRENT file names a MANIFEST that is there.
    assert "CURRENT" in names and "IDENTITY" in names, names
    assert (where / "CURRENT").read_text().strip() in names
    assert any(n.endswith((".log", ".sst")) for n in names), names
    assert not (b.workdir / "strata-data").exists()
    b.start()
    b.await_log(f"Store {where} opened: 1 sessions")
    keeper = client(b, "keeper", V311, clean=False)
    assert keeper.connack.session_present is True
    assert keeper.get().payload == b"queued while away"


def test_sighup_applies_a_new_retention(broker_factory, client, tmp_path):
    b = broker_factory(conf_lines=storage_conf(tmp_path / "data", "http_listener 0 127.0.0.1",
                                               "storage_min_free_space 1MB"))
    pub = client(b, "p", V5)
    pub.publish("sensors/a", b"old", 1)
    pub.publish("other/b", b"kept", 1)

    def topics():
        status, doc, _ = b.http_request("GET", "/api/v1/topics")
        assert status == 200, doc
        return sorted(t["topic"] for t in doc["topics"])

    assert topics() == ["other/b", "sensors/a"]
    conf = b.conf_path.read_text().replace(f"storage_path {tmp_path / 'data'}", "storage_path /elsewhere")
    b.conf_path.write_text(conf + "storage_retention sensors/# 1s\n")
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "Retention changed" not in b.log():
        assert time.monotonic() < deadline, b.log()[-2000:]
        time.sleep(0.05)
    b.await_log("storage_path / persistence_location take effect at restart only")
    # Older than a second: no longer shown (and gone with the next sweep).
    while topics() != ["other/b"]:
        assert time.monotonic() < deadline, topics()
        time.sleep(0.1)


@pytest.mark.parametrize("qos", [1, 2])
def test_a_publish_onto_a_topic_the_store_does_not_keep_is_acknowledged(broker_factory, client, tmp_path, qos):
    """The store keeps no $SYS message. A publish that ends up there (here a
    listener's mount point puts it there; a plugin's rewrite may not, the
    host refuses $SYS topics) still gets its PUBACK/PUBREC, and the next one
    too, instead of waiting for a commit that never comes."""
    b = broker_factory(conf_lines=storage_conf(tmp_path / "data", "listener 0 127.0.0.1", "mount_point $SYS/mounted/"))
    mounted = types.SimpleNamespace(host=b.host, port=b.ports[1])
    watcher = client(b, "watch", V5)
    watcher.subscribe("$SYS/mounted/#", qos=1)
    pub = client(mounted, "pub", V5)
    pub.publish("t", b"moved", qos=qos, timeout=10)  # raises without its acknowledgement
    pub.publish("u", b"next", qos=qos, timeout=10)
    got = watcher.expect(2)
    assert [(m.topic, m.payload) for m in got] == [("$SYS/mounted/t", b"moved"), ("$SYS/mounted/u", b"next")]


STALL_SHIM = STRATA_BIN.parents[1] / "lib" / "strata_test_stall_shim.so"


@pytest.mark.parametrize("qos", [1, 2])
def test_a_resend_after_reconnecting_is_acknowledged_only_once_stored(broker_factory, tmp_path, qos):
    """The acknowledgement that waits for the store belongs to the session and
    packet id: a client that reconnects and resends before the commit gets
    nothing until the commit, then one PUBACK/PUBREC, over the new connection.
    The store's disk is held still (tests/fault_fs/stall_shim.c) meanwhile."""
    data = tmp_path / "data"
    data.mkdir()
    stall = tmp_path / "stalled"
    env = dict(os.environ, LD_PRELOAD=str(STALL_SHIM), STRATA_TEST_STALL_ROOT=str(data),
               STRATA_TEST_STALL_FILE=str(stall))
    b = broker_factory(conf_lines=storage_conf(data), env=env)
    watcher = raw_connect(b, "watch")
    watcher.subscribe(1, [("resend/t", sub_options(1))])
    stall.touch()
    try:
        first = raw_connect(b, "resender")
        first.publish("resend/t", b"once", qos=qos, pid=42)
        assert first.recv_packet(0.5) is None  # not stored yet: no acknowledgement
        first.sock.close()
        again = raw_connect(b, "resender")
        assert again.connack.session_present
        again.publish("resend/t", b"once", qos=qos, pid=42, dup=True)
        assert again.recv_packet(1.0) is None, "acknowledged before the store had it"
    finally:
        stall.unlink()
    ack = again.expect(PUBACK if qos == 1 else PUBREC)
    assert ack.pid == 42
    if qos == 2:
        again.pubrel(42)
        assert again.expect(PUBCOMP).pid == 42
    assert again.recv_packet(0.5) is None  # one acknowledgement, not one per copy
    # QoS 2: exactly once. QoS 1: the resend is a new message under MQTT's rules.
    copies = [watcher.expect(PUBLISH) for _ in range(1 if qos == 2 else 2)]
    assert [p.payload for p in copies] == [b"once"] * len(copies)
    assert watcher.recv_packet(0.5) is None
