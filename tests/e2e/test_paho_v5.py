"""MQTT 5.0 features as seen by paho: topic aliases, message expiry, maximum
packet size, subscription identifiers, properties, shared subscriptions,
request/problem information."""
import time

import pytest

from clients import V311, V5, PacketTypes, collect, props
from clients import client  # noqa: F401  (fixture)


def pub_props(**kw):
    return props(PacketTypes.PUBLISH, **kw)


# ---------------------------------------------------------------- topic aliases

def test_topic_alias_client_to_broker(broker, client):
    sub = client(broker, "sub", V5)
    sub.subscribe("alias/#", 1)
    c = client(broker, "aliaser", V5)
    maximum = c.connack.prop("TopicAliasMaximum", 0)
    assert maximum >= 2
    c.publish("alias/one", b"1", 1, properties=pub_props(TopicAlias=1))   # set alias 1
    c.publish("", b"2", 1, properties=pub_props(TopicAlias=1))            # use it
    c.publish("alias/two", b"3", 1, properties=pub_props(TopicAlias=2))
    c.publish("alias/three", b"4", 1, properties=pub_props(TopicAlias=1))  # remap alias 1
    c.publish("", b"5", 1, properties=pub_props(TopicAlias=1))
    c.publish("", b"6", 1, properties=pub_props(TopicAlias=2))
    got = [(m.topic, m.payload) for m in sub.expect(6)]
    assert got == [("alias/one", b"1"), ("alias/one", b"2"), ("alias/two", b"3"),
                   ("alias/three", b"4"), ("alias/three", b"5"), ("alias/two", b"6")]
    # aliases are not forwarded as such to the subscriber (it set no maximum)
    sub.expect_none(0.2)


def test_topic_alias_not_carried_to_next_connection(broker, client):
    # [MQTT-3.3.2-7]: a new connection starts without aliases; using an unknown
    # alias is a Protocol Error (3.3.2.3.4): the connection is closed and
    # nothing is delivered (the exact reason code is left to the raw tests)
    sub = client(broker, "sub", V5)
    sub.subscribe("alias/#", 1)
    c = client(broker, "aliaser", V5)
    c.publish("alias/one", b"1", 1, properties=pub_props(TopicAlias=1))
    assert sub.get().payload == b"1"
    c.disconnect()
    c = client(broker, "aliaser", V5)
    c.publish("", b"2", 1, properties=pub_props(TopicAlias=1), wait=False)
    c.wait_closed()
    sub.expect_none(0.3)


def test_no_topic_alias_sent_without_client_maximum(broker, client):
    # [MQTT-3.1.2-27]
    sub = client(broker, "sub", V5)
    sub.subscribe("ta/#", 0)
    p = client(broker, "pub", V5)
    for i in range(5):
        p.publish("ta/same/topic", str(i).encode(), 0)
    got = sub.expect(5)
    assert all(m.topic == "ta/same/topic" for m in got)
    assert all(m.prop("TopicAlias") is None for m in got)


@pytest.mark.strata_only
def test_broker_to_client_topic_aliases(broker, client):
    # The server may use topic aliases towards a client that announced a Topic
    # Alias Maximum (3.3.2.3.4); strata does, Mosquitto 2.0.11 never does.
    sub = client(broker, "sub", V5, connect_props=props(PacketTypes.CONNECT, TopicAliasMaximum=3))
    sub.subscribe("ta/#", 0)
    p = client(broker, "pub", V5)
    topics = [f"ta/topic/{i % 4}" for i in range(12)]
    for i, t in enumerate(topics):
        p.publish(t, str(i).encode(), 0)
    got = sub.expect(len(topics))
    aliases = {}
    resolved = []
    used_alias = False
    for m in got:
        alias = m.prop("TopicAlias")
        if alias is not None:
            assert 1 <= alias <= 3  # [MQTT-3.1.2-26]
            if m.topic:
                aliases[alias] = m.topic
            else:
                used_alias = True
                assert alias in aliases, "alias used before being set"
        resolved.append(m.topic or aliases[alias])
    assert resolved == topics
    assert used_alias, "no PUBLISH relied on an alias"


# ---------------------------------------------------------------- message expiry

def test_message_expiry_in_offline_queue(broker, client):
    s = client(broker, "offline", V5, session_expiry=300)
    s.subscribe("exp/#", 1)
    s.disconnect()
    p = client(broker, "pub", V5)
    p.publish("exp/short", b"short", 1, properties=pub_props(MessageExpiryInterval=1))
    p.publish("exp/long", b"long", 1, properties=pub_props(MessageExpiryInterval=60))
    p.publish("exp/none", b"none", 1)
    time.sleep(2.2)
    s = client(broker, "offline", V5, clean=False, session_expiry=300)
    got = {m.payload: m for m in s.expect_exactly(2, quiet=0.5)}
    # expired messages are not delivered [MQTT-3.3.2-5]
    assert set(got) == {b"long", b"none"}
    # the interval forwarded is what remains [MQTT-3.3.2-6]
    remaining = got[b"long"].prop("MessageExpiryInterval")
    assert remaining is not None and 50 <= remaining <= 59
    assert got[b"none"].prop("MessageExpiryInterval") is None


