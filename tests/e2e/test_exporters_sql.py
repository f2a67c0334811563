"""The SQL exporters against real databases: SQLite (a file), MariaDB and
PostgreSQL (servers started by the test run, servers.py). For each: what is
published arrives as rows with the right contents (captured topic levels,
typed JSON fields, text and bytes payloads, misfits in the error table); a
database outage of more than 10 s in the middle of a publish stream, and a
kill -9 of strata in the middle of an export, lose no row and duplicate none;
a wrong password is reported and retried, not fatal, and SIGHUP reads the
password file again. A row the database refuses (a constraint of the user's)
goes to the error table and the rest of its batch is written; a route that
gains a field gets its column, or its rows go to the error table saying why."""
import contextlib
import datetime
import json
import signal
import sqlite3
import threading
import subprocess
import time

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND, STRATA_BIN
from exporter_util import exporters, publish_stream, wait_count, wait_state, stream_with_kills
from servers import PASSWORD, mariadb, postgresql  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's exporters")

ROUTES = [
    "exporter_route sensors/+room/+kind {t}_readings fields=value,unit:text",
    "exporter_route logs/# {t}_logs payload=text",
    "exporter_route raw/# {t}_raw payload=bytes",
    "exporter_route docs/# {t}_docs",
    "exporter_route devices/+device {t}_devices fields=ts:text>device_time,seq>device_seq",
]


