"""Where a publisher lives (core/session_placement.hpp, docs/architecture.md,
"Where a publisher lives"): a client that only publishes, and whose messages
all go to subscribers on one other worker, moves there with its session and
its socket. The move must be invisible to the clients: nothing lost,
repeated or reordered, acknowledgements in order, the session found where it
went (reconnect, restart).

The listener hands connections to the workers round robin, so a subscriber
and then a publisher connected one after the other start on different
workers. Moves are tried on the worker's tick (every 250 ms); the log tells
of each one (at debug level: the test brokers run with -v)."""
import threading
import time

import pytest

from rawmqtt import PUBACK, PUBLISH, V311, V5, open_client, publish, sub_options

pytestmark = pytest.mark.strata_only  # `threads` and `publisher_affinity` are strata keys

MOVED = " moved to worker "


def _moved(broker, client_id):
    return f"Client {client_id}{MOVED}" in broker.log()


def _publish_paced(pub, topic, count, qos, gap, prefix=""):
    """Publishes `count` messages `gap` seconds apart, each QoS 1 one
    acknowledged before the next goes."""
    for i in range(count):
        pub.publish(topic, f"{prefix}{i}".encode(), qos=qos, pid=(i % 65000) + 1 if qos else None)
        if qos == 1:
            ack = pub.expect(PUBACK)
            assert ack.pid == (i % 65000) + 1, (i, ack)
        time.sleep(gap)


def _receive(sub, count, qos):
    got = []
    while len(got) < count:
        p = sub.recv_packet(10.0)
        assert p is not None, f"got {len(got)} of {count}: {got[-3:]}"
        if p.type != PUBLISH:
            continue
        if p.qos == 1:
            sub.puback(p.pid)
        got.append(p.payload.decode())
    return got


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
@pytest.mark.parametrize("qos", [0, 1])
def test_a_publisher_moves_to_its_subscriber_and_nothing_is_lost_or_reordered(broker_factory, version, qos):
    b = broker_factory(conf_lines=["threads 2"])
    sub = open_client(b, "aff-sub", version)
    sub.subscribe(1, [("aff/#", sub_options(1))])
    pub = open_client(b, "aff-pub", version)  # the other worker
    count = 150
    received = {}
    reader = threading.Thread(target=lambda: received.update(got=_receive(sub, count, qos)))
    reader.start()
    _publish_paced(pub, "aff/t", count, qos, 0.01)
    reader.join(30)
    assert received.get("got") == [str(i) for i in range(count)]
    b.await_log(f"Client aff-pub{MOVED}")
    # It carries on where it went: a round trip on the same connection.
    pub.pingreq()
    assert pub.recv_packet(5.0).type == 13  # PINGRESP
    assert not _moved(b, "aff-sub")  # a subscriber stays


def test_a_client_that_subscribes_stays_where_it_is(broker_factory):
    b = broker_factory(conf_lines=["threads 2"])
    sub = open_client(b, "stay-sub")
    sub.subscribe(1, [("stay/#", sub_options(0))])
    pub = open_client(b, "stay-pub")
    pub.subscribe(1, [("own/#", sub_options(0))])  # on its own worker: something routes to it here
    _publish_paced(pub, "stay/t", 40, 1, 0.02)
    assert len(_receive(sub, 40, 0)) == 40
    assert not _moved(b, "stay-pub")


def test_no_move_with_publisher_affinity_off(broker_factory):
    b = broker_factory(conf_lines=["threads 2", "publisher_affinity false"])
    sub = open_client(b, "off-sub")
    sub.subscribe(1, [("off/#", sub_options(0))])
    pub = open_client(b, "off-pub")
    _publish_paced(pub, "off/t", 40, 1, 0.02)
    assert len(_receive(sub, 40, 0)) == 40
    assert MOVED not in b.log()


