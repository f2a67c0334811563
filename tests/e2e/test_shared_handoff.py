"""Shared subscriptions when a member's session ends (MQTT 5 section 4.8.2):
"If the Client's Session terminates before the Client reconnects, the Server
SHOULD send the Application Message to another Client that is subscribed to
the same Shared Subscription." Messages a member had in flight without an
acknowledgement, or queued while it was offline, go to another member of the
group when its session ends, once each.

Every test sets `threads` (a strata key), with 2 so that members, publisher
and the group's owner are spread over workers.
"""
import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from rawmqtt import PUBLISH, open_client, sub_options

pytestmark = pytest.mark.strata_only

FILTER = "$share/g/handoff/#"


def _conf(threads, tmp_path, store):
    lines = [f"threads {threads}", "publisher_affinity false"]
    if store == "history":
        lines += ["storage rocksdb", f"storage_path {tmp_path / 'data'}"]
    return lines


def _receive_all(raw, n):
    """The PUBLISH packets a raw client got, acknowledging none."""
    got = []
    for _ in range(n):
        p = raw.recv_packet(0.5)
        if p is None:
            break
        assert p.type == PUBLISH, p
        got.append(p)
    return got


@pytest.mark.parametrize("qos", [1, 2])
@pytest.mark.parametrize("threads", [1, 2])
def test_messages_a_leaving_member_did_not_acknowledge_go_to_another(broker_factory, client, tmp_path, threads, qos):
    b = broker_factory(conf_lines=_conf(threads, tmp_path, "none"))
    # A member that receives and never acknowledges; its session ends when it goes (expiry 0).
    silent = open_client(b, "member-silent", V5)
    assert silent.subscribe(1, [(FILTER, sub_options(qos))]).reason_codes == [qos]
    keen = client(b, "member-keen", V5)
    assert keen.subscribe(FILTER, qos) == [qos]
    pub = client(b, "handoff-pub", V5)
    count = 20
    want = sorted(f"m{i}".encode() for i in range(count))
    for i in range(count):
        pub.publish(f"handoff/{i % 3}", f"m{i}".encode(), qos)

    # Each message reaches one member; the silent one holds its share unacknowledged.
    held = _receive_all(silent, count)
    assert 0 < len(held) < count, f"round robin gave the silent member {len(held)} of {count}"
    first = keen.expect_exactly(count - len(held), quiet=0.3)
    assert sorted([p.payload for p in held] + [m.payload for m in first]) == want

    silent.disconnect()
    b.await_log("Client member-silent disconnected.")
    handed = keen.expect_exactly(len(held), quiet=0.5)
    assert sorted(m.payload for m in handed) == sorted(p.payload for p in held), \
        "the leaving member's unacknowledged messages must go to the other member, once each"
    assert all(m.qos == qos for m in handed), handed


@pytest.mark.parametrize("store", ["none", "history"])
@pytest.mark.parametrize("qos", [1, 2])
def test_queued_messages_of_an_expired_member_go_to_another(broker_factory, client, tmp_path, qos, store):
    b = broker_factory(conf_lines=_conf(2, tmp_path, store))
    short = client(b, "member-short", V5, clean=False, session_expiry=1)
    assert short.subscribe(FILTER, qos) == [qos]
    lasting = client(b, "member-lasting", V5, clean=False, session_expiry=300)
    assert lasting.subscribe(FILTER, qos) == [qos]
    short.go_offline()
    lasting.go_offline()
    pub = client(b, "handoff-pub", V5)
    count = 10
    for i in range(count):
        pub.publish("handoff/q", f"q{i}".encode(), qos)
    # Nobody online: the group queues for its members in turn, half each.
    b.await_log("Expiring client member-short.")
    lasting.reconnect(clean=False)
    got = lasting.expect_exactly(count, quiet=0.5)
    assert sorted(m.payload for m in got) == sorted(f"q{i}".encode() for i in range(count)), \
        "the expired member's queued messages must go to the other member"


@pytest.mark.parametrize("qos", [1, 2])
def test_queued_messages_restored_after_kill_go_to_another_when_member_expires(broker_factory, client, tmp_path, qos):
    # The store does not say which group chose a member: after a restart the
    # member's shared subscription that matches the topic stands for it.
    b = broker_factory(conf_lines=_conf(2, tmp_path, "history"))
    short = client(b, "member-short", V5, clean=False, session_expiry=6)
    assert short.subscribe(FILTER, qos) == [qos]
    lasting = client(b, "member-lasting", V5, clean=False, session_expiry=300)
    assert lasting.subscribe(FILTER, qos) == [qos]
    short.go_offline()
    lasting.go_offline()
    pub = client(b, "handoff-pub", V5)
    count = 10
    for i in range(count):
        pub.publish("handoff/k", f"k{i}".encode(), qos)
    pub.close()
    assert "Expiring client member-short." not in b.log(), "expired before the kill: raise its expiry"
    b.proc.kill()
    b.proc.wait()
    b.start()
    b.await_log("Expiring client member-short.", timeout=15)
    back = client(b, "member-lasting", V5, clean=False, session_expiry=300)  # the restart moved the port
    got = back.expect_exactly(count, quiet=0.5)
    assert sorted(m.payload for m in got) == sorted(f"k{i}".encode() for i in range(count))