class SqliteTarget:
    kind = "sqlite"

    def __init__(self, tmp_path):
        self.path = tmp_path / "export.db"

    def conf(self, name, password_ok=True):
        return [f"exporter {name} sqlite", f"exporter_url {self.path}"]

    def query(self, sql):
        if not self.path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
            try:
                return [tuple(r) for r in db.execute(sql)]
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return []
                raise

    @contextlib.contextmanager
    def outage(self):
        """SQLite has no server to stop: another process holds the write lock."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("COMMIT")
            db.close()


class ServerTarget:
    def __init__(self, server, kind, tmp_path):
        self.server = server
        self.kind = kind
        self.password_file = tmp_path / f"{kind}.pw"
        self.password_file.write_text(PASSWORD + "\n")
        self.bad_password_file = tmp_path / f"{kind}.bad"
        self.bad_password_file.write_text("not-the-password\n")

    def conf(self, name, password_ok=True):
        pw = self.password_file if password_ok else self.bad_password_file
        return [f"exporter {name} {self.kind}", f"exporter_url {self.server.url()}", f"exporter_password_file {pw}",
                "exporter_retry_min 100", "exporter_retry_max 1000"]

    def query(self, sql):
        try:
            return [tuple(r) for r in self.server.sql(sql)]
        except Exception as e:  # noqa: BLE001
            if "doesn't exist" in str(getattr(e, "stderr", "")) or "does not exist" in str(getattr(e, "stderr", "")):
                return []
            raise

    @contextlib.contextmanager
    def outage(self):
        self.server.stop()
        try:
            yield
        finally:
            self.server.start()


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def target(request, tmp_path):
    t = SqliteTarget(tmp_path) if request.param == "sqlite" else \
        ServerTarget(request.getfixturevalue(request.param), request.param, tmp_path)
    t.store_dir = tmp_path
    return t


_tables = iter(range(1, 1_000_000))


def table_prefix(target):
    return f"t{next(_tables)}_{target.kind}"


def exporter_broker(broker_factory, target, prefix, password_ok=True, extra=(), routes=ROUTES):
    store = target.store_dir / prefix
    lines = ["storage rocksdb", f"storage_path {store}", "http_listener 0 127.0.0.1"]
    lines += target.conf("out", password_ok) + [r.format(t=prefix) for r in routes] + ["exporter_batch_time 20"]
    lines += list(extra)
    return broker_factory(conf_lines=lines)


def wait_rows(target, sql, n, timeout=30):
    return wait_count(lambda: target.query(sql), n, timeout, what=f"rows: {sql}")


def prepared_statements(mariadb):
    return int(mariadb.sql("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'")[0][1])


def test_rows_match_what_was_published(broker_factory, target, client):
    prepared = prepared_statements(target.server) if target.kind == "mariadb" else 0
    check_round_trip(broker_factory, target, client)
    if target.kind == "mariadb":  # MariaDB's bulk protocol: prepared INSERTs
        assert prepared_statements(target.server) > prepared


def test_mariadb_without_the_bulk_protocol_writes_the_same_rows(broker_factory, mariadb, tmp_path, client):
    """exporter_option bulk off: multi-row INSERT text, as a MySQL server gets."""
    target = ServerTarget(mariadb, "mariadb", tmp_path)
    target.store_dir = tmp_path
    prepared = prepared_statements(mariadb)
    check_round_trip(broker_factory, target, client, extra=["exporter_option bulk off"])
    assert prepared_statements(mariadb) == prepared


def check_round_trip(broker_factory, target, client, extra=()):
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t, extra=extra)
    pub = client(b, "sensor-pub", V5)
    readings = [(f"r{i % 3}", "temp" if i % 2 else "humidity", round(20 + i * 0.25, 2)) for i in range(20)]
    for room, kind, value in readings:
        pub.publish(f"sensors/{room}/{kind}", json.dumps({"value": value, "unit": "C", "extra": [1]}), qos=1)
    pub.publish("sensors/r9/temp", b"21.5 C", qos=1)                  # not JSON
    pub.publish("sensors/r9/temp", json.dumps({"unit": "C"}), qos=1)  # a field missing
    pub.publish("logs/app", "plain text ünïcode", qos=0)
    raw = bytes(range(256))
    pub.publish("raw/blob", raw, qos=1, retain=True)
    doc = {"name": "room 1", "people": 3, "nested": {"ok": True}}
    pub.publish("docs/room1", json.dumps(doc), qos=2)
    # Fields named like columns every row has, given other names by the route.
    pub.publish("devices/d1", json.dumps({"ts": "2026-11-30T07:00:00Z", "seq": 41}), qos=1)

    rows = wait_rows(target, f"SELECT room, kind, value, unit, topic, qos, client_id FROM {t}_readings "
                             "ORDER BY ts_us, seq", 20)
    assert [(r[0], r[1], float(r[2]), r[3], r[4], int(r[5]), r[6]) for r in rows] == \
        [(room, kind, value, "C", f"sensors/{room}/{kind}", 1, "sensor-pub") for room, kind, value in readings]
    errors = wait_rows(target, f"SELECT reason, topic FROM {t}_readings_errors ORDER BY ts_us, seq", 2)
    assert [r[0] for r in errors] == ["payload is not JSON", "field 'value' missing"]
    assert [r[0] for r in wait_rows(target, f"SELECT payload FROM {t}_logs", 1)] == ["plain text ünïcode"]
    if target.kind == "sqlite":
        assert wait_rows(target, f"SELECT payload, retain FROM {t}_raw", 1)[0] == (raw, 1)
    elif target.kind == "mariadb":
        assert wait_rows(target, f"SELECT HEX(payload), `retain` FROM {t}_raw", 1)[0] == (raw.hex().upper(), "1")
    else:
        assert wait_rows(target, f"SELECT encode(payload, 'hex'), retain FROM {t}_raw", 1)[0] == (raw.hex(), "t")
    assert json.loads(wait_rows(target, f"SELECT payload FROM {t}_docs", 1)[0][0]) == doc
    device = wait_rows(target, f"SELECT device, device_time, device_seq, topic FROM {t}_devices", 1)[0]
    assert (device[0], device[1], float(device[2]), device[3]) == ("d1", "2026-11-30T07:00:00Z", 41.0, "devices/d1")
    state = exporters(b)["out"]
    assert state["state"] == "up" and state["rows"] == 26 and state["error_rows"] == 2 and state["lag"] == 0, state
    if target.kind == "mariadb":  # the arrival time column, to the microsecond
        for ts, ts_us in target.query(f"SELECT DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), ts_us FROM {t}_readings"):
            expected = datetime.datetime.fromtimestamp(int(ts_us) // 1_000_000, datetime.timezone.utc)
            assert ts == expected.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(ts_us) % 1_000_000:06d}"
    return b


def test_text_a_database_cannot_store_goes_to_the_error_table(broker_factory, target, client):
    """A batch with one value the database refuses would be retried forever,
    holding back every message after it. Text that is not UTF-8 (payload=text)
    is a misfit everywhere; U+0000 in text or JSON only in PostgreSQL, whose
    text and jsonb cannot hold it."""
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t)
    pub = client(b, "p", V5)
    pub.publish("logs/latin1", b"caf\xe9", qos=1)
    pub.publish("logs/nul", b"a\x00b", qos=1)
    pub.publish("docs/nul", json.dumps({"s": "x\u0000y"}), qos=1)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C\u0000"}), qos=1)
    pub.publish("sensors/r1/temp", json.dumps({"value": 2, "unit": "C"}), qos=1)  # after them, still exported
    postgres = target.kind == "postgresql"
    wait_rows(target, f"SELECT value FROM {t}_readings", 1 if postgres else 2)
    payload_hex = {"sqlite": "hex(payload)", "mariadb": "HEX(payload)", "postgresql": "encode(payload, 'hex')"}
    errors = wait_rows(target, f"SELECT reason, {payload_hex[target.kind]} FROM {t}_logs_errors ORDER BY ts_us",
                       2 if postgres else 1)
    assert (errors[0][0], errors[0][1].lower()) == ("payload is not UTF-8 text", b"caf\xe9".hex())
    if postgres:
        assert errors[1] == ("PostgreSQL cannot store U+0000 (a NUL character) in payload", b"a\x00b".hex())
        docs = wait_rows(target, f"SELECT reason, encode(payload, 'hex') FROM {t}_docs_errors", 1)
        assert docs[0][0] == "PostgreSQL cannot store U+0000 (a NUL character) in payload"
        assert json.loads(bytes.fromhex(docs[0][1])) == {"s": "x\u0000y"}
        readings = wait_rows(target, f"SELECT reason FROM {t}_readings_errors", 1)
        assert readings == [("PostgreSQL cannot store U+0000 (a NUL character) in unit",)]
    else:
        wait_rows(target, f"SELECT 1 FROM {t}_logs", 1)
        wait_rows(target, f"SELECT 1 FROM {t}_docs", 1)
    state = wait_state(b, "out", "up")
    deadline = time.monotonic() + 30
    while state["lag"] > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        state = exporters(b)["out"]
    assert state["rows"] == 5 and state["error_rows"] == (4 if postgres else 1) and state["lag"] == 0, state


REFUSE_BIG_VALUES = {
    # A rule of the user's that refuses some rows: a trigger (SQLite cannot add a CHECK to a table), a CHECK.
    "sqlite": "CREATE TRIGGER {t}_small BEFORE INSERT ON {t}_readings WHEN NEW.value >= 1000 "
              "BEGIN SELECT RAISE(ABORT, 'value {t} too large'); END",
    "mariadb": "ALTER TABLE {t}_readings ADD CONSTRAINT {t}_small CHECK (value < 1000)",
    "postgresql": "ALTER TABLE {t}_readings ADD CONSTRAINT {t}_small CHECK (value < 1000)",
}


def execute(target, statement):
    """Runs DDL as the database's owner (SQLite: another connection to the file)."""
    if target.kind == "sqlite":
        with contextlib.closing(sqlite3.connect(target.path, timeout=30)) as db:
            db.execute(statement)
            db.commit()
    else:
        target.server.sql(statement)