def test_message_expiry_forwarded_live(broker, client):
    s = client(broker, "sub", V5)
    s.subscribe("expl/t", 1)
    p = client(broker, "pub", V5)
    p.publish("expl/t", b"x", 1, properties=pub_props(MessageExpiryInterval=100))
    m = s.get()
    assert 99 <= m.prop("MessageExpiryInterval") <= 100


def test_retained_message_expires(broker, client):
    p = client(broker, "pub", V5)
    p.publish("expr/short", b"s", 1, retain=True, properties=pub_props(MessageExpiryInterval=1))
    p.publish("expr/long", b"l", 1, retain=True, properties=pub_props(MessageExpiryInterval=60))
    time.sleep(2.2)
    s = client(broker, "sub", V5)
    s.subscribe("expr/#", 1)
    got = s.expect_exactly(1, quiet=0.5)
    assert [m.payload for m in got] == [b"l"]
    assert got[0].prop("MessageExpiryInterval") < 60


# ---------------------------------------------------------------- maximum packet size

def test_client_maximum_packet_size(broker, client):
    # [MQTT-3.1.2-24], [MQTT-3.1.2-25]: too big for this client -> discarded
    # for it, delivered to others
    small = client(broker, "small", V5,
                   connect_props=props(PacketTypes.CONNECT, MaximumPacketSize=128))
    small.subscribe("mps/t", 1)
    big = client(broker, "big", V5)
    big.subscribe("mps/t", 1)
    p = client(broker, "pub", V5)
    p.publish("mps/t", b"x" * 300, 1)
    p.publish("mps/t", b"y" * 10, 1)
    assert [len(m.payload) for m in big.expect(2)] == [300, 10]
    got = small.expect_exactly(1)
    assert [m.payload for m in got] == [b"y" * 10]
    assert small.is_connected


# ---------------------------------------------------------------- subscription identifiers

def test_subscription_identifiers(broker, client):
    c = client(broker, "c", V5)
    c.subscribe("sid/a", 1, sub_id=1)
    c.subscribe("sid/b", 1, sub_id=268435455)  # largest variable byte integer
    c.subscribe("sid/c", 1)                      # none
    p = client(broker, "p", V5)
    for t in ("sid/a", "sid/b", "sid/c"):
        p.publish(t, t.encode(), 1)
    got = {m.topic: m.prop("SubscriptionIdentifier") for m in c.expect(3)}
    assert got == {"sid/a": [1], "sid/b": [268435455], "sid/c": None}


def test_subscription_identifier_replaced_on_resubscribe(broker, client):
    c = client(broker, "c", V5)
    c.subscribe("sid/t", 1, sub_id=5)
    c.subscribe("sid/t", 1, sub_id=6)
    p = client(broker, "p", V5)
    p.publish("sid/t", b"x", 1)
    assert c.get().prop("SubscriptionIdentifier") == [6]
    c.subscribe("sid/t", 1)  # no identifier any more
    p.publish("sid/t", b"y", 1)
    assert c.get().prop("SubscriptionIdentifier") is None


def test_subscription_identifier_on_retained(broker, client):
    p = client(broker, "p", V5)
    p.publish("sidr/t", b"r", 1, retain=True)
    c = client(broker, "c", V5)
    c.subscribe("sidr/#", 1, sub_id=42)
    m = c.get()
    assert m.retain and m.prop("SubscriptionIdentifier") == [42]


# ---------------------------------------------------------------- properties

def test_publish_properties_passed_through(broker, client):
    s = client(broker, "s", V5)
    s.subscribe("pp/t", 1)
    p = client(broker, "p", V5)
    user = [("k1", "v1"), ("k2", "v2"), ("k1", "v3"), ("z", ""), ("ünï", "ćødé")]
    p.publish("pp/t", b"{\"a\": 1}", 1, properties=pub_props(
        UserProperty=user, ContentType="application/json", PayloadFormatIndicator=1,
        ResponseTopic="pp/reply", CorrelationData=b"\x00\xffcorr"))
    m = s.get()
    assert m.prop("UserProperty") == user                   # order kept [MQTT-3.3.2-18]
    assert m.prop("ContentType") == "application/json"      # [MQTT-3.3.2-20]
    assert m.prop("PayloadFormatIndicator") == 1            # [MQTT-3.3.2-4]
    assert m.prop("ResponseTopic") == "pp/reply"
    assert m.prop("CorrelationData") == b"\x00\xffcorr"     # [MQTT-3.3.2-16]


def test_v5_properties_dropped_for_v311_subscriber(broker, client):
    s = client(broker, "s3", V311)
    s.subscribe("pp3/t", 1)
    p = client(broker, "p", V5)
    p.publish("pp3/t", b"x", 1, properties=pub_props(UserProperty=[("a", "b")],
                                                     ContentType="text/plain"))
    m = s.get()
    assert m.payload == b"x" and m.properties is None


