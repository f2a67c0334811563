"""Routing across worker threads (docs/architecture.md): per-worker
subscription tries, messages handed between workers, sessions homed on one
worker with sockets moved to it, shared-subscription owners, retained
replicas.

Every test sets `threads` explicitly (CI machines may have one core). The
listener hands accepted connections to the workers round robin, so clients
connected one after the other land on different workers.
"""
import threading
import time

import pytest

from clients import V311, V5, TIMEOUT, collect
from clients import client  # noqa: F401  (fixture)
from rawmqtt import (CONNACK, DISCONNECT, PUBLISH, PUBACK, ConnectionClosed, RawClient,
                     assert_broker_healthy, open_client)
from rawmqtt import connect as raw_connect, disconnect as raw_disconnect, pingreq as raw_pingreq
from rawmqtt import publish as raw_publish, subscribe as raw_subscribe

# `threads` is a strata key
pytestmark = pytest.mark.strata_only

THREADS4 = ["threads 4", "publisher_affinity false"]


def _threads(n):
    # The publishers stay where they were accepted (no publisher_affinity
    # moves): these tests are about messages crossing between workers.
    return [f"threads {n}", "publisher_affinity false"]


def _payload(pub, seq):
    return f"{pub}:{seq}".encode()


def _parse(payload):
    pub, seq = payload.decode().split(":")
    return pub, int(seq)


def _drain_into(c, out, until, timeout):
    """Move c's received messages into `out` until until(out) or the timeout."""
    deadline = time.monotonic() + timeout
    while not until(out) and time.monotonic() < deadline:
        try:
            out.append(c.messages.get(timeout=0.05))
        except Exception:
            pass
    return until(out)


def _check_stream(name, msgs, publishers, count, *, complete, qos_expected):
    """Per publisher: payload sequence numbers strictly increasing (publish order,
    no duplicate: on a steady connection nothing is ever resent), and all of
    them when `complete`."""
    per_pub = {p: [] for p in publishers}
    for m in msgs:
        pub, seq = _parse(m.payload)
        assert pub in per_pub, f"{name}: message from unknown publisher {m!r}"
        assert m.qos == qos_expected[pub], f"{name}: {m!r} delivered at QoS {m.qos}, expected {qos_expected[pub]}"
        if per_pub[pub] and seq <= per_pub[pub][-1]:
            raise AssertionError(f"{name}: from {pub}, seq {seq} after {per_pub[pub][-1]} "
                                 f"(dup={m.dup}, qos={m.qos}): out of order or duplicated")
        per_pub[pub].append(seq)
    if complete:
        for pub, seqs in per_pub.items():
            assert seqs == list(range(count)), (
                f"{name}: from {pub} got {len(seqs)} of {count}; missing "
                f"{sorted(set(range(count)) - set(seqs))[:20]}")


# ------------------------------------------------------------------ fan-in / fan-out

@pytest.mark.parametrize("threads", [4, 1], ids=["threads4", "threads1"])
def test_fan_in_fan_out_across_workers(broker_factory, client, threads):
    b = broker_factory(conf_lines=_threads(threads) + ["max_queued_messages 0"])
    count = 200
    npub, nsub = 8, 8
    # Subscribers first (consecutive workers), mix of versions and QoS 0/1/2.
    subs = []
    for i in range(nsub):
        version = V5 if i % 2 else V311
        s = client(b, f"fan-sub-{i}", version)
        sub_qos = i % 3
        assert s.subscribe("mc/fan/+", sub_qos) == [sub_qos]
        subs.append((s, sub_qos))
    pubs = []
    for j in range(npub):
        version = V311 if j % 2 else V5
        pubs.append((client(b, f"fan-pub-{j}", version), 1 + j % 2))
    names = [f"p{j}" for j in range(npub)]

    # All publishers at once, each from its own thread, each in order.
    errors = []

    def run(j):
        try:
            p, qos = pubs[j]
            infos = [p.publish(f"mc/fan/{j}", _payload(names[j], k), qos, wait=False) for k in range(count)]
            deadline = time.monotonic() + 10
            for info in infos:
                info.wait_for_publish(max(0.01, deadline - time.monotonic()))
                assert info.is_published(), f"publisher {j}: message {info.mid} not acknowledged"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads_ = [threading.Thread(target=run, args=(j,)) for j in range(npub)]
    for t in threads_:
        t.start()
    for t in threads_:
        t.join(12)
    assert not errors, errors

    total = npub * count
    deadline = time.monotonic() + 8  # for all subscribers together
    for i, (s, sub_qos) in enumerate(subs):
        got = []
        _drain_into(s, got, lambda out: len(out) >= total, timeout=max(0.0, deadline - time.monotonic()))
        got += s.drain(0.2)
        qos_expected = {names[j]: min(pubs[j][1], sub_qos) for j in range(npub)}
        # QoS 0 may in principle lose messages; QoS 1 and 2 must not. None may be
        # repeated: the connections stay up, so nothing is ever resent.
        _check_stream(f"subscriber {i} (v{s.version}, qos {sub_qos})", got, names, count,
                      complete=sub_qos > 0, qos_expected=qos_expected)
    assert_broker_healthy(b)