def test_rows_the_database_refuses_go_to_the_error_table_and_the_rest_is_written(broker_factory, target, client):
    """A row refused for a reason strata cannot foresee (here a constraint the
    user added) used to make its batch fail forever, holding back every row
    after it. The batch is split until the refused rows are found: they go to
    the error table with the database's message and their payload as published,
    the others are written, and the exporter moves on."""
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t, extra=["exporter_batch_time 200"])
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": -1, "unit": "C"}), qos=1)
    wait_rows(target, f"SELECT 1 FROM {t}_readings", 1)
    execute(target, REFUSE_BIG_VALUES[target.kind].format(t=t))
    big = {5, 17, 18, 33}
    values = [1000 + i if i in big else i for i in range(40)]
    for v in values:  # within the batch time: a few batches, each with good and bad rows
        pub.publish("sensors/r1/temp", json.dumps({"value": v, "unit": "C"}), qos=1)
    rows = wait_rows(target, f"SELECT value FROM {t}_readings ORDER BY ts_us, seq", 1 + len(values) - len(big))
    assert [int(float(r[0])) for r in rows] == [-1] + [v for v in values if v < 1000]
    payload_hex = {"sqlite": "hex(payload)", "mariadb": "HEX(payload)", "postgresql": "encode(payload, 'hex')"}
    errors = wait_rows(target, f"SELECT reason, {payload_hex[target.kind]} FROM {t}_readings_errors ORDER BY ts_us",
                       len(big))
    assert [json.loads(bytes.fromhex(e[1])) for e in errors] == \
        [{"value": v, "unit": "C"} for v in values if v >= 1000]  # as published
    expected = {"sqlite": f"SQLite: value {t} too large", "mariadb": f"CONSTRAINT `{t}_small` failed",
                "postgresql": f'violates check constraint "{t}_small"'}[target.kind]
    assert all(expected in e[0] for e in errors), errors
    state = wait_state(b, "out", "up")
    deadline = time.monotonic() + 30
    while state["lag"] > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        state = exporters(b)["out"]
    assert state["rows"] == 41 and state["error_rows"] == 4 and state["refused_rows"] == 4, state
    assert state["errors"] == 0 and state["lag"] == 0, state
    b.await_log("the database refused")


