"""Routing by interest (docs/architecture.md): a message goes only to the
workers with a matching subscription, so a SUBACK must not go out before
every worker routes by the new subscription. These tests race a publish
against each SUBACK and UNSUBACK, with publisher and subscriber on different
workers: the listener hands connections to the workers round robin, so two
clients connected one after the other land on different workers.

Also here: MQTT 5's "no matching subscribers" (0x10) in a PUBACK, which
needs the same knowledge; these run against Mosquitto too."""
import time

import pytest

from rawmqtt import PUBACK, PUBLISH, PUBREC, V311, V5, open_client, sub_options

NO_MATCHING_SUBSCRIBERS = 0x10
ROUNDS = 1000


def _pair(broker, version=V5):
    publisher = open_client(broker, "race-pub", version)
    subscriber = open_client(broker, "race-sub", version)  # the next worker
    return publisher, subscriber


@pytest.mark.strata_only  # `threads` is a strata key
@pytest.mark.parametrize("threads", [2, 3])
def test_a_publish_sent_the_moment_the_suback_arrives_is_delivered(broker_factory, threads):
    b = broker_factory(conf_lines=[f"threads {threads}", "publisher_affinity false"])
    pub, sub = _pair(b)
    for i in range(ROUNDS):
        topic = f"race/{i}/t"
        filt = topic if i % 2 else f"race/{i}/+"
        sub.subscribe(i % 65535 + 1, [(filt, sub_options(0))])
        pub.publish(topic, f"m{i}".encode())
        p = sub.recv_packet(5.0)
        assert p is not None and p.type == PUBLISH, f"round {i}: the publish after the SUBACK was not delivered"
        assert p.topic == topic and p.payload == f"m{i}".encode(), (i, p)
    pub.close()
    sub.close()


@pytest.mark.strata_only  # `threads` is a strata key
def test_a_shared_subscription_is_routed_once_its_suback_is_out(broker_factory):
    # Four workers: the group's owner is often a third one.
    b = broker_factory(conf_lines=["threads 4", "publisher_affinity false"])
    pub, sub = _pair(b)
    for i in range(ROUNDS // 4):
        topic = f"share-race/{i}"
        sub.subscribe(i + 1, [(f"$share/g{i}/{topic}", sub_options(0))])
        pub.publish(topic, b"x")
        p = sub.recv_packet(5.0)
        assert p is not None and p.type == PUBLISH and p.topic == topic, f"round {i}: not delivered"


@pytest.mark.strata_only  # `threads` is a strata key
def test_nothing_published_after_the_unsuback_is_delivered(broker_factory):
    b = broker_factory(conf_lines=["threads 2", "publisher_affinity false"])
    pub, sub = _pair(b)
    sub.subscribe(1, [("marker", sub_options(0))])
    for i in range(ROUNDS // 4):
        topic = f"gone/{i}"
        sub.subscribe(2, [(topic, sub_options(0))])
        pub.publish(topic, b"before")
        assert sub.expect(PUBLISH).payload == b"before"
        sub.unsubscribe(3, [topic])
        unsuback = sub.recv_packet(5.0)
        assert unsuback is not None and unsuback.pid == 3, unsuback
        pub.publish(topic, b"after")
        pub.publish("marker", f"{i}".encode())  # same path: it comes after "after", if "after" came at all
        p = sub.expect(PUBLISH)
        assert p.topic == "marker", f"round {i}: delivered after the UNSUBACK: {p!r}"


def test_no_matching_subscribers_is_0x10_in_a_puback(broker):
    pub = open_client(broker, "lonely-pub", V5)
    other = open_client(broker, "elsewhere", V5)  # on another worker
    pub.publish("nobody/listens", b"x", qos=1, pid=1)
    assert pub.expect(PUBACK).reason_code == NO_MATCHING_SUBSCRIBERS
    other.subscribe(1, [("nobody/#", sub_options(1))])
    pub.publish("nobody/listens", b"y", qos=1, pid=2)
    assert pub.expect(PUBACK).reason_code == 0
    assert other.expect(PUBLISH).payload == b"y"
    other.close()
    # Gone with its session (clean start): nobody again.
    deadline = time.monotonic() + 5
    while True:
        pub.publish("nobody/listens", b"z", qos=1, pid=3)
        if pub.expect(PUBACK).reason_code == NO_MATCHING_SUBSCRIBERS:
            break
        assert time.monotonic() < deadline, "still 0x00 after the only subscriber left"
        time.sleep(0.05)


def test_a_pubrec_goes_out_before_routing_and_says_success(broker):
    # As Mosquitto: the PUBREC of a QoS 2 message precedes its routing, so it
    # does not say 0x10 (docs/mosquitto-compat.md).
    pub = open_client(broker, "lonely-q2", V5)
    pub.publish("nobody/listens", b"x", qos=2, pid=1)
    assert pub.expect(PUBREC).reason_code == 0


def test_no_code_in_mqtt311(broker):
    pub = open_client(broker, "lonely-311", V311)
    pub.publish("nobody/listens", b"x", qos=1, pid=1, version=V311)
    assert pub.expect(PUBACK).body == b"\x00\x01"