# ------------------------------------------------------------------ persistent sessions

def _persistent(client, b, cid, version):
    if version == V5:
        return client(b, cid, V5, clean=False, session_expiry=300)
    return client(b, cid, V311, clean=False)


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_persistent_session_reconnects_across_workers(broker_factory, client, version):
    b = broker_factory(conf_lines=THREADS4)
    sub = _persistent(client, b, "roamer", version)
    assert sub.connack.session_present is False
    assert sub.subscribe("mc/roam/#", 1) == [1]
    # publishers on other workers
    pubs = [client(b, f"roam-pub-{k}", V5 if k % 2 else V311) for k in range(3)]
    rounds = 12
    seen = set()

    def expect_payloads(want, what):
        # paho acknowledges a message after handing it over, so the PUBACK of the
        # last one may lose the race with the next DISCONNECT: the broker then
        # sends it again with DUP after the reconnect, which is fine.
        want = set(want)
        got = []
        deadline = time.monotonic() + TIMEOUT
        while want - {m.payload for m in got} and time.monotonic() < deadline:
            try:
                got.append(sub.messages.get(timeout=0.05))
            except Exception:
                pass
        got += sub.drain(0.05)
        fresh = [m for m in got if not (m.dup and m.payload in seen)]
        assert sorted(m.payload for m in fresh) == sorted(want), \
            f"{what}: expected {sorted(want)}, got {[(m.payload, m.qos, m.dup) for m in got]}"
        assert all(m.qos == 1 for m in fresh), f"{what}: {got}"
        seen.update(want)

    for r in range(rounds):
        sub.disconnect()
        # published while the session is offline, from every publisher
        for k, p in enumerate(pubs):
            p.publish(f"mc/roam/{k}", f"{r}:{k}".encode(), 1)
        # each new connection is accepted on the next worker; the session stays home
        ack = sub.reconnect()
        assert ack.session_present is True, f"round {r}: {ack!r}"
        expect_payloads([f"{r}:{k}".encode() for k in range(len(pubs))], f"round {r} (offline messages)")
        # the subscription still delivers live messages
        pubs[r % len(pubs)].publish("mc/roam/live", f"live{r}".encode(), 1)
        expect_payloads([f"live{r}".encode()], f"round {r} (live message)")
    sub.disconnect()


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_no_loss_while_reconnecting_under_publish_stream(broker_factory, client, version):
    b = broker_factory(conf_lines=THREADS4)
    sub = _persistent(client, b, "stream-sub", version)
    assert sub.subscribe("mc/stream", 1) == [1]
    pub = client(b, "stream-pub", V5 if version == V311 else V311)

    sent = []
    stop = threading.Event()
    errors = []

    def publish_loop():
        try:
            deadline = time.monotonic() + 10
            seq = 0
            infos = []
            while not stop.is_set() and time.monotonic() < deadline and seq < 5000:
                infos.append(pub.publish("mc/stream", _payload("s", seq), 1, wait=False))
                sent.append(seq)
                seq += 1
                time.sleep(0.002)
            for info in infos:
                info.wait_for_publish(max(0.01, deadline + 3 - time.monotonic()))
                assert info.is_published(), f"publish {info.mid} not acknowledged"
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=publish_loop)
    t.start()
    received = []
    try:
        for r in range(10):
            time.sleep(0.08)
            # alternately a clean DISCONNECT and a dropped TCP connection (the
            # broker may then still hold the old connection: a takeover)
            if r % 2:
                sub.drop()
            else:
                sub.disconnect()
            time.sleep(0.03)
            ack = sub.reconnect()
            assert ack.session_present is True, f"reconnect {r}: {ack!r}"
    finally:
        time.sleep(0.1)
        stop.set()
        t.join(15)
    assert not errors, errors
    assert len(sent) > 50, f"publisher only sent {len(sent)} messages"
    want = set(sent)

    def all_seen(out):
        return want <= {_parse(m.payload)[1] for m in out}

    ok = _drain_into(sub, received, all_seen, timeout=8)
    seen = {_parse(m.payload)[1] for m in received}
    assert ok, f"{len(want - seen)} of {len(want)} messages never delivered: {sorted(want - seen)[:30]}"
    # at least once; a repeat must carry DUP (a redelivery after reconnect)
    counts = {}
    for m in received:
        seq = _parse(m.payload)[1]
        counts[seq] = counts.get(seq, 0) + 1
        if counts[seq] > 1:
            assert m.dup, f"message {seq} delivered again without DUP: {m!r}"
    sub.disconnect()


