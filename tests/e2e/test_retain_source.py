"""check_retain_source, as in Mosquitto (on by default): a retained message is
sent to a new subscriber only while its publisher may still write to its
topic. The publisher is kept with the message, in memory and in the store,
so a restart does not forget it. Withheld is not deleted: when the publisher
may write again, the message is sent again.

These tests run against Mosquitto too (STRATA_TEST_BROKER=mosquitto), with
`check_retain_source true` written out: Debian's Mosquitto 2.0.11 does not
check unless told, although its man page gives true as the default. strata
checks by default (docs/mosquitto-compat.md); the two strata_only tests show
that, and the plugin interface."""
import signal
import time

import pytest

from clients import V311, V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from test_auth import NO_BACKOFF, passwd, wait_log
from test_plugins import TEST_PLUGIN, plugin_lines

GRANTED = """
user alice
topic readwrite sensors/#

user bob
topic read sensors/#
"""
# Each reloaded file lets every client read a probe topic of its own, so that
# a client can tell which file its worker thread has in force (in_force).
# alice may only read now.
REVOKED_PROBE = "probe/revoked/#"
REVOKED = f"pattern read {REVOKED_PROBE}\n" + GRANTED.replace("topic readwrite sensors/#", "topic read sensors/#")
# Both again.
REGRANTED_PROBE = "probe/regranted/#"
REGRANTED = f"pattern read {REGRANTED_PROBE}\n" + GRANTED


@pytest.fixture
def users(tmp_path):
    f = tmp_path / "passwords"
    passwd("-c", "-b", f, "alice", "alice-pw")
    passwd("-b", f, "bob", "bob-pw")
    return f


def start(broker_factory, users, tmp_path, *extra, acl_text=GRANTED, check="check_retain_source true"):
    acl = tmp_path / "acl"
    acl.write_text(acl_text)
    b = broker_factory(conf_lines=[f"password_file {users}", f"acl_file {acl}", NO_BACKOFF, check, *extra])
    b.acl_path = acl
    return b


def login(client, b, name, client_id, version=V5, **kw):
    return client(b, client_id, version, username=name, password=f"{name}-pw", **kw)


def reload_acl(b, text):
    before = b.log().count("Reloading config.")
    b.acl_path.write_text(text)
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while b.log().count("Reloading config.") == before:
        assert time.monotonic() < deadline, f"no reload logged:\n{b.log()[-3000:]}"
        time.sleep(0.05)


def in_force(conn, probe, attempts=50):
    """Waits until the ACL file with `probe` is in force on `conn`'s worker
    thread: strata's workers take a reloaded file a moment after the reload
    line, each at its own time. Its probe topic, readable under that file
    only, is granted then. (Mosquitto grants every SUBSCRIBE, and applies a
    reload before it reads another packet.)"""
    for _ in range(attempts):
        if conn.subscribe(probe, 1) == [1]:
            return conn
        time.sleep(0.05)
    raise AssertionError(f"the ACL file with {probe} was never in force")


def subscribe_under_new_acl(client, b, topic, probe):
    """A new subscriber of `topic` whose worker has the reloaded file with `probe` in force."""
    bob = in_force(login(client, b, "bob", f"bob-late-{time.monotonic_ns()}"), probe)
    assert bob.subscribe(topic, 1) == [1]
    return bob


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_a_retained_message_is_withheld_while_its_publisher_may_not_write(broker_factory, users, tmp_path, client,
                                                                          version):
    b = start(broker_factory, users, tmp_path)
    alice = login(client, b, "alice", "alice-pub", version)
    alice.publish("sensors/1/temp", b"21.5", qos=1, retain=True)
    bob = login(client, b, "bob", "bob-1")
    bob.subscribe("sensors/+/temp", 1)
    assert [m.payload for m in bob.expect_exactly(1)] == [b"21.5"]  # bob may not write: it is alice who counts

    reload_acl(b, REVOKED)
    late = subscribe_under_new_acl(client, b, "sensors/+/temp", REVOKED_PROBE)
    late.expect_none(0.5)
    # alice's new publish is refused now, and does not replace the kept one.
    in_force(alice, REVOKED_PROBE)
    alice.publish("sensors/1/temp", b"refused", qos=1, retain=True)
    bob.expect_none(0.3)

    reload_acl(b, REGRANTED)
    again = subscribe_under_new_acl(client, b, "sensors/+/temp", REGRANTED_PROBE)
    got = again.expect_exactly(1)
    assert [(m.payload, m.retain) for m in got] == [(b"21.5", True)]  # withheld, not deleted


