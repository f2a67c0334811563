"""Retained messages and the v5 subscription options that concern them
(retain as published, retain handling) plus no-local."""

from clients import V311, V5, VERSIONS, PacketTypes, props
from clients import client  # noqa: F401  (fixture)


@VERSIONS
def test_retained_set_replace_clear(broker, client, version):
    p = client(broker, "p", version)
    p.publish("ret/t", b"first", 1, retain=True)
    p.publish("ret/t", b"second", 1, retain=True)  # replaces ([MQTT-3.3.1-5] in both)

    s = client(broker, "s1", version)
    s.subscribe("ret/t", 1)
    m = s.get()
    assert (m.payload, m.retain, m.qos) == (b"second", True, 1)
    s.expect_none(0.3)

    # clears: 3.1.1 [MQTT-3.3.1-10]/[MQTT-3.3.1-11], 5.0 [MQTT-3.3.1-6]/[MQTT-3.3.1-7]
    p.publish("ret/t", b"", 1, retain=True)
    # the empty retained publish itself is forwarded to existing subscribers
    m = s.get()
    assert m.payload == b"" and m.retain is False

    s2 = client(broker, "s2", version)
    s2.subscribe("ret/t", 1)
    s2.expect_none(0.5)


@VERSIONS
def test_retained_delivered_for_wildcard_subscription(broker, client, version):
    p = client(broker, "p", version)
    for t in ("wr/a", "wr/b", "wr/c/d", "other/x"):
        p.publish(t, t.encode(), 1, retain=True)
    s = client(broker, "s", version)
    s.subscribe("wr/+", 1)
    got = s.expect(2)
    assert sorted(m.topic for m in got) == ["wr/a", "wr/b"]
    assert all(m.retain for m in got)
    s.expect_none(0.3)


@VERSIONS
def test_retained_qos_is_min_of_publish_and_subscription(broker, client, version):
    p = client(broker, "p", version)
    p.publish("rq/two", b"2", 2, retain=True)
    p.publish("rq/zero", b"0", 0, retain=True)
    s = client(broker, "s", version)
    s.subscribe([("rq/two", 1), ("rq/zero", 2)])
    got = {m.topic: m.qos for m in s.expect(2)}
    assert got == {"rq/two": 1, "rq/zero": 0}


@VERSIONS
def test_live_messages_forwarded_with_retain_0(broker, client, version):
    # 3.1.1 [MQTT-3.3.1-9], 5.0 [MQTT-3.3.1-12] (Retain As Published = 0)
    s = client(broker, "s", version)
    s.subscribe("live/t", 1)
    p = client(broker, "p", version)
    p.publish("live/t", b"r", 1, retain=True)
    m = s.get()
    assert m.payload == b"r" and m.retain is False
    # still retained for a new subscriber, which sees the flag
    s2 = client(broker, "s2", version)
    s2.subscribe("live/t", 1)
    assert s2.get().retain is True


def test_v5_retain_as_published(broker, client):
    # [MQTT-3.3.1-13]: the flag is kept on forwarded messages
    s = client(broker, "s", V5)
    s.subscribe("rap/t", 1, retain_as_published=True)
    p = client(broker, "p", V5)
    p.publish("rap/t", b"kept", 1, retain=True)
    p.publish("rap/t", b"plain", 1, retain=False)
    got = s.expect(2)
    assert [(m.payload, m.retain) for m in got] == [(b"kept", True), (b"plain", False)]


def test_v5_retain_handling(broker, client):
    p = client(broker, "p", V5)
    p.publish("rh/t", b"r", 1, retain=True)
    s = client(broker, "s", V5)
    # 0: sent at every subscribe [MQTT-3.3.1-9]
    s.subscribe("rh/t", 1, retain_handling=0)
    assert s.get().retain is True
    s.subscribe("rh/t", 1, retain_handling=0)
    assert s.get().retain is True
    # 1: only if the subscription did not exist [MQTT-3.3.1-10]
    s.subscribe("rh/t", 1, retain_handling=1)
    s.expect_none(0.3)
    s.subscribe("rh/+", 1, retain_handling=1)
    m = s.get()
    assert (m.topic, m.retain) == ("rh/t", True)
    # 2: never [MQTT-3.3.1-11]
    s2 = client(broker, "s2", V5)
    s2.subscribe("rh/t", 1, retain_handling=2)
    s2.expect_none(0.3)
    # live messages still flow with retain handling 2
    p.publish("rh/t", b"live", 1)
    assert s2.get().payload == b"live"


def test_v5_no_local(broker, client):
    # [MQTT-3.8.3-3]
    c = client(broker, "c", V5)
    c.subscribe("nl/t", 1, no_local=True)
    c.subscribe("nl/other", 1)
    other = client(broker, "o", V5)
    other.subscribe("nl/t", 1)
    c.publish("nl/t", b"mine", 1)
    assert other.get().payload == b"mine"
    c.publish("nl/other", b"echo", 1)  # no-local is per subscription
    assert c.get().payload == b"echo"
    c.expect_none(0.3)
    # messages from others still arrive
    other.publish("nl/t", b"theirs", 1)
    assert c.get().payload == b"theirs"


def test_v311_subscriber_receives_own_messages(broker, client):
    c = client(broker, "c", V311)
    c.subscribe("own/t", 1)
    c.publish("own/t", b"me", 1)
    assert c.get().payload == b"me"


@VERSIONS
def test_retained_survives_publisher_disconnect(broker, client, version):
    p = client(broker, "p", version)
    p.publish("rs/t", b"stay", 2, retain=True)
    p.disconnect()
    s = client(broker, "s", version)
    s.subscribe("rs/#", 2)
    m = s.get()
    assert (m.payload, m.qos, m.retain) == (b"stay", 2, True)


def test_v5_retained_keeps_properties(broker, client):
    version = V5
    p = client(broker, "p", version)
    p.publish("rp/t", b"{}", 1, retain=True,
              properties=props(PacketTypes.PUBLISH, ContentType="application/json",
                               UserProperty=[("a", "1")]))
    s = client(broker, "s", version)
    s.subscribe("rp/t", 1)
    m = s.get()
    assert m.prop("ContentType") == "application/json"
    assert m.prop("UserProperty") == [("a", "1")]