def test_pipelined_packets_survive_the_move_to_the_home_worker(broker_factory):
    # The CONNECT of a session homed elsewhere moves the socket to the home
    # worker, with the bytes already read replayed there: packets sent right
    # behind the CONNECT (in the same segment, or half of one) must not be lost.
    b = broker_factory(conf_lines=THREADS4)
    home = open_client(b, "pipeliner", V5, props={"SessionExpiryInterval": 300})
    home.disconnect()
    for attempt in range(8):
        c = RawClient(b, version=V5)
        try:
            topic = f"mc/pipe/{attempt}"
            burst = (raw_connect("pipeliner", version=V5, clean=False, props={"SessionExpiryInterval": 300})
                     + raw_subscribe(1, [(topic, 1)], version=V5)
                     + raw_publish(topic, b"echo", qos=1, pid=2, version=V5)
                     + raw_pingreq())
            if attempt % 2:
                c.send(burst)
            else:
                # the tail arrives a moment later, cut inside a packet
                cut = len(burst) - 7
                c.send(burst[:cut])
                time.sleep(0.01)
                c.send(burst[cut:])
            pkts = c.recv_n(5, timeout=3)
            assert pkts and pkts[0].type == CONNACK and pkts[0].reason_code == 0, f"attempt {attempt}: {pkts}"
            assert pkts[0].session_present is True, f"attempt {attempt}: {pkts[0]}"
            kinds = sorted(p.name for p in pkts[1:])
            assert kinds == ["PINGRESP", "PUBACK", "PUBLISH", "SUBACK"], f"attempt {attempt}: {pkts}"
            m = [p for p in pkts if p.type == PUBLISH][0]
            assert (m.topic, m.payload) == (topic, b"echo"), m
            c.puback(m.pid)
            c.unsubscribe(3, [topic])
            c.expect(11)  # UNSUBACK
        finally:
            c.disconnect()
        # wait until the broker saw the DISCONNECT, so the next CONNECT finds the session offline
        deadline = time.monotonic() + 3
        while b.log().count("Client pipeliner disconnected") < attempt + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert_broker_healthy(b)


# ------------------------------------------------------------------ takeover