def test_request_response(broker, client):
    responder = client(broker, "responder", V5)
    responder.subscribe("svc/request", 1)
    requester = client(broker, "requester", V5)
    requester.subscribe("svc/reply/requester", 1)
    requester.publish("svc/request", b"ping", 1, properties=pub_props(
        ResponseTopic="svc/reply/requester", CorrelationData=b"req-1"))
    req = responder.get()
    responder.publish(req.prop("ResponseTopic"), b"pong", 1,
                      properties=pub_props(CorrelationData=req.prop("CorrelationData")))
    rep = requester.get()
    assert (rep.topic, rep.payload, rep.prop("CorrelationData")) == \
        ("svc/reply/requester", b"pong", b"req-1")


def test_request_problem_information_zero(broker, client):
    # [MQTT-3.1.2-29]: no Reason String / User Property on SUBACK, UNSUBACK...
    c = client(broker, "rpi", V5,
               connect_props=props(PacketTypes.CONNECT, RequestProblemInformation=0))
    c.subscribe("rpi/t", 1)
    suback = c.ack_properties[c.last_mid]
    assert suback is None or (getattr(suback, "ReasonString", None) is None and
                              getattr(suback, "UserProperty", None) is None)
    assert c.unsubscribe("never/subscribed") == [0x11]
    unsuback = c.ack_properties[c.last_mid]
    assert unsuback is None or (getattr(unsuback, "ReasonString", None) is None and
                                getattr(unsuback, "UserProperty", None) is None)


def test_puback_no_matching_subscribers(broker, client):
    # PUBACK reason 0x10 (No matching subscribers) is allowed instead of 0x00
    # (Mosquitto uses it); with a subscriber it must be 0x00
    p = client(broker, "p", V5)
    info = p.publish("nobody/listens", b"x", 1)
    assert p.published[info.mid] in (0x00, 0x10)
    s = client(broker, "s", V5)
    s.subscribe("somebody/listens", 1)
    info = p.publish("somebody/listens", b"x", 1)
    assert p.published[info.mid] == 0x00


# ---------------------------------------------------------------- shared subscriptions

def test_shared_subscription_load_balanced(broker, client):
    members = [client(broker, f"m{i}", V5) for i in range(3)]
    for m in members:
        assert m.subscribe("$share/workers/jobs/#", 1) == [1]
    publishers = [client(broker, f"p{i}", V5) for i in range(2)]
    n = 30
    for i in range(n):
        publishers[i % 2].publish(f"jobs/{i % 5}", str(i).encode(), 1)
    received = [[int(m.payload) for m in got] for got in collect(members, n)]
    # every message went to exactly one member of the group
    assert sorted(x for r in received for x in r) == list(range(n))
    # and the work was shared
    assert all(r for r in received), received


def test_shared_subscription_groups_each_get_every_message(broker, client):
    g1 = [client(broker, f"a{i}", V5) for i in range(2)]
    g2 = client(broker, "b0", V5)
    plain = client(broker, "plain", V5)
    for c in g1:
        c.subscribe("$share/g1/sh/t", 1)
    g2.subscribe("$share/g2/sh/t", 1)
    plain.subscribe("sh/t", 1)
    p = client(broker, "p", V5)
    for i in range(10):
        p.publish("sh/t", str(i).encode(), 1)
    expected = [str(i).encode() for i in range(10)]
    got1 = sorted((m.payload for got in collect(g1, 10) for m in got), key=int)
    assert got1 == expected
    assert [m.payload for m in g2.expect(10)] == expected
    assert [m.payload for m in plain.expect(10)] == expected


def test_shared_subscription_qos(broker, client):
    g0 = client(broker, "q0", V5)
    g0.subscribe("$share/low/shq/t", 0)
    g2 = client(broker, "q2", V5)
    g2.subscribe("$share/high/shq/t", 2)
    p = client(broker, "p", V5)
    p.publish("shq/t", b"two", 2)
    p.publish("shq/t", b"one", 1)
    assert [(m.payload, m.qos) for m in g0.expect(2)] == [(b"two", 0), (b"one", 0)]
    got = {m.payload: m.qos for m in g2.expect(2)}
    assert got == {b"two": 2, b"one": 1}


def test_shared_subscription_unsubscribe(broker, client):
    a = client(broker, "a", V5)
    b = client(broker, "b", V5)
    a.subscribe("$share/g/shu/t", 1)
    b.subscribe("$share/g/shu/t", 1)
    assert a.unsubscribe("$share/g/shu/t") == [0]
    p = client(broker, "p", V5)
    for i in range(4):
        p.publish("shu/t", str(i).encode(), 1)
    assert len(b.expect(4)) == 4
    a.expect_none(0.3)


@pytest.mark.strata_only
def test_shared_subscription_no_retained_on_subscribe(broker, client):
    # 4.8.2: "No Retained Messages are sent to the Session when it first
    # subscribes" to a Shared Subscription (and 3.3.1.3 sends retained messages
    # only for new Non-shared Subscriptions). Mosquitto 2.0.11 sends them.
    p = client(broker, "p", V5)
    p.publish("shr/t", b"r", 1, retain=True)
    c = client(broker, "c", V5)
    c.subscribe("$share/g/shr/t", 1)
    c.expect_none(0.5)
