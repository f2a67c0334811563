"""SIGHUP and the exporters (docs/exporters.md, "Reloading"), with SQLite
exporters (files in the test's directory) while a QoS 1 stream runs:

- an exporter the reloaded configuration adds starts exporting; one it
  removes stops; one whose route changed (a field more) restarts at its
  cursor with the new route: nothing the broker acknowledged is missing from
  the exporters that run, and nothing is written twice;
- a changed exporter that cannot be set up keeps running as it was, with one
  log line saying why;
- exporters configured on SIGHUP when strata started without any take effect
  at restart, and one log line says so."""
import contextlib
import signal
import sqlite3
import threading
import time

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from exporter_util import exporters, publish_stream, wait_count, wait_state

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")


VALUES = "SELECT value FROM readings ORDER BY ts_us, seq"


def rows(db, sql="SELECT value, unit FROM readings ORDER BY ts_us, seq"):
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as c:
        try:
            return [tuple(r) for r in c.execute(sql)]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e) or "no such column" in str(e):
                return []
            raise


def exporter(name, db, route, *extra):
    return [f"exporter {name} sqlite", f"exporter_url {db}", f"exporter_route sensors/+room/+kind {route}",
            "exporter_batch_time 20", *extra]


def write_conf(b, *blocks):
    """The broker's configuration with these exporter blocks in place of its
    own; every other line is kept as it is."""
    kept = [line for line in b.conf_path.read_text().splitlines() if not line.startswith("exporter")]
    b.conf_path.write_text("\n".join(kept + [line for block in blocks for line in block]) + "\n")


def wait_log(b, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in b.log():
        assert time.monotonic() < deadline, f"no '{text}' in the log:\n{b.log()[-3000:]}"
        time.sleep(0.05)


def test_sighup_adds_removes_and_changes_exporters(broker_factory, tmp_path):
    a_db, b_db, c_db = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    base = ["storage rocksdb", f"storage_path {tmp_path / 'store'}", "http_listener 0 127.0.0.1"]
    b = broker_factory(conf_lines=base + exporter("a", a_db, "readings fields=value") +
                       exporter("b", b_db, "readings fields=value"))
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        wait_count(lambda: rows(a_db, VALUES), 20, what="rows of a")
        wait_count(lambda: rows(b_db, VALUES), 20, what="rows of b")
        write_conf(b, exporter("a", a_db, "readings fields=value,unit:text"),
                   exporter("c", c_db, "readings fields=value,unit:text", "exporter_start newest"))
        b.signal(signal.SIGHUP)
        wait_log(b, "Exporter b removed by the reloaded configuration")
        wait_log(b, "Exporter a: its configuration changed; restarted at log position")
        wait_log(b, "Exporter c (sqlite) added by the reloaded configuration")
        b_rows = len(rows(b_db, VALUES))  # b has stopped
        # Both exporters that run take the stream with the new route.
        wait_count(lambda: [r for r in rows(a_db) if r[1] == "n"], 20, what="rows of a with a unit")
        wait_count(lambda: rows(c_db), 20, what="rows of c")
    finally:
        stop.set()
        pub.join(30)
    assert acked, "nothing was acknowledged"
    for name in ("a", "c"):  # both have exported everything stored
        deadline = time.monotonic() + 60
        while (s := exporters(b)[name])["lag"] > 0 or s["state"] != "up":
            assert time.monotonic() < deadline, s
            time.sleep(0.1)
    a = rows(a_db)
    values = [int(v) for v, _ in a]
    assert len(values) == len(set(values)), "a wrote a row twice"
    assert acked <= set(values), f"a lost: {sorted(acked - set(values))[:10]}"
    # Written by the old route (no unit column then), then all by the new one.
    before = [int(v) for v, u in a if u is None]
    after = [int(v) for v, u in a if u == "n"]
    assert before and after and len(before) + len(after) == len(a) and max(before) < min(after), a
    c = [int(v) for v, _ in rows(c_db)]
    assert len(c) == len(set(c)), "c wrote a row twice"
    assert {n for n in acked if n >= min(c)} <= set(c), "c lost a message after its start"
    assert len(rows(b_db, VALUES)) == b_rows, "b went on after its removal"
    assert set(exporters(b)) == {"a", "c"} and exporters(b)["a"]["errors"] == 0, exporters(b)


def test_a_changed_exporter_that_cannot_be_set_up_keeps_running(broker_factory, tmp_path, client):
    db = tmp_path / "a.db"
    base = ["storage rocksdb", f"storage_path {tmp_path / 'store'}", "http_listener 0 127.0.0.1"]
    b = broker_factory(conf_lines=base + exporter("a", db, "readings fields=value"))
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/t", '{"value": 1}', qos=1)
    wait_count(lambda: rows(db, VALUES), 1)
    broken = [line.replace("exporter a sqlite", "exporter a mariadb") for line in exporter("a", db, "readings")]
    write_conf(b, broken)
    b.signal(signal.SIGHUP)
    wait_log(b, "exporter a: exporter_url must be mysql://USER@HOST:PORT/DATABASE; "
                "the exporter keeps running as it was.")
    pub.publish("sensors/r1/t", '{"value": 2}', qos=1)
    assert [int(r[0]) for r in wait_count(lambda: rows(db, VALUES), 2)] == [1, 2]
    assert exporters(b)["a"]["state"] == "up"


def test_exporters_configured_on_sighup_without_any_at_start_wait_for_a_restart(broker_factory, tmp_path, client):
    db = tmp_path / "a.db"
    base = ["storage rocksdb", f"storage_path {tmp_path / 'store'}", "http_listener 0 127.0.0.1"]
    b = broker_factory(conf_lines=base)
    write_conf(b, exporter("a", db, "readings fields=value"))
    b.signal(signal.SIGHUP)
    wait_log(b, "Warning: exporter lines take effect at restart only")
    assert b.log().count("exporter lines take effect at restart only") == 1
    client(b, "p", V5).publish("sensors/r1/t", '{"value": 1}', qos=1)
    assert b.alive()
    assert b.stop() == 0
    b.start()  # with the exporter now
    wait_state(b, "a", "up")
