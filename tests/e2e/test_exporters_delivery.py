"""What an exporter writes when a publisher reconnects in the middle of its
flows (docs/exporters.md, "Exactly-once rows"), through the SQLite exporter
(the store is the commit log: the database does not matter here), driven at
the byte level (rawmqtt) so that each flow is cut exactly where the test says:

- QoS 2: a message whose flow is broken by a reconnect (after PUBLISH, after
  PUBREC, after PUBREL) and completed by the client afterwards, as MQTT says
  (PUBLISH again with DUP before PUBREL, PUBREL again after it), is one row;
  with several flows open at the reconnect too;
- QoS 1: a message a client publishes again after a reconnect (it did not see
  the PUBACK) is, by MQTT's rules, a new message: two rows, as the docs say."""
import contextlib
import sqlite3
import time

import pytest

from conftest import BROKER_KIND
from exporter_util import exporters, wait_count
from rawmqtt import PACKET_NAMES, PUBACK, PUBCOMP, PUBREC, V311, V5, open_client

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

VERSIONS = pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])


def exporter_broker(broker_factory, tmp_path):
    db = tmp_path / "rows.db"
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {tmp_path / 'store'}",
                                   "http_listener 0 127.0.0.1", "exporter rows sqlite", f"exporter_url {db}",
                                   "exporter_route q/# readings payload=text", "exporter_batch_time 20"])
    return b, db


def payloads(db):
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as c:
        try:
            return [r[0] for r in c.execute("SELECT payload FROM readings ORDER BY ts_us, seq")]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise


def session(version, first=False):
    """CONNECT arguments of a session that outlives its connections."""
    if version == V5:
        return {"clean": first, "props": {"SessionExpiryInterval": 300}}
    return {"clean": False}


def expect(c, ptype, pid):
    """The broker's answer `ptype` to packet id `pid`. A PUBREC or PUBCOMP
    for another id, or of the other type, is skipped: the answer to a packet
    the old connection still held, which the broker read at the takeover and
    answered on the new connection, besides the answer to the client's resend."""
    deadline = time.monotonic() + 10
    while True:
        p = c.recv_packet(max(0.1, deadline - time.monotonic()))
        assert p is not None, f"no {PACKET_NAMES[ptype]} for {pid}"
        if p.type == ptype and p.pid == pid:
            return p
        assert p.type in (PUBREC, PUBCOMP) and time.monotonic() < deadline, p


def settle(b, db, n):
    """Waits until the exporter has written everything; returns the payloads."""
    rows = wait_count(lambda: payloads(db), n, what="rows")
    wait_count(lambda: [1] if exporters(b)["rows"]["lag"] == 0 else [], 1, what="lag 0")
    return payloads(db)


@VERSIONS
def test_qos2_flows_cut_by_reconnects_give_one_row_per_message(broker_factory, tmp_path, version):
    b, db = exporter_broker(broker_factory, tmp_path)
    c = open_client(b, "q2-stream", version=version, **session(version, first=True))

    def reconnect():
        nonlocal c
        c.close()
        c = open_client(b, "q2-stream", version=version, **session(version))
        assert c.connack.session_present, c.connack  # the broker kept the flows' state

    sent = []
    for n in range(48):
        pid = n % 20 + 1
        body = f"m{n}".encode()
        sent.append(body.decode())
        c.publish("q/s", body, qos=2, pid=pid)
        case = n % 4
        if case == 0:  # an unbroken flow
            expect(c, PUBREC, pid)
        elif case == 1:  # PUBREC lost with the connection: PUBLISH again, with DUP
            expect(c, PUBREC, pid)
            reconnect()
            c.publish("q/s", body, qos=2, pid=pid, dup=True)
            expect(c, PUBREC, pid)
        elif case == 2:  # cut after PUBREC: the client goes on with PUBREL
            expect(c, PUBREC, pid)
            reconnect()
        else:  # cut before the PUBREC arrived (the broker may or may not have it yet)
            reconnect()
            c.publish("q/s", body, qos=2, pid=pid, dup=True)
            expect(c, PUBREC, pid)
        c.pubrel(pid)
        if n % 3 == 0:  # cut after PUBREL: PUBREL again
            reconnect()
            c.pubrel(pid)
        expect(c, PUBCOMP, pid)

    # Several flows open at once when the connection breaks.
    batch = [(100 + i, f"w{i}".encode()) for i in range(10)]
    for pid, body in batch:
        c.publish("q/s", body, qos=2, pid=pid)
    for pid, _ in batch:
        expect(c, PUBREC, pid)
    reconnect()
    for pid, body in batch[:5]:  # as a client that had not seen these PUBRECs
        c.publish("q/s", body, qos=2, pid=pid, dup=True)
        expect(c, PUBREC, pid)
    for pid, _ in batch:
        c.pubrel(pid)
        expect(c, PUBCOMP, pid)
    sent += [body.decode() for _, body in batch]
    c.disconnect()

    rows = settle(b, db, len(sent))
    assert sorted(rows) == sorted(sent), "each QoS 2 message is exactly one row"
    state = exporters(b)["rows"]
    assert state["rows"] == len(sent) and state["error_rows"] == 0, state


@VERSIONS
def test_qos1_message_published_again_after_a_reconnect_is_two_rows(broker_factory, tmp_path, version):
    """The documented limit of QoS 1: a resend is a new message for the broker."""
    b, db = exporter_broker(broker_factory, tmp_path)
    c = open_client(b, "q1-pub", version=version, **session(version, first=True))
    c.publish("q/s", b"once?", qos=1, pid=5)
    assert c.expect(PUBACK).pid == 5  # stored; the client behaves as if it never saw this
    c.close()
    c = open_client(b, "q1-pub", version=version, **session(version))
    c.publish("q/s", b"once?", qos=1, pid=5, dup=True)
    assert c.expect(PUBACK).pid == 5
    c.publish("q/s", b"after", qos=1, pid=6)
    assert c.expect(PUBACK).pid == 6
    c.disconnect()
    assert settle(b, db, 3) == ["once?", "once?", "after"]