@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_takeover_across_workers(broker_factory, version):
    b = broker_factory(conf_lines=THREADS4)
    # back to back: the second connection is accepted on another worker
    for attempt in range(4):
        # both connections keep the session (v5: expiry > 0, 3.1.1: clean session 0)
        persistent = {"props": {"SessionExpiryInterval": 60}} if version == V5 else {"clean": False}
        old = open_client(b, "twin", version, **persistent)
        old.subscribe(1, [("mc/twin", 1)])
        new = open_client(b, "twin", version, **dict(persistent, clean=False))
        if version == V5:
            p = old.recv_packet(3)
            assert p is not None and p.type == DISCONNECT and p.reason_code == 0x8E, \
                f"attempt {attempt}: old connection got {p!r}, expected DISCONNECT 0x8E"
        assert old.expect_closed(3), f"attempt {attempt}: old connection still open"
        old.close()
        assert new.connack.session_present is True, new.connack
        # the new connection has the session (and its subscription)
        with RawClient(b) as pub:
            pub.connect(f"twin-pub-{attempt}", version=V5)
            pub.publish("mc/twin", b"to-new", qos=1, pid=1)
            pub.expect(PUBACK)
        m = new.expect(PUBLISH)
        assert m.payload == b"to-new", m
        new.puback(m.pid)
        # Wait until the broker has read the PUBACK and the DISCONNECT: the next
        # attempt's CONNECT comes on another socket and may otherwise take the
        # session over first, which (rightly) redelivers the unacknowledged message.
        new.send(raw_disconnect(version=version))
        assert new.expect_closed(3), f"attempt {attempt}: broker did not close after DISCONNECT"
        new.close()
    assert_broker_healthy(b)


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_disconnect_then_connect_at_once_is_not_a_takeover(broker_factory, version):
    """A client that sends DISCONNECT and at once connects again on a new
    socket (landing on another worker) ends its clean session first: what
    the old connection sent before the new CONNECT counts first. Without
    that, the new CONNECT could find the old connection still attached and
    take the session over (session present, the will published)."""
    b = broker_factory(conf_lines=_threads(2))
    # v5: session expiry 0; 3.1.1: clean session. Either ends at DISCONNECT.
    ending = {"props": {"SessionExpiryInterval": 0}} if version == V5 else {"clean": True}
    resuming = dict(ending, clean=False) if version == V5 else {"clean": True}
    will = {"topic": "mc/will", "payload": b"gone"}
    with RawClient(b) as watcher:
        watcher.connect("quick-watcher", version=V5)
        watcher.subscribe(1, [("mc/will", 0)])
        for attempt in range(100):
            old = open_client(b, "quick", version, will=will, **ending)
            old.subscribe(1, [("mc/quick", 1)])
            old.send(raw_disconnect(version=version))  # and no wait: the next CONNECT follows at once
            new = open_client(b, "quick", version, **resuming)
            assert new.connack.session_present is False, f"attempt {attempt}: {new.connack!r}"
            new.disconnect()
            old.close()
        assert watcher.recv_packet(0.5) is None, "a will was published: a session was taken over"
    assert "already connected, closing old connection" not in b.log()
    assert_broker_healthy(b)


def test_simultaneous_connects_with_one_client_id(broker_factory):
    b = broker_factory(conf_lines=THREADS4)
    n = 24
    barrier = threading.Barrier(n)
    results = [None] * n

    def attempt(i):
        version = V5 if i % 2 else V311
        try:
            c = RawClient(b, version=version, timeout=5)
        except OSError as e:
            results[i] = ("connect-error", e)
            return
        props = {"SessionExpiryInterval": 30} if (version == V5 and i % 4 == 1) else None
        try:
            barrier.wait(5)
            c.connect("crowd", version=version, clean=(i % 3 != 0), props=props, expect_connack=False)
            results[i] = ("sent", c)
        except Exception as e:  # noqa: BLE001
            results[i] = ("error", e)
            c.close()

    ts = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert all(r is not None and r[0] == "sent" for r in results), results
    clients = [r[1] for r in results]
    assert b.alive(), b.log()[-3000:]

    # Each CONNECT was accepted in turn on the session's home worker and each
    # one took over from the previous one: everybody gets a CONNACK 0, the
    # taken-over v5 connections then a DISCONNECT 0x8E, and all but one close.
    open_ones = []
    deadline = time.monotonic() + 6
    for i, c in enumerate(clients):
        pkts = []
        closed = False
        try:
            while True:
                # the last one standing stays silent: stop waiting once the others are seen
                p = c.recv_packet(max(0.05, min(1.0, deadline - time.monotonic())))
                if p is None:
                    break
                pkts.append(p)
        except ConnectionClosed:
            closed = True
        assert pkts and pkts[0].type == CONNACK and pkts[0].reason_code == 0, f"client {i}: {pkts}"
        if closed:
            if c.version == V5:
                assert [(p.type, p.reason_code) for p in pkts[1:]] == [(DISCONNECT, 0x8E)], f"client {i}: {pkts}"
            else:
                assert pkts[1:] == [], f"client {i}: {pkts}"
        else:
            assert pkts[1:] == [], f"client {i}: {pkts}"
            open_ones.append(c)
    # a silent connection may be one whose takeover is still on its way: look again
    still_open = [c for c in open_ones if not c.expect_closed(0.5)]
    assert len(still_open) == 1, f"{len(still_open)} connections with client id 'crowd' left open"
    survivor = still_open[0]
    # and it works
    survivor.subscribe(1, [("mc/crowd", 1)])
    survivor.publish("mc/crowd", b"alive", qos=1, pid=9)
    pkts = survivor.recv_n(2, timeout=3)
    assert sorted(p.type for p in pkts) == [PUBLISH, PUBACK], pkts
    m = [p for p in pkts if p.type == PUBLISH][0]
    assert m.payload == b"alive", m
    survivor.puback(m.pid)
    for c in clients:
        c.close()
    assert_broker_healthy(b)


