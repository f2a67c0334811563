"""CONNECT / CONNACK as seen by paho clients (MQTT 3.1.1 and 5.0)."""
import pytest

from clients import V311, V5, VERSIONS, PacketTypes, props
from clients import client  # noqa: F401  (fixture)


@VERSIONS
def test_connect_success(broker, client, version):
    c = client(broker, "plain", version)
    assert c.connack.reason == 0
    assert c.connack.session_present is False
    # the connection is usable
    c.subscribe("hello", 1)
    c.publish("hello", b"world", 1)
    m = c.get()
    assert (m.topic, m.payload) == ("hello", b"world")


def test_v5_connack_properties(broker, client):
    # Mosquitto advertises Receive Maximum (max_inflight_messages, default 20)
    # and Topic Alias Maximum 10; nothing in CONNACK may claim a feature is
    # unavailable with the default configuration.
    c = client(broker, "props", V5)
    ack = c.connack
    assert ack.prop("AssignedClientIdentifier") is None  # we gave an id
    assert ack.prop("RetainAvailable", 1) == 1
    assert ack.prop("MaximumQoS", 2) == 2
    assert ack.prop("WildcardSubscriptionAvailable", 1) == 1
    assert ack.prop("SubscriptionIdentifierAvailable", 1) == 1
    assert ack.prop("SharedSubscriptionAvailable", 1) == 1
    assert ack.prop("ReceiveMaximum", 65535) >= 1
    assert ack.prop("TopicAliasMaximum", 0) >= 1  # client->broker aliases are accepted


def test_v5_receive_maximum_reflects_max_inflight(broker_factory, client):
    b = broker_factory(conf_lines=["max_inflight_messages 2"])
    c = client(b, "rm", V5)
    assert c.connack.prop("ReceiveMaximum") == 2


def test_v5_empty_client_id_gets_assigned_identifier(broker, client):
    c = client(broker, "", V5, session_expiry=60)
    assigned = c.connack.prop("AssignedClientIdentifier")
    assert assigned, f"no Assigned Client Identifier in {c.connack!r}"  # [MQTT-3.2.2-16]
    c.subscribe("assigned/t", 1)
    c.disconnect()
    # the assigned id names the session: it can be resumed with it
    p = client(broker, "pub", V5)
    p.publish("assigned/t", b"queued", 1)
    again = client(broker, assigned, V5, clean=False, session_expiry=60)
    assert again.connack.session_present is True
    assert again.connack.prop("AssignedClientIdentifier") is None
    assert again.get().payload == b"queued"


def test_v5_two_empty_client_ids_get_distinct_identifiers(broker, client):
    a = client(broker, "", V5)
    b = client(broker, "", V5)
    ida = a.connack.prop("AssignedClientIdentifier")
    idb = b.connack.prop("AssignedClientIdentifier")
    assert ida and idb and ida != idb
    # neither took the other over
    assert a.is_connected and b.is_connected


def test_v311_empty_client_id_clean_session_accepted(broker, client):
    c = client(broker, "", V311, clean=True)
    assert c.connack.reason == 0
    c.subscribe("e", 0)
    c.publish("e", b"x")
    assert c.get().payload == b"x"


def test_v311_empty_client_id_without_clean_session_refused(broker, client):
    # [MQTT-3.1.3-8]: CONNACK return code 0x02 (Identifier rejected), then close
    c = client(broker, "", V311, clean=False, expect=2)
    assert c.connack.session_present is False  # [MQTT-3.2.2-4]
    c.wait_closed()


@VERSIONS
def test_allow_zero_length_clientid_false(broker_factory, client, version):
    b = broker_factory(conf_lines=["allow_zero_length_clientid false"])
    c = client(b, "", version, expect=None)
    if version == V311:
        assert c.connack.reason == 2
    else:
        # Mosquitto 2.0.11 answers 0x80 (Unspecified error), and so does strata,
        # though 0x85 (Client Identifier not valid) is the dedicated code [MQTT-3.1.3-8].
        assert c.connack.reason == 0x80
    c.wait_closed()
    # a client with an id is still welcome
    client(b, "named", version)


@VERSIONS
@pytest.mark.parametrize("credentials", [None, ("user", "pass")], ids=["no-user", "user"])
def test_allow_anonymous_false_without_password_file_refuses(broker_factory, client, version,
                                                             credentials):
    b = broker_factory(anonymous=False, conf_lines=["allow_anonymous false"])
    kw = {}
    if credentials:
        kw = dict(username=credentials[0], password=credentials[1])
    c = client(b, "anon", version, expect=None, **kw)
    assert c.connack.reason == (5 if version == V311 else 0x87)
    c.wait_closed()


@VERSIONS
def test_takeover_disconnects_old_client(broker, client, version):
    old = client(broker, "same-id", version)
    old.subscribe("takeover/old", 0)
    new = client(broker, "same-id", version)
    old.wait_closed()
    assert not old.is_connected
    new.subscribe("takeover/t", 1)
    new.publish("takeover/t", b"still here", 1)
    assert new.get().payload == b"still here"
    assert new.is_connected


