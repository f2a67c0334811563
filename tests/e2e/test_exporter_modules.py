"""Exporters as modules (plugins/exporter.h, docs/exporters.md "Exporter
modules"): the broker binary links no database client; each kind is a shared
object loaded only when the conf names it; a module of one's own is loaded with
exporter_plugin, here the C example plugins/examples/jsonl_exporter.c; a
missing module or library stops start-up with the conf line that asked for it."""
import base64
import json
import subprocess

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND, STRATA_BIN
from exporter_util import exporters, wait_count

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

LIB = STRATA_BIN.parent.parent / "lib"
JSONL = LIB / "strata_jsonl_exporter.so"
DATABASE_CLIENTS = ("libmariadb", "libmysqlclient", "libpq", "libmongoc", "libbson", "librdkafka", "libsqlite3")


def test_the_broker_binary_links_no_database_client():
    out = subprocess.run(["ldd", str(STRATA_BIN)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert not [lib for lib in DATABASE_CLIENTS if lib in out.stdout], out.stdout
    modules = sorted(p.name for p in (LIB / "strata").glob("strata_exporter_*.so"))
    assert modules == [f"strata_exporter_{k}.so" for k in
                       ("kafka", "mariadb", "mongodb", "neo4j", "postgresql", "sqlite")]
    # Each module brings its own client: the SQLite one links libsqlite3 and nothing else of them.
    sqlite = subprocess.run(["ldd", str(LIB / "strata" / "strata_exporter_sqlite.so")], capture_output=True,
                            text=True, timeout=30).stdout
    assert [lib for lib in DATABASE_CLIENTS if lib in sqlite] == ["libsqlite3"], sqlite


def lines_of(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def jsonl_conf(tmp_path, out):
    return ["storage rocksdb", f"storage_path {tmp_path / 'store'}", "http_listener 0 127.0.0.1",
            "exporter lines jsonl", f"exporter_plugin {JSONL}", f"exporter_url {out}",
            "exporter_route sensors/+room/+kind readings fields=value,unit:text", "exporter_route raw/# blobs payload=bytes",
            "exporter_batch_time 20"]


def test_an_exporter_module_of_ones_own_in_c(broker_factory, client, tmp_path):
    out = tmp_path / "out.jsonl"
    b = broker_factory(conf_lines=jsonl_conf(tmp_path, out))
    pub = client(b, "dev-1", V5)
    for i in range(10):
        pub.publish(f"sensors/r{i % 2}/temp", json.dumps({"value": 20 + i, "unit": "C", "other": 1}), 1)
    pub.publish("sensors/r9/temp", b"not json", 1)
    pub.publish("raw/blob", bytes(range(256)), 1, retain=True)
    rows = wait_count(lambda: lines_of(out), 12, what="lines")
    assert len(rows) == 12, rows
    readings = rows[:10]
    assert [r["fields"] for r in readings] == [{"value": 20 + i, "unit": "C"} for i in range(10)]
    assert [r["captures"] for r in readings] == [{"room": f"r{i % 2}", "kind": "temp"} for i in range(10)]
    assert {(r["target"], r["client_id"], r["qos"], r["retain"]) for r in readings} == {("readings", "dev-1", 1, False)}
    misfit = rows[10]
    assert misfit["target"] == "readings" and misfit["error"] == "payload is not JSON", misfit
    assert base64.b64decode(misfit["payload_base64"]) == b"not json"
    blob = rows[11]
    assert blob["target"] == "blobs" and blob["retain"] is True and "error" not in blob
    assert base64.b64decode(blob["payload_base64"]) == bytes(range(256))
    seqs = [r["log_seq"] for r in rows]
    assert seqs == sorted(set(seqs)), seqs
    wait_count(lambda: [1] if exporters(b)["lines"]["lag"] == 0 else [], 1, what="lag 0")
    state = exporters(b)["lines"]
    assert state["kind"] == "jsonl" and state["state"] == "up" and state["rows"] == 12, state

    # kill -9, and a half-written line as a crash in the middle of a write
    # leaves it: the module cuts it off, nothing is written twice or lost.
    b.proc.kill()
    b.proc.wait()
    with out.open("a") as f:
        f.write('{"log_seq":999999,"target":"rea')
    b.start()
    pub = client(b, "dev-1", V5)
    for i in range(10, 15):
        pub.publish(f"sensors/r{i % 2}/temp", json.dumps({"value": 20 + i, "unit": "C"}), 1)
    rows = wait_count(lambda: lines_of(out), 17, what="lines")
    assert [r["fields"]["value"] for r in rows if "fields" in r] == [20 + i for i in range(15)]
    seqs = [r["log_seq"] for r in rows]
    assert len(rows) == 17 and seqs == sorted(set(seqs)) and 999999 not in seqs, seqs
    assert b.stop() == 0


def start_fails(tmp_path, lines):
    conf = tmp_path / "s.conf"
    # The lines given start at line 4.
    conf.write_text("listener 0 127.0.0.1\nstorage rocksdb\n" f"storage_path {tmp_path / 'store'}\n" +
                    "\n".join(lines) + "\n")
    run = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=30)
    check = subprocess.run([str(STRATA_BIN), "-c", str(conf), "--check"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1, run.stdout + run.stderr
    return conf, run.stdout + run.stderr, check


def test_a_missing_module_stops_start_up_with_the_line_that_asked_for_it(tmp_path):
    missing = tmp_path / "nowhere" / "strata_custom.so"
    conf, out, check = start_fails(tmp_path, ["exporter mine custom", f"exporter_plugin {missing}",
                                              f"exporter_url {tmp_path}/x", "exporter_route # t"])
    assert f"{conf}:4: exporter mine: cannot load exporter module {missing}" in out, out
    assert "No such file" in out, out
    assert check.returncode == 1 and f"{conf}:4: exporter mine: cannot load exporter module" in check.stderr, \
        check.stdout + check.stderr


def test_a_kind_strata_ships_is_looked_for_in_exporter_plugin_dir(tmp_path):
    empty = tmp_path / "modules"
    empty.mkdir()
    conf, out, check = start_fails(tmp_path, [f"exporter_plugin_dir {empty}", "exporter db sqlite",
                                              f"exporter_url {tmp_path}/x.db", "exporter_route # t"])
    assert f"{conf}:5: exporter db: cannot load exporter module {empty}/strata_exporter_sqlite.so" in out, out
    assert check.returncode == 1, check.stdout


def test_a_file_that_is_no_exporter_module_is_refused(tmp_path):
    # The MQTT plugin example is a shared object, but not an exporter module.
    conf, out, _ = start_fails(tmp_path, ["exporter x custom", f"exporter_plugin {LIB / 'strata_example.so'}",
                                          f"exporter_url {tmp_path}/x", "exporter_route # t"])
    assert f"{conf}:4: exporter x: {LIB / 'strata_example.so'} is not an exporter module" in out, out


def test_an_unknown_kind_needs_exporter_plugin(tmp_path):
    conf, out, check = start_fails(tmp_path, ["exporter x oracle", "exporter_url o://h", "exporter_route # t"])
    assert f"{conf}:4: exporter: unknown exporter kind 'oracle'" in out and "exporter_plugin PATH" in out, out


def test_a_module_refusing_its_configuration_names_the_conf_line(tmp_path):
    conf, out, _ = start_fails(tmp_path, ["exporter x jsonl", f"exporter_plugin {JSONL}", "exporter_url relative.jsonl",
                                          "exporter_route # t"])
    assert f"{conf}:4: exporter x: exporter_url must be an absolute file path, got 'relative.jsonl'" in out, out
    conf, out, _ = start_fails(tmp_path, ["exporter db sqlite", f"exporter_url {tmp_path}/x.db", "exporter_route # t",
                                          "exporter_option journal wal"])
    assert f"{conf}:4: exporter db: a sqlite exporter has no exporter_option, got 'journal wal'" in out, out
