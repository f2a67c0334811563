"""The store under load and maintenance: a purge of a million messages does
not hold up the acknowledgements that wait for the store (it goes a slice at
a time between commits), and counts exactly what it deleted."""
import os
import pathlib
import subprocess
import threading
import time
import urllib.parse

import pytest

from clients import V311
from clients import client  # noqa: F401  (fixture)

pytestmark = pytest.mark.strata_only

BENCH = pathlib.Path(__file__).resolve().parents[2] / "build" / "bin" / "strata-bench"


def load(b, clients, count, topic):
    """clients × count QoS 0 messages from strata-bench, each client on topic/<n>."""
    out = subprocess.run([str(BENCH), "-broker", f"tcp://127.0.0.1:{b.port}", "-action", "pub", "-clients",
                          str(clients), "-count", str(count), "-size", "16", "-qos", "0", "-topic", topic,
                          "-pretime", "100", "-timeout", "300"], capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr


def topics(b, topic_filter):
    status, doc, _ = b.http_request("GET", "/api/v1/topics?filter=" + urllib.parse.quote(topic_filter, safe=""))
    assert status == 200, doc
    return doc["topics"]


def test_a_purge_of_a_million_messages_does_not_hold_up_acknowledgements(broker_factory, client, tmp_path):
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {tmp_path / 'data'}", "http_listener 0 127.0.0.1",
                                   "max_queued_messages 10"], verbose=False)
    load(b, 4, 250_000, "bulk")
    # QoS 0: the bench is done once its messages are on the wire; the broker stores them soon after.
    deadline = time.monotonic() + 120
    stored = topics(b, "bulk/#")
    while sum(t["count"] for t in stored) < 1_000_000:
        assert time.monotonic() < deadline, stored
        time.sleep(0.5)
        stored = topics(b, "bulk/#")
    assert sum(t["count"] for t in stored) == 1_000_000, stored
    # Everything but each topic's newest message: a range in the middle of
    # every topic, so its keys are counted, not taken from the counters.
    before = min(t["last_ts_ms"] for t in stored)

    result = {}
    purge = threading.Thread(target=lambda: result.update(
        answer=b.http_request("DELETE", f"/api/v1/messages?topic=bulk/%23&before={before}", timeout=300)))
    probe = client(b, "probe", V311)
    purge.start()
    acknowledged_during = 0
    try:
        for i in range(100_000):
            if not purge.is_alive():
                break
            probe.publish("probe/t", f"{i}".encode(), 1, timeout=30)  # returns with its PUBACK (durability wal)
            if purge.is_alive():
                acknowledged_during += 1
    finally:
        purge.join(300)
    status, doc, _ = result["answer"]
    assert status == 200, doc
    # The writer went on committing between the purge's slices.
    # In one piece (as before slices), the purge let 3 through, at its edges;
    # a slice at a time, 70 to 90 here.
    assert acknowledged_during >= 15, f"only {acknowledged_during} PUBACKs while the purge ran"
    left = topics(b, "bulk/#")
    assert doc["deleted"] == 1_000_000 - sum(t["count"] for t in left)
    assert all(t["first_ts_ms"] >= before for t in left), left


STALL_SHIM = BENCH.parents[1] / "lib" / "strata_test_stall_shim.so"


def rss_bytes(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_stalled_disk_slows_publishers_instead_of_filling_memory(broker_factory, tmp_path):
    """While the store's disk does not answer, the writer's queue stops at
    storage_queue_limit and the broker stops reading its clients (TCP slows
    them down): memory stays bounded. When the disk answers again, every
    message is stored."""
    assert STALL_SHIM.exists(), f"{STALL_SHIM} is built with the tests"
    data = tmp_path / "data"
    data.mkdir()
    stall = tmp_path / "stalled"
    env = dict(os.environ, LD_PRELOAD=str(STALL_SHIM), STRATA_TEST_STALL_ROOT=str(data),
               STRATA_TEST_STALL_FILE=str(stall))
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {data}", "storage_queue_limit 8MB",
                                   "http_listener 0 127.0.0.1"], verbose=False, env=env)
    before = rss_bytes(b.proc.pid)
    stall.touch()
    # 160 MB of QoS 0 messages, more than the queue may hold many times over.
    bench = subprocess.Popen([str(BENCH), "-broker", f"tcp://127.0.0.1:{b.port}", "-action", "pub", "-clients", "4",
                              "-count", "10000", "-size", "4096", "-qos", "0", "-topic", "flood", "-pretime", "100",
                              "-timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        peak = before
        for _ in range(40):  # 4 s of the stall, the publishers pushing all along
            time.sleep(0.1)
            peak = max(peak, rss_bytes(b.proc.pid))
        assert bench.poll() is None, "the publishers finished although the store could not write"
        assert peak - before < 96 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MB during the stall"
    finally:
        stall.unlink()
    out, _ = bench.communicate(timeout=180)
    assert bench.returncode == 0, out
    deadline = time.monotonic() + 60
    while sum(t["count"] for t in topics(b, "flood/#")) < 40_000:
        assert time.monotonic() < deadline, topics(b, "flood/#")
        time.sleep(0.5)