# ------------------------------------------------------------------ shared subscriptions

def test_shared_subscription_members_on_different_workers(broker_factory, client):
    b = broker_factory(conf_lines=THREADS4)
    members = []
    for i in range(4):
        m = client(b, f"share-g-{i}", V5 if i % 2 else V311)
        assert m.subscribe("$share/g/mc/share/#", 1) == [1]
        members.append(m)
    others = []
    for i in range(2):
        m = client(b, f"share-h-{i}", V5)
        assert m.subscribe("$share/h/mc/share/#", 1) == [1]
        others.append(m)
    plain = client(b, "share-plain", V311)
    assert plain.subscribe("mc/share/#", 1) == [1]
    pubs = [client(b, "share-pub-0", V5), client(b, "share-pub-1", V311)]
    count = 100  # per publisher

    def run(j):
        infos = [pubs[j].publish(f"mc/share/{j}", _payload(f"p{j}", k), 1, wait=False) for k in range(count)]
        for info in infos:
            info.wait_for_publish(8)

    ts = [threading.Thread(target=run, args=(j,)) for j in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    total = 2 * count
    want = sorted(_payload(f"p{j}", k) for j in range(2) for k in range(count))

    got_g = collect(members, total, timeout=8, quiet=0.3)
    flat = sorted(m.payload for per in got_g for m in per)
    assert flat == want, "group g: each message must reach exactly one member " \
        f"({len(flat)} deliveries, {len(set(flat))} distinct of {total})"
    sizes = [len(per) for per in got_g]
    assert all(n > 0 for n in sizes), f"a member of group g got nothing: {sizes}"

    got_h = collect(others, total, timeout=8, quiet=0.1)
    flat_h = sorted(m.payload for per in got_h for m in per)
    assert flat_h == want, f"group h: {len(flat_h)} deliveries, {len(set(flat_h))} distinct of {total}"

    got_plain = plain.expect_exactly(total, timeout=5, quiet=0.1)
    assert sorted(m.payload for m in got_plain) == want
    assert_broker_healthy(b)


# ------------------------------------------------------------------ retained messages

def _retained_seen_by_new_subscribers(client, b, topic, n, tag):
    """n new subscribers (one per worker); returns what each got at SUBSCRIBE."""
    subs = []
    for i in range(n):
        s = client(b, f"ret-{tag}-{i}", V5 if i % 2 else V311)
        assert s.subscribe(topic, 1) == [1]
        subs.append(s)
    out = []
    for s in subs:
        got = s.drain(0.3)
        out.append(got)
        s.disconnect()
    return out


def test_retained_replicated_to_every_worker(broker_factory, client):
    b = broker_factory(conf_lines=THREADS4)
    pub = client(b, "ret-setter", V5)
    topic = "mc/ret/a"

    pub.publish(topic, b"v1", 1, retain=True)
    for i, got in enumerate(_retained_seen_by_new_subscribers(client, b, topic, 4, "set")):
        assert [(m.payload, m.retain) for m in got] == [(b"v1", True)], f"subscriber {i}: {got}"

    pub.publish(topic, b"v2", 1, retain=True)
    for i, got in enumerate(_retained_seen_by_new_subscribers(client, b, topic, 4, "replace")):
        assert [(m.payload, m.retain) for m in got] == [(b"v2", True)], f"subscriber {i}: {got}"

    pub.publish(topic, b"", 1, retain=True)  # clear [MQTT-3.3.1-6]
    for i, got in enumerate(_retained_seen_by_new_subscribers(client, b, topic, 4, "clear")):
        assert got == [], f"subscriber {i} got a cleared retained message: {got}"

    pub.publish(topic, b"v3", 1, retain=True)  # set again right after the clear
    for i, got in enumerate(_retained_seen_by_new_subscribers(client, b, "mc/ret/#", 4, "again")):
        assert [(m.payload, m.retain) for m in got] == [(b"v3", True)], f"subscriber {i}: {got}"


def test_retained_replicas_converge_after_racing_publishers(broker_factory, client):
    b = broker_factory(conf_lines=THREADS4)
    # raw publishers (one per worker) that write a whole burst at once, so that
    # every worker applies many updates of its own in one event-loop turn
    # before it sees those of the others
    letters = "abcd"
    pubs = [open_client(b, f"race-{x}", V5 if i % 2 else V311) for i, x in enumerate(letters)]
    count = 400
    try:
        for rnd in range(4):
            topic = f"mc/race/{rnd}"
            bursts = []
            for x, p in zip(letters, pubs):
                data = b"".join(raw_publish(topic, _payload(x, k), qos=0, retain=True, version=p.version)
                                for k in range(count))
                # a QoS 1 message at the end tells when the burst has been processed
                data += raw_publish("mc/race-done", b"", qos=1, pid=rnd + 1, version=p.version)
                bursts.append(data)
            barrier = threading.Barrier(len(pubs))
            errors = []

            def run(j):
                try:
                    barrier.wait(5)
                    pubs[j].send(bursts[j])
                    ack = pubs[j].expect(PUBACK, timeout=10)
                    assert ack.pid == rnd + 1, ack
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

            ts = [threading.Thread(target=run, args=(j,)) for j in range(len(pubs))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(12)
            assert not errors, errors
            seen = _retained_seen_by_new_subscribers(client, b, topic, 4, f"race{rnd}")
            payloads = [[m.payload for m in got] for got in seen]
            assert all(len(p) == 1 for p in payloads), f"round {rnd}: {payloads}"
            assert len({p[0] for p in payloads}) == 1, f"round {rnd}: replicas differ: {payloads}"
            # the newest update wins, and each publisher's updates are ordered: the
            # survivor is the last message of one of the publishers
            last = {_payload(x, count - 1) for x in letters}
            assert payloads[0][0] in last, f"round {rnd}: retained {payloads[0][0]!r}, expected one of {last}"
    finally:
        for p in pubs:
            p.close()


# ------------------------------------------------------------------ wills

@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_will_reaches_subscribers_on_every_worker(broker_factory, client, version):
    b = broker_factory(conf_lines=THREADS4)
    watchers = []
    for i in range(4):
        w = client(b, f"will-watch-{i}", V5 if i % 2 else V311)
        assert w.subscribe("mc/will/#", 1) == [1]
        watchers.append(w)
    dying = client(b, "will-dying", version,
                   will=dict(topic="mc/will/gone", payload=b"bye", qos=1, retain=True))
    dying.sync()
    dying.drop()  # no DISCONNECT
    for i, w in enumerate(watchers):
        got = w.expect_exactly(1, timeout=5, quiet=0.2)
        assert [(m.topic, m.payload, m.qos) for m in got] == [("mc/will/gone", b"bye", 1)], f"watcher {i}: {got}"
    # retained will: late subscribers on every worker see it as well
    for i, got in enumerate(_retained_seen_by_new_subscribers(client, b, "mc/will/gone", 4, "late")):
        assert [(m.payload, m.retain) for m in got] == [(b"bye", True)], f"late subscriber {i}: {got}"