REFUSE_SEVENTHS = {
    "sqlite": "CREATE TRIGGER {t}_sevenths BEFORE INSERT ON {t}_readings "
              "WHEN CAST(NEW.value AS INTEGER) % 7 = 3 BEGIN SELECT RAISE(ABORT, 'a seventh'); END",
    "mariadb": "ALTER TABLE {t}_readings ADD CONSTRAINT {t}_sevenths CHECK (MOD(value, 7) <> 3)",
    "postgresql": "ALTER TABLE {t}_readings ADD CONSTRAINT {t}_sevenths CHECK (value::bigint % 7 <> 3)",
}


def test_kill_9_while_refused_rows_are_sorted_out_loses_and_duplicates_nothing(broker_factory, target, client):
    """Every batch of the stream holds refused rows (a seventh of them), so
    the kills land while the exporter tries halves and writes refused rows
    to the error table: after the restarts every acknowledged reading is in
    the table or in the error table, once."""
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t, extra=["exporter_batch_size 50"])
    client(b, "p", V5).publish("sensors/r1/temp", json.dumps({"value": -1, "unit": "C"}), qos=1)
    wait_rows(target, f"SELECT 1 FROM {t}_readings", 1)
    execute(target, REFUSE_SEVENTHS[target.kind].format(t=t))
    acked = stream_with_kills(b, lambda i: wait_rows(target, f"SELECT 1 FROM {t}_readings_errors", 1 + i))
    good = {n for n in acked if n % 7 != 3}
    refused = acked - good
    values = [int(float(r[0])) for r in wait_rows(target, f"SELECT value FROM {t}_readings", 1 + len(good), 60)]
    assert len(values) == len(set(values)), "duplicated rows"
    assert good <= set(values), f"missing: {sorted(good - set(values))[:10]}"
    assert not {v for v in values if v % 7 == 3}, "a refused row in the table"
    payload_hex = {"sqlite": "hex(payload)", "mariadb": "HEX(payload)", "postgresql": "encode(payload, 'hex')"}
    errors = wait_rows(target, f"SELECT {payload_hex[target.kind]} FROM {t}_readings_errors", len(refused), 60)
    in_errors = [json.loads(bytes.fromhex(e[0]))["value"] for e in errors]
    assert len(in_errors) == len(set(in_errors)), "duplicated error rows"
    assert refused <= set(in_errors), f"missing from the error table: {sorted(refused - set(in_errors))[:10]}"