@pytest.mark.strata_only
def test_v5_takeover_sends_disconnect_0x8e(broker, client):
    # MQTT 5.0 3.1.4: the Server sends the existing Client a DISCONNECT with
    # Reason Code 0x8E (Session taken over) and closes its connection
    # [MQTT-3.1.4-3]. Mosquitto 2.0.11 only closes the socket.
    old = client(broker, "same-id", V5)
    client(broker, "same-id", V5)
    assert old.wait_closed() == 0x8E


def test_v5_takeover_keeps_session(broker, client):
    old = client(broker, "tk", V5, session_expiry=60)
    old.subscribe("tk/t", 1)
    new = client(broker, "tk", V5, clean=False, session_expiry=60)
    old.wait_closed()
    assert new.connack.session_present is True
    p = client(broker, "p", V5)
    p.publish("tk/t", b"m", 1)
    assert new.get().payload == b"m"


def test_v5_authentication_method_refused(broker, client):
    # no enhanced authentication: CONNACK 0x8C (Bad authentication method)
    c = client(broker, "auth", V5, expect=0x8C,
               connect_props=props(PacketTypes.CONNECT, AuthenticationMethod="SCRAM-SHA-1"))
    c.wait_closed()


def test_v5_server_keep_alive(broker_factory, client):
    b = broker_factory(conf_lines=["max_keepalive 10"])
    c = client(b, "ka60", V5, keepalive=60)
    assert c.connack.prop("ServerKeepAlive") == 10
    # a keep alive within the limit is left alone
    d = client(b, "ka5", V5, keepalive=5)
    assert d.connack.prop("ServerKeepAlive", 5) == 5


def test_v5_keep_alive_zero_gets_server_keep_alive(broker_factory, client):
    # Mosquitto 2.0.11 changelog: max_keepalive also applies to keepalive 0
    b = broker_factory(conf_lines=["max_keepalive 10"])
    c = client(b, "ka0", V5, keepalive=0)
    assert c.connack.prop("ServerKeepAlive") == 10


def test_v311_keep_alive_within_max_keepalive_accepted(broker_factory, client):
    b = broker_factory(conf_lines=["max_keepalive 10"])
    client(b, "ka10", V311, keepalive=10)


@pytest.mark.strata_only
def test_v311_keep_alive_above_max_keepalive_refused(broker_factory, client):
    # MQTT 3.1.1 cannot tell the client to use a smaller keep alive, so newer
    # Mosquitto releases refuse such a client with return code 2 (Identifier
    # rejected) to address CVE-2020-13849; strata does the same. Debian's
    # Mosquitto 2.0.11 still accepts the connection (its max_keepalive only
    # applies to v5 clients).
    b = broker_factory(conf_lines=["max_keepalive 10"])
    c = client(b, "ka60", V311, keepalive=60, expect=2)
    c.wait_closed()


def test_v5_request_response_information(broker, client):
    # Without the request, no Response Information [MQTT-3.1.2-28].
    c = client(broker, "norri", V5)
    assert c.connack.prop("ResponseInformation") is None
    # With it, the Server MAY send one (3.1.2.11.6); strata does not (nor does
    # Mosquitto), so the CONNACK has none and clients pick their own response
    # topic, which works like any other topic.
    r = client(broker, "rri", V5,
               connect_props=props(PacketTypes.CONNECT, RequestResponseInformation=1))
    assert r.connack.reason == 0
    assert r.connack.prop("ResponseInformation") is None
    responder = client(broker, "rri-responder", V5)
    responder.subscribe("rri/request", 1)
    r.subscribe("rri/reply/rri", 1)
    r.publish("rri/request", b"ping", 1, properties=props(
        PacketTypes.PUBLISH, ResponseTopic="rri/reply/rri", CorrelationData=b"c1"))
    req = responder.get()
    assert (req.payload, req.prop("ResponseTopic")) == (b"ping", "rri/reply/rri")
    responder.publish(req.prop("ResponseTopic"), b"pong", 1, properties=props(
        PacketTypes.PUBLISH, CorrelationData=req.prop("CorrelationData")))
    rep = r.get()
    assert (rep.topic, rep.payload, rep.prop("CorrelationData")) == ("rri/reply/rri", b"pong", b"c1")


def test_v5_max_qos_in_connack(broker_factory, client):
    # a Server that does not support QoS 2 must say so [MQTT-3.2.2-9]
    b = broker_factory(conf_lines=["max_qos 1"])
    c = client(b, "mq", V5)
    assert c.connack.prop("MaximumQoS") == 1


def test_v5_retain_available_false(broker_factory, client):
    b = broker_factory(conf_lines=["retain_available false"])
    c = client(b, "ra", V5)
    assert c.connack.prop("RetainAvailable") == 0
    # a non-retained publish is fine
    c.subscribe("ra/t", 1)
    c.publish("ra/t", b"x", 1)
    assert c.get().payload == b"x"
    # a retained one is a protocol error: DISCONNECT 0x9A (Retain not supported),
    # [MQTT-3.2.2-14]
    c.publish("ra/t", b"kept", 1, retain=True, wait=False)
    assert c.wait_closed() == 0x9A
    # and nothing was retained
    d = client(b, "ra2", V5)
    d.subscribe("ra/#", 1)
    d.expect_none(0.5)
