"""strata-bench counts correctly: what it reports is checked against what the
broker and independent subscribers (paho) actually saw. No speed is asserted."""
import json
import pathlib
import re
import subprocess

import pytest

from clients import V5, V311
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = REPO / "build" / "bin" / "strata-bench"
SAMPLE = pathlib.Path(__file__).resolve().parent / "data" / "occupancy-sample.csv"

# mqtt-bench's own result line.
RESULT = re.compile(r"^Result : broker=tcp://127\.0\.0\.1:\d+, clients=(\d+), totalCount=(\d+), "
                    r"duration=(\d+)ms, throughput=[\d.]+messages/sec$", re.M)


def bench(broker, *args, timeout=60):
    cmd = [str(BENCH), "-broker", f"tcp://127.0.0.1:{broker.port}", "-pretime", "100", "-timeout", "30",
           "-quiet", "500", "-json", *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    summary = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    return out, summary


def test_flags_are_mqtt_bench_flags(broker):
    out, s = bench(broker, "-action", "pub", "-clients", "3", "-count", "50", "-size", "100", "-qos", "1",
                   "-topic", "/mqtt-bench/benchmark", "-intervaltime", "0")
    assert out.returncode == 0, out.stdout + out.stderr
    m = RESULT.search(out.stdout)
    assert m, out.stdout
    assert int(m.group(1)) == 3 and int(m.group(2)) == 150
    assert s["published"] == 150


def test_bad_flag_is_refused():
    out = subprocess.run([str(BENCH), "-nosuchflag", "1"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert "flag provided but not defined: -nosuchflag" in out.stderr


@pytest.mark.parametrize("pattern,pubs,subs,expected", [
    ("p2p", 4, 4, 4 * 60),
    ("fanin", 4, 1, 4 * 60),
    ("fanout", 1, 4, 4 * 60),   # every subscriber gets the publisher's 60
    ("shared", 4, 3, 4 * 60),   # each message to one member of the group
])
@pytest.mark.parametrize("qos", [1, 2])
def test_pubsub_counts_every_message_once(broker, pattern, pubs, subs, expected, qos):
    out, s = bench(broker, "-action", "pubsub", "-pattern", pattern, "-clients", pubs, "-subscribers", subs,
                   "-count", 60, "-size", 64, "-qos", qos)
    assert out.returncode == 0, out.stdout + out.stderr
    assert s["published"] == pubs * 60
    assert s["expected"] == expected
    assert s["received"] == expected and s["unique"] == expected
    assert s["lost"] == 0 and s["duplicates"] == 0 and s["reordered"] == 0
    assert s["latency_us"]["samples"] == expected
    assert 0 < s["latency_us"]["p50"] <= s["latency_us"]["p99"] <= s["latency_us"]["max"]
    assert "Received : subscribers=%d, totalCount=%d" % (subs, expected) in out.stdout
    assert "WARNING" not in out.stdout


def test_what_bench_publishes_is_what_a_third_party_subscriber_sees(broker, client):
    watcher = client(broker, "watcher", V311)
    watcher.subscribe("/mqtt-bench/benchmark/#", 1)
    out, s = bench(broker, "-action", "pub", "-clients", 2, "-count", 40, "-size", 32, "-qos", 1)
    assert out.returncode == 0
    got = watcher.expect(80)
    assert sorted({m.topic for m in got}) == ["/mqtt-bench/benchmark/0", "/mqtt-bench/benchmark/1"]
    assert all(len(m.payload) == 32 for m in got)
    watcher.expect_none(0.3)
    assert s["published"] == 80


def test_lost_messages_are_detected(broker_factory):
    # The broker drops every payload above 100 bytes (message_size_limit):
    # strata-bench must notice that nothing arrived and fail the run.
    b = broker_factory(conf_lines=["message_size_limit 100"])
    out, s = bench(b, "-action", "pubsub", "-clients", 2, "-count", 30, "-size", 200, "-qos", 1)
    assert out.returncode == 1
    assert s["published"] == 60 and s["received"] == 0 and s["lost"] == 60
    assert "WARNING: 60 messages lost" in out.stdout


@pytest.mark.parametrize("version", [3, 4, 5])
def test_protocol_versions(broker, version):
    out, s = bench(broker, "-action", "pubsub", "-V", version, "-clients", 2, "-count", 20, "-size", 16, "-qos", 1)
    assert out.returncode == 0, out.stdout + out.stderr
    assert s["version"] == version and s["received"] == 40 and s["lost"] == 0
    broker.await_log(f"(p{ {3: 1, 4: 2, 5: 5}[version] },")


def test_rate_limited_run_still_counts(broker):
    out, s = bench(broker, "-action", "pubsub", "-clients", 2, "-count", 50, "-size", 64, "-qos", 0, "-rate", 500)
    assert out.returncode == 0
    assert s["received"] == 100 and s["lost"] == 0
    # 100 messages at 500/s take about 0.2 s; only a gross pacing failure is checked.
    assert s["publish_ms"] >= 100


def test_shuffled_connection_order_still_pairs_each_publisher_with_its_subscriber(broker_factory):
    # `-shuffle` mixes publishers and subscribers in the connection order; p2p
    # pairs stay p2p (each subscriber gets its own publisher's messages). On
    # strata with two workers, about half the pairs start on different workers.
    b = broker_factory(conf_lines=["threads 2"] if BROKER_KIND == "strata" else [])
    out, s = bench(b, "-action", "pubsub", "-pattern", "p2p", "-clients", 20, "-count", 15, "-size", 32,
                   "-qos", 1, "-shuffle", "-rate", 600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert s["received"] == 300 and s["unique"] == 300 and s["expected"] == 300, s


def test_idle_connections(broker):
    out, s = bench(broker, "-action", "conn", "-clients", 200, "-hold", 1)
    assert out.returncode == 0, out.stdout
    assert s["connections"] == 200
    assert "connected: 200 of 200" in out.stdout
    broker.await_log("New client connected", count=200)


def test_replay_publishes_each_row_as_json(broker, client):
    watcher = client(broker, "replay-watcher", V5)
    watcher.subscribe("building/room1/#", 1)
    out, s = bench(broker, "-action", "replay", "-file", SAMPLE, "-qos", 1, "-speed", 0)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = len(SAMPLE.read_text().splitlines()) - 1
    assert s["published"] == rows * 7
    got = watcher.expect(rows * 7)
    by_kind = {}
    for m in got:
        by_kind.setdefault(m.topic.rsplit("/", 1)[1], []).append(json.loads(m.payload))
    assert sorted(by_kind) == ["co2", "co2_slope", "light", "occupancy", "pir", "sound", "temperature"]
    first = by_kind["temperature"][0]
    # The first row of the sample: 2017/12/22,10:49:41,24.94,24.75,24.56,25.38,...
    assert first == {"time": "2017-12-22T10:49:41", "S1": 24.94, "S2": 24.75, "S3": 24.56, "S4": 25.38}
    assert by_kind["co2"][0] == {"time": "2017-12-22T10:49:41", "co2": 390}
    assert by_kind["co2_slope"][0] == {"time": "2017-12-22T10:49:41", "slope": 0.769230769231}
    assert [r["time"] for r in by_kind["occupancy"]] == sorted(r["time"] for r in by_kind["occupancy"])


def test_replay_keeps_the_recorded_pace(broker):
    # The sample's rows are about 31 s apart; at 300x that is ~0.1 s per row.
    out, s = bench(broker, "-action", "replay", "-file", SAMPLE, "-qos", 0, "-speed", 300)
    assert out.returncode == 0
    m = re.search(r"replayed (\d+) rows \(\d+ messages\) .* in ([\d.]+)s", out.stdout)
    assert m and int(m.group(1)) == 20
    assert float(m.group(2)) >= 1.0  # 19 gaps of ~0.1 s: a replay that ignores the pace takes a few ms


def test_tls_broker_with_mqtt_bench_tls_flag(broker_factory, pki, client):
    """-broker ssl://... with -tls server:CA and client:CA,CERT,KEY; a paho subscriber on
    the plain listener counts what arrived."""
    b = broker_factory(conf_lines=pki.tls_listener(f"cafile {pki.ca}", "require_certificate true"))
    port = b.ports_of["mqtts"][0]
    watcher = client(b, "bench-watch", V5)
    watcher.subscribe("tlsbench/#", qos=1)
    base = [str(BENCH), "-broker", f"ssl://127.0.0.1:{port}", "-pretime", "100", "-timeout", "30", "-json",
            "-action", "pub", "-clients", "2", "-count", "25", "-qos", "1", "-topic", "tlsbench"]
    mutual = f"client:{pki.ca},{pki.client_cert},{pki.client_key}"
    out = subprocess.run(base + ["-tls", mutual], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["published"] == 50
    assert len(watcher.expect_exactly(50)) == 50
    # Without its client certificate the broker refuses the handshake: nothing is published.
    out = subprocess.run(base + ["-tls", f"server:{pki.ca}", "-timeout", "5"], capture_output=True, text=True,
                         timeout=60)
    assert "connections failed" in out.stdout + out.stderr, out.stdout + out.stderr
    watcher.expect_none(0.3)
    bad = subprocess.run([str(BENCH), "-broker", "tcp://127.0.0.1:1", "-tls", "server:x"], capture_output=True,
                         text=True, timeout=10)
    assert bad.returncode == 2 and "-tls needs an ssl:// broker" in bad.stderr