def test_a_route_that_gains_a_field_adds_the_column(broker_factory, target, client):
    """The configuration changed: the route keeps a field more. Its table,
    made for the old route, gets the column; rows from before keep NULL."""
    t = table_prefix(target)
    wide = ROUTES[0].format(t=t)
    narrow = wide.replace("fields=value,unit:text", "fields=value")
    b = exporter_broker(broker_factory, target, t, routes=[narrow] + ROUTES[1:])
    client(b, "p", V5).publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    wait_rows(target, f"SELECT value FROM {t}_readings", 1)
    assert b.stop() == 0
    # The same store and exporter, the route with a field more (fields=value,unit:text).
    b.conf_path.write_text(b.conf_path.read_text().replace(narrow, wide))
    b.start()
    client(b, "p2", V5).publish("sensors/r1/temp", json.dumps({"value": 2, "unit": "K"}), qos=1)
    wait_rows(target, f"SELECT value FROM {t}_readings", 2)
    rows = target.query(f"SELECT value, unit FROM {t}_readings ORDER BY ts_us")
    assert [(int(float(v)), u) for v, u in rows] in ([(1, None), (2, "K")], [(1, "NULL"), (2, "K")], [(1, ""), (2, "K")])
    assert exporters(b)["out"]["error_rows"] == 0


def test_a_row_a_unique_index_of_the_users_refuses_is_not_dropped(broker_factory, target, client):
    """The writes ignore a row whose message key is there already (a replay).
    They ignored a conflict on any unique index, so a row a unique index of
    the user's refused vanished without a word (INSERT OR IGNORE, ON CONFLICT
    DO NOTHING, ON DUPLICATE KEY UPDATE). It is a refusal: to the error table."""
    check_unique_index(broker_factory, target, client)


def test_mariadb_without_the_bulk_protocol_a_unique_index_refuses_too(broker_factory, mariadb, tmp_path, client):
    """Multi-row INSERT text, as a MySQL server gets: on a server that is not
    in strict mode, MariaDB would turn the refusal into a warning and change
    the other row; strata's sessions are strict."""
    target = ServerTarget(mariadb, "mariadb", tmp_path)
    target.store_dir = tmp_path
    check_unique_index(broker_factory, target, client, extra=["exporter_option bulk off"])


def check_unique_index(broker_factory, target, client, extra=()):
    t = table_prefix(target)
    if target.kind == "mariadb":  # a server not in strict mode: strata's sessions are, whatever the default
        target.server.sql("SET GLOBAL sql_mode = ''")
    try:
        b = exporter_broker(broker_factory, target, t, extra=extra)
        pub = client(b, "p", V5)
        pub.publish("sensors/r1/temp", json.dumps({"value": 0, "unit": "C"}), qos=1)
        wait_rows(target, f"SELECT 1 FROM {t}_readings", 1)  # connected: the session has its sql_mode
    finally:
        if target.kind == "mariadb":
            target.server.sql("SET GLOBAL sql_mode = DEFAULT")
    execute(target, f"CREATE UNIQUE INDEX {t}_one_value ON {t}_readings (value)")
    for v in (1, 2, 1, 3):
        pub.publish("sensors/r1/temp", json.dumps({"value": v, "unit": "C"}), qos=1)
    rows = wait_rows(target, f"SELECT value FROM {t}_readings ORDER BY ts_us", 4)
    assert [int(float(r[0])) for r in rows] == [0, 1, 2, 3]
    [(reason,)] = wait_rows(target, f"SELECT reason FROM {t}_readings_errors", 1)
    expected = {"sqlite": f"SQLite: UNIQUE constraint failed: {t}_readings.value",
                "mariadb": "MariaDB: the row duplicates another on a unique key of the table other than the "
                           "message's key (topic_id, ts_us, seq)",
                "postgresql": f'PostgreSQL: duplicate key value violates unique constraint "{t}_one_value"'}
    assert reason.startswith(expected[target.kind]), reason
    state = wait_state(b, "out", "up")
    assert state["error_rows"] == 1 and state["refused_rows"] == 1, state
    assert target.query(f"SELECT DISTINCT topic_id > 0 FROM {t}_readings") in ([(1,)], [("1",)], [("t",)])


