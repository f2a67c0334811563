"""docs/exporters.md's worked example, run as written: its configuration
(with this run's ports, password files and store directory), its replay
command (on the committed sample of the occupancy data set), and its SQL and
Cypher queries verbatim, against a real MariaDB, FerretDB and Neo4j at once.
The answers are checked against the CSV. The mongosh lines are run as the
same queries through pymongo (there is no mongosh here).

If the docs change, this test follows them; if they stop working, it fails."""
import csv
import pathlib
import re
import shlex
import subprocess
import time

import pytest

from conftest import BROKER_KIND, STRATA_BIN
from exporter_util import exporters
from servers import DATABASE, PASSWORD, mariadb  # noqa: F401  (fixture)
from servers_mongodb import ferretdb  # noqa: F401  (fixture)
from servers_neo4j import PASSWORD as NEO4J_PASSWORD
from servers_neo4j import neo4j  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "exporters.md"
SAMPLE = pathlib.Path(__file__).resolve().parent / "data" / "occupancy-sample.csv"
BENCH = STRATA_BIN.parent / "strata-bench"
KINDS = ["temperature", "light", "sound", "co2", "co2_slope", "pir", "occupancy"]


def doc_block(marker):
    """The fenced block after `<!-- occupancy:MARKER -->` in docs/exporters.md."""
    m = re.search(rf"<!-- occupancy:{marker} -->\n```[a-z]*\n(.*?)\n```", DOC.read_text(), re.S)
    assert m, f"docs/exporters.md has no occupancy:{marker} block"
    return m.group(1)


def statements(block, comment):
    """The block's statements: comment lines dropped, split on ';'."""
    text = "\n".join(line for line in block.splitlines() if not line.strip().startswith(comment))
    return [s.strip() for s in text.split(";") if s.strip()]


def sample_rows():
    with open(SAMPLE, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["time"] = r["Date"].replace("/", "-") + "T" + r["Time"]
    return rows


def conf_from_doc(tmp_path, mariadb, ferretdb, neo4j):  # noqa: F811
    """The documented configuration, pointed at this run's servers."""
    passwords = {"mariadb": PASSWORD, "mongodb": PASSWORD, "neo4j": NEO4J_PASSWORD}
    for kind, pw in passwords.items():
        (tmp_path / f"{kind}.password").write_text(pw + "\n")
    lines = []
    for line in doc_block("conf").splitlines():
        if line.startswith(("listener ", "http_listener ")):
            continue  # the test's own listeners (ephemeral ports)
        line = line.replace("/var/lib/strata", str(tmp_path / "store"))
        line = line.replace("/etc/strata/", f"{tmp_path}/")
        line = line.replace("127.0.0.1:3306", f"127.0.0.1:{mariadb.port}")
        line = line.replace("127.0.0.1:27017", f"127.0.0.1:{ferretdb.port}")
        line = line.replace("127.0.0.1:7474", f"127.0.0.1:{neo4j.port}")
        lines.append(line)
    return lines + ["http_listener 0 127.0.0.1"]


def replay_from_doc(b):
    """The documented replay command, on the sample and this broker."""
    command = doc_block("replay").splitlines()
    first = " ".join(line.rstrip("\\").strip() for line in command if not line.startswith("curl"))
    args = shlex.split(first)
    assert args[0] == "build/bin/strata-bench", args
    args[0] = str(BENCH)
    args[args.index("-broker") + 1] = f"tcp://127.0.0.1:{b.port}"
    args[args.index("-file") + 1] = str(SAMPLE)
    return subprocess.run(args + ["-timeout", "60"], capture_output=True, text=True, timeout=90)


def test_the_worked_example_runs_as_written(broker_factory, tmp_path, mariadb, ferretdb, neo4j):  # noqa: F811
    rows = sample_rows()
    n = len(rows)
    b = broker_factory(conf_lines=conf_from_doc(tmp_path, mariadb, ferretdb, neo4j))
    out = replay_from_doc(b)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"replayed {n} rows ({n * len(KINDS)} messages)" in out.stdout, out.stdout

    # "lag 0 everywhere": every database has every reading.
    deadline = time.monotonic() + 180
    while True:
        state = exporters(b)
        if all(e["lag"] == 0 and e["rows"] >= n * len(KINDS) for e in state.values()):
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert sorted(state) == ["documents", "graph", "warehouse"]
    assert all(e["error_rows"] == 0 and e["rows"] == n * len(KINDS) for e in state.values()), state

    # MariaDB: the documented SQL, verbatim.
    occupied, hourly = statements(doc_block("sql"), "--")
    got = mariadb.sql(occupied)
    want = [[r["time"], r["Room_Occupancy_Count"], r["S1_Temp"], r["S5_CO2"]]
            for r in rows if int(r["Room_Occupancy_Count"]) > 0][:10]
    assert [[t, int(c), float(s1), float(co2)] for t, c, s1, co2 in got] == \
        [[t, int(c), float(s1), float(co2)] for t, c, s1, co2 in want]
    hours = {}
    for r in rows:
        hours.setdefault(r["time"][:13], []).append(r)
    got = mariadb.sql(hourly)
    assert [g[0] for g in got] == sorted(hours)
    for g in got:
        rs = hours[g[0]]
        assert int(g[1]) == len(rs)
        for i, sensor in enumerate(["S1_Temp", "S2_Temp", "S3_Temp", "S4_Temp"]):
            assert float(g[2 + i]) == pytest.approx(sum(float(r[sensor]) for r in rs) / len(rs))

    # MongoDB: the documented mongosh lines, as pymongo calls.
    mongosh = doc_block("mongosh")
    assert 'db.readings.countDocuments({room: "room1", kind: "co2"})' in mongosh
    assert "db.readings.find({kind: \"occupancy\", count: {$gt: 0}}, {_id: 0, time: 1, count: 1})" \
           ".sort({time: 1}).limit(5)" in mongosh
    client = ferretdb.client()
    try:
        readings = client[DATABASE]["readings"]
        assert readings.count_documents({"room": "room1", "kind": "co2"}) == n
        got = list(readings.find({"kind": "occupancy", "count": {"$gt": 0}}, {"_id": 0, "time": 1, "count": 1})
                   .sort("time", 1).limit(5))
        assert got == [{"time": r["time"], "count": int(r["Room_Occupancy_Count"])}
                       for r in rows if int(r["Room_Occupancy_Count"]) > 0][:5]
    finally:
        client.close()

    # Neo4j: the documented Cypher, verbatim.
    rooms, publishers = statements(doc_block("cypher"), "//")
    assert neo4j.cypher(rooms) == [["building/room1", len(KINDS)]]
    got = neo4j.cypher(publishers)
    assert [g[1] for g in got] == sorted(f"building/room1/{k}" for k in KINDS)
    assert all(g[2] == n for g in got), got
    assert len({g[0] for g in got}) == 1 and got[0][0], got  # one publisher: the replay's client