def _subscriber_after_revocation(broker_factory, users, tmp_path, client, check):
    """alice retains a message, loses her write access by a reload, then a
    new subscriber asks for it: that subscriber."""
    b = start(broker_factory, users, tmp_path, check=check)
    alice = login(client, b, "alice", "alice-pub")
    alice.publish("sensors/1/temp", b"21.5", qos=1, retain=True)
    reload_acl(b, REVOKED)
    return subscribe_under_new_acl(client, b, "sensors/+/temp", REVOKED_PROBE)


def test_check_retain_source_false_sends_it_anyway(broker_factory, users, tmp_path, client):
    late = _subscriber_after_revocation(broker_factory, users, tmp_path, client, "check_retain_source false")
    assert [m.payload for m in late.expect_exactly(1)] == [b"21.5"]


def test_a_retained_will_is_checked_as_its_client(broker_factory, users, tmp_path, client):
    b = start(broker_factory, users, tmp_path)
    dying = login(client, b, "alice", "alice-dev", V311,
                  will=dict(topic="sensors/2/state", payload=b"offline", qos=1, retain=True))
    dying.drop()
    watcher = login(client, b, "bob", "bob-1")
    watcher.subscribe("sensors/2/state", 1)
    assert [m.payload for m in watcher.expect_exactly(1)] == [b"offline"]
    reload_acl(b, REVOKED)
    late = subscribe_under_new_acl(client, b, "sensors/2/state", REVOKED_PROBE)
    late.expect_none(0.5)


def test_the_publisher_is_kept_across_a_restart(broker_factory, users, tmp_path, client):
    store = tmp_path / "store"
    store.mkdir()
    b = start(broker_factory, users, tmp_path, "persistence true", f"persistence_location {store}/")
    alice = login(client, b, "alice", "alice-pub")
    alice.publish("sensors/1/temp", b"21.5", qos=1, retain=True)
    alice.disconnect()
    assert b.stop() == 0
    b.acl_path.write_text(REVOKED)
    b.start()
    late = login(client, b, "bob", "bob-after-restart")
    assert late.subscribe("sensors/+/temp", 1) == [1]
    late.expect_none(0.5)
    reload_acl(b, REGRANTED)
    again = subscribe_under_new_acl(client, b, "sensors/+/temp", REGRANTED_PROBE)
    assert [m.payload for m in again.expect_exactly(1)] == [b"21.5"]


@pytest.mark.strata_only  # Mosquitto 2.0.11 sends it: its default is false in practice
def test_strata_checks_by_default(broker_factory, users, tmp_path, client):
    late = _subscriber_after_revocation(broker_factory, users, tmp_path, client, "# check_retain_source: the default")
    late.expect_none(0.5)


@pytest.mark.strata_only  # strata's plugin interface
def test_plugins_are_asked_as_the_publisher_who_may_be_gone(broker_factory, users, tmp_path, client):
    denied = tmp_path / "denied-ids"
    denied.write_text("")
    b = start(broker_factory, users, tmp_path,
              *plugin_lines(TEST_PLUGIN, deny_write_ids_file=denied), acl_text=GRANTED + "topic read probe/#\n")
    alice = login(client, b, "alice", "alice-pub")
    alice.publish("sensors/1/temp", b"21.5", qos=1, retain=True)
    alice.disconnect()
    first = login(client, b, "bob", "bob-1")
    first.subscribe("sensors/+/temp", 1)
    assert [m.payload for m in first.expect_exactly(1)] == [b"21.5"]
    # The backend withdraws alice's write access; she is offline by now.
    denied.write_text("alice-pub\n")
    late = login(client, b, "bob", "bob-2")
    late.subscribe("sensors/+/temp", 1)
    late.expect_none(0.5)
    wait_log(b, "acl write by alice-pub (connection 0, protocol 0) to sensors/1/temp")