@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_a_column_the_database_does_not_let_strata_add_sends_the_rows_to_the_error_table(broker_factory, kind,
                                                                                         request, tmp_path, client):
    """The route gained a field, but strata's user may not change the table:
    its rows go to the error table saying why, instead of a retry forever."""
    target = ServerTarget(request.getfixturevalue(kind), kind, tmp_path)
    target.store_dir = tmp_path
    t = table_prefix(target)
    if kind == "postgresql":  # a table of another owner, into which strata may write
        target.server.sql(f"CREATE TABLE {t}_readings (topic_id bigint NOT NULL, ts_us bigint NOT NULL, "
                          "seq bigint NOT NULL, ts timestamptz NOT NULL, topic text NOT NULL, client_id text, "
                          "qos smallint, retain boolean, room text, kind text, value double precision, "
                          f"PRIMARY KEY (topic_id, ts_us, seq)); GRANT ALL ON {t}_readings TO strata")
        why = "must be owner of table"
    else:
        target.server.sql("REVOKE ALTER ON iot.* FROM 'strata'@'127.0.0.1'")
        why = "ALTER command denied"
        execute(target, f"CREATE TABLE {t}_readings (topic_id BIGINT UNSIGNED NOT NULL, ts_us BIGINT UNSIGNED "
                        "NOT NULL, seq INT UNSIGNED NOT NULL, ts DATETIME(6) NOT NULL, topic TEXT NOT NULL, "
                        "client_id TEXT, qos TINYINT, `retain` BOOLEAN, room LONGTEXT, kind LONGTEXT, value DOUBLE, "
                        "PRIMARY KEY (topic_id, ts_us, seq))")
    try:
        b = exporter_broker(broker_factory, target, t)
        pub = client(b, "p", V5)
        pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
        pub.publish("logs/app", "still exported", qos=1)
        errors = wait_rows(target, f"SELECT reason FROM {t}_readings_errors", 1)
        assert f"has no column unit and it cannot be added: " in errors[0][0] and why in errors[0][0], errors
        wait_rows(target, f"SELECT 1 FROM {t}_logs", 1)
        state = wait_state(b, "out", "up")
        assert state["error_rows"] == 1 and state["errors"] == 0, state
        assert target.query(f"SELECT 1 FROM {t}_readings") == []
    finally:
        if kind == "mariadb":
            target.server.sql("GRANT ALTER ON iot.* TO 'strata'@'127.0.0.1'")


def test_the_longest_topics_client_ids_and_text_are_stored_whole(broker_factory, target, client):
    """MQTT strings go up to 65,535 bytes and payloads far beyond: a column too
    narrow for one would fail its batch, and every batch after it, forever."""
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t)
    client_id = "c" * 5000
    topic = "logs/" + "x" * 60000
    text = "ü" * 100_000  # 200 kB of UTF-8
    pub = client(b, client_id, V5)
    pub.publish(topic, text.encode(), qos=1)
    length = {"sqlite": "length", "mariadb": "CHAR_LENGTH", "postgresql": "char_length"}[target.kind]
    rows = wait_rows(target, f"SELECT {length}(topic), {length}(client_id), {length}(payload) FROM {t}_logs", 1)
    assert [int(v) for v in rows[0]] == [len(topic), len(client_id), len(text)]
    assert exporters(b)["out"]["error_rows"] == 0


def test_database_outage_loses_and_duplicates_nothing(broker_factory, target):
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t)
    stop, acked = threading.Event(), set()
    pub = threading.Thread(target=publish_stream, args=(b, stop, acked))
    pub.start()
    try:
        wait_rows(target, f"SELECT 1 FROM {t}_readings", 20)
        with target.outage():
            deadline = time.monotonic() + 10
            seen_retrying = False
            while time.monotonic() < deadline:
                seen_retrying = seen_retrying or exporters(b)["out"]["state"] == "retrying"
                time.sleep(0.2)
            assert seen_retrying, exporters(b)
            lag = exporters(b)["out"]["lag"]
            assert lag > 0  # the stream went on; the rows wait in the store
        time.sleep(1)
    finally:
        stop.set()
        pub.join(30)
    b.await_log(f"Exporter out ({target.kind}):")
    b.await_log("retrying")
    values = [int(float(r[0])) for r in wait_rows(target, f"SELECT value FROM {t}_readings", len(acked), timeout=60)]
    assert len(values) == len(set(values)), "duplicated rows"
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"
    assert exporters(b)["out"]["state"] == "up"


