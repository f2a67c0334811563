"""SUBSCRIBE / UNSUBSCRIBE: topic filter matching, SUBACK and UNSUBACK codes,
overlapping subscriptions."""
import pytest

from clients import V311, V5, VERSIONS
from clients import client  # noqa: F401  (fixture)

MATCHING = [
    # filter, topics that match, topics that do not
    ("sport/tennis/+", ["sport/tennis/player1", "sport/tennis/"],
     ["sport/tennis", "sport/tennis/player1/ranking", "sport/football/x"]),
    ("sport/#", ["sport", "sport/tennis", "sport/tennis/player1/ranking", "sport/"],
     ["sports", "sportx/tennis", "/sport"]),
    ("+/+", ["a/b", "/finance", "a/", "/"], ["a", "a/b/c"]),
    ("+", ["a", "finance"], ["a/b", "/finance"]),
    ("/+", ["/finance"], ["finance", "a/b"]),
    ("a/+/c", ["a/b/c", "a//c"], ["a/b/d", "a/b/c/d", "a/c"]),
    ("#", ["a", "a/b/c", "/x"], []),
    ("exact/topic", ["exact/topic"], ["exact/topic/", "exact", "Exact/topic"]),
]


@VERSIONS
@pytest.mark.parametrize("flt,yes,no", MATCHING, ids=[m[0] for m in MATCHING])
def test_topic_filter_matching(broker, client, version, flt, yes, no):
    sub = client(broker, "sub", version)
    assert sub.subscribe(flt, 1) == [1]
    pub = client(broker, "pub", version)
    for t in no + yes:
        pub.publish(t, t.encode(), 1)
    got = sub.expect_exactly(len(yes))
    assert sorted(m.topic for m in got) == sorted(yes)


@VERSIONS
def test_dollar_topics_not_matched_by_leading_wildcards(broker, client, version):
    # [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics
    # starting with '$'
    wild = client(broker, "wild", version)
    wild.subscribe([("#", 1), ("+/x", 1), ("+/+", 1)])
    dollar = client(broker, "dollar", version)
    assert dollar.subscribe("$test/#", 1) == [1]
    pub = client(broker, "pub", version)
    pub.publish("$test/x", b"d", 1)
    pub.publish("plain/x", b"p", 1)
    # the '$' topic is routed (positive control) ...
    m = dollar.get()
    assert (m.topic, m.payload) == ("$test/x", b"d")
    # ... but not to '#', '+/x' or '+/+'
    # (plain/x matches all three filters: Mosquitto sends a v5 client one copy
    # per subscription, so only the set of topics is compared)
    got = [wild.get()] + wild.drain(0.5)
    assert {m.topic for m in got} == {"plain/x"}, got


@VERSIONS
def test_subscribe_grants_requested_qos(broker, client, version):
    c = client(broker, "c", version)
    assert c.subscribe([("g/0", 0), ("g/1", 1), ("g/2", 2)]) == [0, 1, 2]


@VERSIONS
def test_max_qos_downgrades_grant(broker_factory, client, version):
    b = broker_factory(conf_lines=["max_qos 1"])
    c = client(b, "c", version)
    assert c.subscribe([("m/0", 0), ("m/1", 1), ("m/2", 2)]) == [0, 1, 1]
    p = client(b, "p", version)
    p.publish("m/2", b"x", 1)
    assert c.get().qos == 1


@VERSIONS
def test_invalid_filter_closes_the_connection(broker, client, version):
    # A filter that breaks the wildcard rules makes the SUBSCRIBE malformed:
    # the connection closes (5.0: DISCONNECT 0x81 from strata), as in Mosquitto.
    # tests/e2e/test_spec_fidelity.py checks the bytes.
    c = client(broker, "c", version)
    rc, _ = c.c.subscribe([("ok/t", 1), ("a/#/b", 1)])
    assert rc == 0
    c.wait_closed()


@VERSIONS
def test_resubscribe_replaces_subscription(broker, client, version):
    # [MQTT-3.8.4-3]: same filter replaces the subscription, no duplicate
    c = client(broker, "c", version)
    assert c.subscribe("r/t", 0) == [0]
    assert c.subscribe("r/t", 2) == [2]
    p = client(broker, "p", version)
    p.publish("r/t", b"x", 2)
    m = c.get()
    assert m.qos == 2
    c.expect_none(0.3)