def test_a_moved_persistent_session_is_found_after_reconnect_and_kill(broker_factory, tmp_path):
    store = [f"storage rocksdb", f"storage_path {tmp_path / 'data'}", "threads 2"]
    b = broker_factory(conf_lines=store, name="first")
    sub = open_client(b, "keep-sub", clean=False, props={"SessionExpiryInterval": 3600})
    sub.subscribe(1, [("keep/#", sub_options(1))])
    pub = open_client(b, "keep-pub", clean=False, props={"SessionExpiryInterval": 3600})
    count = 60
    received = {}
    reader = threading.Thread(target=lambda: received.update(got=_receive(sub, count, 1)))
    reader.start()
    _publish_paced(pub, "keep/t", count, 1, 0.02)
    reader.join(30)
    assert received.get("got") == [str(i) for i in range(count)]
    b.await_log(f"Client keep-pub{MOVED}")
    pub.disconnect()
    # Accepted on some worker, the CONNECT goes to the session's new home.
    again = open_client(b, "keep-pub", clean=False, props={"SessionExpiryInterval": 3600})
    assert again.connack.session_present
    again.publish("keep/t", b"after", qos=1, pid=7)
    assert again.expect(PUBACK).pid == 7
    assert _receive(sub, 1, 1) == ["after"]
    b.kill()
    b2 = broker_factory(conf_lines=store, name="second")
    back = open_client(b2, "keep-pub", clean=False, props={"SessionExpiryInterval": 3600})
    assert back.connack.session_present


def test_many_publishers_moving_under_load_lose_and_repeat_nothing(broker_factory, tmp_path):
    # Durable acknowledgements (the store) and three workers: PUBACKs wait
    # for commits, so a publisher is often not movable and the placement
    # retries; subscribers on every worker.
    b = broker_factory(conf_lines=["threads 3", "storage rocksdb", f"storage_path {tmp_path / 'data'}"])
    subs = [open_client(b, f"load-sub{i}") for i in range(3)]
    for i, s in enumerate(subs):
        s.subscribe(1, [(f"load/{i}/#", sub_options(1))])
    # Publisher j starts on worker j % 3 and publishes to the next worker's subscriber.
    pubs = [open_client(b, f"load-pub{j}") for j in range(6)]
    count = 200
    per_sub = 2 * count  # two publishers per subscriber's topic
    results = {}

    def read(i):
        results[i] = _receive(subs[i], per_sub, 1)

    readers = [threading.Thread(target=read, args=(i,)) for i in range(3)]
    for r in readers:
        r.start()
    errors = []

    def publish(j):
        try:
            _publish_paced(pubs[j], f"load/{(j + 1) % 3}/p{j}", count, 1, 0.002, prefix=f"p{j}-")
        except AssertionError as e:
            errors.append(e)

    writers = [threading.Thread(target=publish, args=(j,)) for j in range(6)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
    for r in readers:
        r.join(60)
    assert not errors, errors
    for i in range(3):
        got = results.get(i)
        assert got is not None and len(got) == per_sub, (i, got and len(got))
        for j in ((i + 2) % 3, (i + 2) % 3 + 3):
            mine = [m for m in got if m.startswith(f"p{j}-")]
            assert mine == [f"p{j}-{k}" for k in range(count)], (j, mine[:5], len(mine))
    b.await_log(MOVED)


def test_a_moved_socket_stays_non_blocking_on_its_new_worker(broker_factory):
    # Asio keeps "non-blocking" with the socket object, not the descriptor. A
    # moved socket without it would make a read that finds nothing wait in
    # poll(), holding up the whole worker. The transport reads a busy
    # client's input into a 512-byte block, then on through the worker's
    # 64 KiB buffer while reads come back full: a packet of exactly 512 + 65536
    # bytes makes it ask once more when nothing is left.
    b = broker_factory(conf_lines=["threads 2"])
    sub = open_client(b, "nb-sub")
    sub.subscribe(1, [("nb/#", sub_options(0))])
    pub = open_client(b, "nb-pub")
    _publish_paced(pub, "nb/t", 30, 1, 0.02)
    assert len(_receive(sub, 30, 0)) == 30
    b.await_log(f"Client nb-pub{MOVED}")
    size = 512 + 65536
    packet = publish("nb/big", b"", version=V5)
    packet = publish("nb/big", b"x" * (size - len(packet) - 2), version=V5)  # the length field grows by 2
    assert len(packet) == size, len(packet)
    pub.send(packet)
    got = _receive(sub, 1, 0)
    assert len(got[0]) == size - len(publish("nb/big", b"", version=V5)) - 2
    # The worker both clients are on answers at once.
    for i in range(3):
        sub.pingreq()
        assert sub.expect(13, 5.0), f"ping {i}: the worker is stuck"