def test_kill_9_mid_export_loses_and_duplicates_nothing(broker_factory, target):
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t, extra=["exporter_batch_size 50"])
    acked = stream_with_kills(b, lambda _: wait_rows(target, f"SELECT 1 FROM {t}_readings", 10))
    values = [int(float(r[0])) for r in wait_rows(target, f"SELECT value FROM {t}_readings", len(acked), timeout=60)]
    assert len(values) == len(set(values)), "duplicated rows"
    assert acked <= set(values), f"missing: {sorted(acked - set(values))[:10]}"


def test_messages_purged_before_export_are_skipped_and_counted(broker_factory, target, client):
    """Messages deleted (purge or retention) before the exporter read them are
    counted as expired and logged; the rest arrive, in order."""
    if target.kind != "sqlite":
        pytest.skip("the reader is the same for every exporter: SQLite's lock is the quickest outage")
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t)
    pub = client(b, "p", V5)
    pub.publish("sensors/r0/temp", json.dumps({"value": -1, "unit": "C"}), qos=1)
    wait_rows(target, f"SELECT 1 FROM {t}_readings", 1)
    with target.outage():
        # Interleaved topics, so that the kept messages lie between purged ones.
        for i in range(40):
            pub.publish(f"sensors/r{1 + i % 2}/temp", json.dumps({"value": i, "unit": "C"}), qos=1)
        wait_state(b, "out", "retrying", timeout=30)
        pub.disconnect()
        # Stopped, so that no batch read ahead before the purge is in hand.
        assert b.stop() == 0
        p = subprocess.run([str(STRATA_BIN), "purge", "-c", str(b.conf_path), "--topic", "sensors/r1/#",
                            "--before", "2100-01-01T00:00:00Z"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and json.loads(p.stdout)["deleted"] == 20, p.stderr
    b.start()
    rows = wait_rows(target, f"SELECT value FROM {t}_readings ORDER BY ts_us, seq", 21)
    assert [int(float(r[0])) for r in rows] == [-1] + list(range(1, 40, 2))
    state = wait_state(b, "out", "up")
    assert state["expired"] == 20 and state["lag"] == 0, state
    b.await_log("20 messages were deleted (retention or purge) before they could be exported")


def test_wrong_password_is_reported_and_retried(broker_factory, target, client):
    if target.kind == "sqlite":
        pytest.skip("SQLite has no password")
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t, password_ok=False)
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    state = wait_state(b, "out", "retrying")
    assert "cannot connect" in state["last_error"] and state["lag"] >= 1, state
    b.await_log("cannot connect")
    assert b.alive()
    assert target.query(f"SELECT 1 FROM {t}_readings") == []


def test_sighup_reads_the_password_file_again(broker_factory, target, client):
    """A wrong password: retried, never fatal; the file put right and SIGHUP
    sent, the exporter restarts with the new password and exports what waited."""
    if target.kind == "sqlite":
        pytest.skip("SQLite has no password")
    t = table_prefix(target)
    b = exporter_broker(broker_factory, target, t, password_ok=False)
    pub = client(b, "p", V5)
    pub.publish("sensors/r1/temp", json.dumps({"value": 1, "unit": "C"}), qos=1)
    wait_state(b, "out", "retrying")
    target.bad_password_file.write_text(PASSWORD + "\n")
    b.signal(signal.SIGHUP)
    assert [int(float(r[0])) for r in wait_rows(target, f"SELECT value FROM {t}_readings", 1)] == [1]
    assert wait_state(b, "out", "up")["lag"] == 0
    b.await_log("Exporter out: its password changed; restarted at log position")