@VERSIONS
def test_unsubscribe_stops_delivery(broker, client, version):
    c = client(broker, "c", version)
    c.subscribe([("u/a", 1), ("u/b", 1)])
    p = client(broker, "p", version)
    codes = c.unsubscribe("u/a")
    if version == V5:
        assert codes == [0]
    p.publish("u/a", b"gone", 1)
    p.publish("u/b", b"kept", 1)
    assert c.get().payload == b"kept"
    c.expect_none(0.3)


def test_v5_unsuback_no_subscription_existed(broker, client):
    c = client(broker, "c", V5)
    c.subscribe("have", 0)
    # 0x00 for the filter that existed, 0x11 (No subscription existed) for the
    # others, in order [MQTT-3.11.3-1]
    assert c.unsubscribe(["have", "never", "have"]) == [0x00, 0x11, 0x11]


def test_unsubscribe_is_exact_match_not_wildcard_match(broker, client):
    # unsubscribing "a/b" does not remove the "a/+" subscription
    c = client(broker, "c", V5)
    c.subscribe("uw/+", 1)
    assert c.unsubscribe("uw/b") == [0x11]
    p = client(broker, "p", V5)
    p.publish("uw/b", b"x", 1)
    assert c.get().payload == b"x"


def test_v311_overlapping_subscriptions_single_delivery(broker, client):
    # Both Mosquitto 2.0.11 and strata send a 3.1.1 client one copy of a
    # message that matches several of its subscriptions.
    c = client(broker, "c", V311)
    c.subscribe([("ov/#", 1), ("ov/+", 2), ("ov/x", 0)])
    p = client(broker, "p", V311)
    p.publish("ov/x", b"m", 2)
    got = c.expect_exactly(1, quiet=0.5)


@pytest.mark.strata_only
def test_v311_overlapping_subscriptions_highest_qos(broker, client):
    # [MQTT-3.3.5-1]: "the Server MUST deliver the message to the Client
    # respecting the maximum QoS of all the matching subscriptions". Mosquitto
    # 2.0.11 delivers its single copy at the QoS of the exact-match subscription
    # (here 0).
    c = client(broker, "c", V311)
    c.subscribe([("ov/#", 1), ("ov/+", 2), ("ov/x", 0)])
    p = client(broker, "p", V311)
    p.publish("ov/x", b"m", 2)
    got = c.expect_exactly(1, quiet=0.5)
    assert [m.qos for m in got] == [2]


def test_v5_overlapping_subscriptions(broker, client):
    # [MQTT-3.3.4-2]: at least one copy at the maximum QoS of the matching
    # subscriptions; [MQTT-3.3.4-3]: every subscription identifier of the
    # matching subscriptions is sent (Mosquitto sends one copy per
    # subscription, strata a single copy carrying all identifiers).
    c = client(broker, "c", V5)
    c.subscribe("ov/#", 1, sub_id=1)
    c.subscribe("ov/+", 2, sub_id=2)
    c.subscribe("ov/x", 0)
    p = client(broker, "p", V5)
    p.publish("ov/x", b"m", 2)
    got = [c.get()] + c.drain(0.5)
    assert all(m.payload == b"m" for m in got)
    assert max(m.qos for m in got) == 2
    ids = sorted(i for m in got for i in m.prop("SubscriptionIdentifier", []))
    assert set(ids) == {1, 2}
    assert len(got) <= 3


@pytest.mark.strata_only
def test_v5_overlapping_subscriptions_single_copy_with_all_identifiers(broker, client):
    # [MQTT-3.3.4-4]: a single copy carries all matching subscription
    # identifiers; strata sends one copy, Mosquitto one per subscription.
    c = client(broker, "c", V5)
    c.subscribe("ov/#", 1, sub_id=1)
    c.subscribe("ov/+", 2, sub_id=2)
    p = client(broker, "p", V5)
    p.publish("ov/x", b"m", 2)
    got = c.expect_exactly(1, quiet=0.5)
    assert got[0].qos == 2
    assert sorted(got[0].prop("SubscriptionIdentifier")) == [1, 2]


@VERSIONS
def test_subscribe_many_filters_in_one_packet(broker, client, version):
    c = client(broker, "c", version)
    filters = [(f"many/{i}", i % 3) for i in range(20)]
    assert c.subscribe(filters) == [q for _, q in filters]
    p = client(broker, "p", version)
    p.publish("many/19", b"x", 2)
    m = c.get()
    assert (m.topic, m.qos) == ("many/19", 1)
