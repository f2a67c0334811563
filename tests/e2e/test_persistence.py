"""`persistence true` means what it means in Mosquitto: persistent sessions,
their queued and in-flight messages and retained messages survive a restart
and kill -9, and nothing more is kept; the history of every message is
`storage rocksdb`'s. Debian's own /etc/mosquitto/mosquitto.conf starts strata
unchanged. Sessions across kill -9 in both modes are in test_storage.py."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest

from clients import V311, V5
from clients import client  # noqa: F401  (fixture)
from conftest import STRATA_BIN

pytestmark = pytest.mark.strata_only

DEBIAN_CONF = pathlib.Path("/etc/mosquitto/mosquitto.conf")


def stored_messages(store, topic_filter="#"):
    """The message records in a store, read with `strata query` while the broker runs."""
    out = subprocess.run([str(STRATA_BIN), "query", "--store", str(store), "messages", "--topic", topic_filter,
                          "--limit", "10000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["messages"]


def wait_for(condition, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_debian_stock_mosquitto_conf_starts_strata_unchanged(broker_factory, client, tmp_path):
    text = DEBIAN_CONF.read_text()  # the mosquitto package's own file (tools/install-deps installs it)
    assert "persistence true" in text and "include_dir" in text and "log_dest file" in text
    run, lib, log_dir, conf_d = (tmp_path / d for d in ("run", "lib", "log", "conf.d"))
    for d in (run, lib, log_dir, conf_d):
        d.mkdir()
    (conf_d / "README").write_text("only *.conf files are read\n")
    # Only the paths change, to this test's directories.
    text = text.replace("/run/mosquitto/", f"{run}/").replace("/var/lib/mosquitto/", f"{lib}/")
    text = text.replace("/var/log/mosquitto/", f"{log_dir}/").replace("/etc/mosquitto/conf.d", str(conf_d))
    # The stock file has no listener (Mosquitto then listens on 1883 on
    # loopback); -p replaces that port, as with mosquitto -p.
    b = broker_factory(conf_lines=text.splitlines(), listener=False, anonymous=False, args=["-p", "0"])
    assert (run / "mosquitto.pid").read_text().strip() == str(b.proc.pid)
    log_file = log_dir / "mosquitto.log"
    wait_for(lambda: log_file.exists() and "keeps persistent sessions" in log_file.read_text(),
             "no start-up line saying what the store keeps")
    line = next(l for l in log_file.read_text().splitlines() if "keeps persistent sessions" in l)
    assert f"Store {lib}/" in line and "not the history of messages" in line, line

    sub = client(b, "dev-1", V311, clean=False)
    sub.subscribe("cmd/#", 1)
    sub.disconnect()
    pub = client(b, "app", V5)
    for i in range(3):
        pub.publish("cmd/dev-1", f"c{i}".encode(), 1)
    pub.publish("status/site", b"up", 1, retain=True)
    for i in range(5):
        pub.publish("telemetry/t", f"{i}".encode(), 1)  # nobody keeps these
    pub.disconnect()
    # Queued for the offline session: those records exist; the telemetry does not.
    assert sorted(m["payload"] for m in stored_messages(lib)) == ["c0", "c1", "c2"]

    b.proc.kill()
    b.proc.wait()
    b.start()
    sub = client(b, "dev-1", V311, clean=False)
    assert sub.connack.session_present is True
    assert [m.payload for m in sub.expect(3)] == [b"c0", b"c1", b"c2"]
    late = client(b, "late", V311)
    late.subscribe("status/#", 1)
    assert late.get().payload == b"up"
    # Acknowledged: the records go, nothing is kept for history.
    wait_for(lambda: stored_messages(lib) == [], "delivered messages were kept")
    assert b.stop() == 0


def test_history_needs_storage_rocksdb(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text(f"listener 0 127.0.0.1\npersistence true\npersistence_location {tmp_path}/p\n"
                    "http_listener 0\n")
    out = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert f"{conf}:4: http_listener needs the history of messages: storage rocksdb" in out.stderr, out.stderr
    conf.write_text(f"listener 0 127.0.0.1\npersistence true\npersistence_location {tmp_path}/p\n"
                    "exporter e sqlite\nexporter_url /tmp/x.db\nexporter_route # t\n")
    out = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and f"{conf}:4: exporters need the history of messages" in out.stderr, out.stderr


def test_a_store_with_history_is_not_opened_for_sessions_only(broker_factory, client, tmp_path):
    data = tmp_path / "data"
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {data}", "storage_retention sensors/# 30d"])
    assert re.search(r"Store \S+ keeps every message \(retention: sensors/# 2592000 s, other topics forever\)",
                     b.log()), b.log()
    pub = client(b, "p", V5)
    pub.publish("sensors/a", b"kept", 1)
    assert b.stop() == 0
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener 0 127.0.0.1\npersistence true\npersistence_location {data}\n")
    out = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert f"store {data} keeps the history of every message (storage rocksdb)" in out.stderr, out.stderr
    # Nothing was deleted.
    assert [m["payload"] for m in stored_messages(data)] == ["kept"]


def test_delivered_messages_leave_no_record_across_kill(broker_factory, client, tmp_path):
    """Whether the deletions of acknowledged messages were written before the
    kill or not (the next start removes records no session refers to; the
    unit test of remove_unreferenced forces that case), nothing is left."""
    lib = tmp_path / "lib"
    b = broker_factory(conf_lines=["persistence true", f"persistence_location {lib}"])
    sub = client(b, "keeper", V311, clean=False)
    sub.subscribe("q/#", 1)
    sub.disconnect()
    pub = client(b, "p", V311)
    for i in range(20):
        pub.publish("q/t", f"{i}".encode(), 1)
    pub.disconnect()
    assert len(stored_messages(lib)) == 20
    sub = client(b, "keeper", V311, clean=False)
    assert len(sub.expect(20)) == 20
    sub.disconnect()
    wait_for(lambda: "Client keeper disconnected." in b.log(), "the broker did not see the DISCONNECT")
    b.proc.kill()  # perhaps before the deletions were written
    b.proc.wait()
    b.start()
    # Whatever the kill left: acknowledgements not yet committed bring their
    # messages back once more; the rest goes at start.
    client(b, "keeper", V311, clean=False)  # acknowledges whatever comes again
    wait_for(lambda: stored_messages(lib) == [], "records of delivered messages were kept")
