"""CONNECT handling at the byte level: refused and malformed CONNECTs, the
first packet, protocol versions 3.1 / 3.1.1 / 5, and the CONNACK contents.

A violation inside CONNECT is answered in MQTT 5 with a CONNACK carrying the
reason code, then the close [MQTT-3.2.2-7] (section 4.13.1); Mosquitto 2.0.11 closes the
connection without any CONNACK for all of these, so the exact tests are
strata_only and a looser test (closed, nothing but a refusal sent) runs on both.
"""
import time

import pytest

from rawmqtt import (CONNACK, PUBLISH, V31, V311, V5, RawClient, assert_broker_healthy, connect,
                     expect_error_close, expect_silent_close, open_client, pingreq, publish, subscribe)

MALFORMED, PROTOCOL_ERROR = 0x81, 0x82

# (id, CONNECT bytes, reason code strata puts in the CONNACK)
V5_CONNECT_CASES = [
    # [MQTT-3.1.2-3] reserved flag of the Connect Flags
    ("reserved-flag", connect("c-reserved", reserved_flag=True), MALFORMED),
    # [MQTT-3.1.2-11] / [MQTT-3.1.2-13]: Will QoS / Will Retain without Will Flag
    ("will-qos-without-will-flag", connect("c-willqos", will_qos=1), MALFORMED),
    ("will-retain-without-will-flag", connect("c-willret", will_retain=True), MALFORMED),
    # [MQTT-3.1.2-12] Will QoS 3
    ("will-qos-3", connect("c-willqos3", will=dict(topic="w", qos=3)), MALFORMED),
    # [MQTT-1.5.4-1] / [MQTT-1.5.4-2] client identifier
    ("client-id-overlong-utf8", connect(b"c\xc0\x80"), MALFORMED),
    ("client-id-lone-surrogate", connect(b"c\xed\xa0\x80"), MALFORMED),
    ("client-id-nul", connect(b"c\x00"), MALFORMED),
    ("unknown-property", connect("c-unknownprop", props=[(0x7F, b"\x00")]), MALFORMED),
    ("property-not-allowed-in-connect", connect("c-badprop", props=[("TopicAlias", 1)]), MALFORMED),
    ("property-length-past-packet", connect("c-proplen", props_bytes=b"\x7f\x11\x00\x00"), MALFORMED),
    # 3.1.2.11.3 "It is a Protocol Error to include the Receive Maximum value more than once
    # or for it to have the value 0"
    ("receive-maximum-0", connect("c-rm0", props=[("ReceiveMaximum", 0)]), PROTOCOL_ERROR),
    # 3.1.2.11.4 "It is a Protocol Error ... for the value to be set to zero" (Maximum Packet Size)
    ("maximum-packet-size-0", connect("c-mps0", props=[("MaximumPacketSize", 0)]), PROTOCOL_ERROR),
    ("duplicated-session-expiry", connect("c-dupse", props=[("SessionExpiryInterval", 1),
                                                            ("SessionExpiryInterval", 2)]), PROTOCOL_ERROR),
    # 3.1.2.11.7 "It is a Protocol Error to have a value other than 0 or 1"
    ("request-problem-information-2", connect("c-rpi2", props=[("RequestProblemInformation", 2)]),
     PROTOCOL_ERROR),
]


@pytest.mark.strata_only
@pytest.mark.parametrize("data,code", [pytest.param(d, c, id=n) for n, d, c in V5_CONNECT_CASES])
def test_v5_bad_connect_gets_connack_with_reason_code(broker, data, code):
    c = RawClient(broker, timeout=3)
    c.send(data)
    ack = c.expect(CONNACK)
    assert ack.reason_code == code, ack
    assert not ack.session_present  # [MQTT-3.2.2-6]
    assert c.expect_closed(3)
    assert_broker_healthy(broker)


@pytest.mark.parametrize("data", [pytest.param(d, id=n) for n, d, _c in V5_CONNECT_CASES] + [
    # fixed-header problems: strata may not know the version yet, so only "closed"
    pytest.param(b"\x10\xff\xff\xff\xff\x01", id="remaining-length-5-bytes"),
    pytest.param(connect("c-hdrflags", flags=1), id="connect-fixed-header-flags-1"),
    pytest.param(connect("c-trunc", remaining_length=8)[:10], id="truncated-body"),
])
def test_v5_bad_connect_is_refused_and_closed(broker, data):
    c = RawClient(broker, timeout=3)
    c.send(data)
    expect_error_close(c)
    assert_broker_healthy(broker)


@pytest.mark.parametrize("data", [
    pytest.param(connect("c3-reserved", version=V311, reserved_flag=True), id="reserved-flag"),
    pytest.param(connect("c3-willqos", version=V311, will_qos=1), id="will-qos-without-will-flag"),
    pytest.param(connect("c3-willret", version=V311, will_retain=True), id="will-retain-without-will-flag"),
    pytest.param(connect(b"c\xc0\x80", version=V311), id="client-id-overlong-utf8"),
    pytest.param(connect(b"c\x00", version=V311), id="client-id-nul"),
    # [MQTT-3.1.2-22] password flag without user name flag (3.1.1)
    pytest.param(connect("c3-pw", version=V311, password=b"pw"), id="password-without-username"),
])
def test_v311_bad_connect_closes_without_connack(broker, data):
    c = RawClient(broker, version=V311, timeout=3)
    c.send(data)
    expect_silent_close(c)
    assert_broker_healthy(broker)


@pytest.mark.parametrize("data", [
    pytest.param(publish("t", b"x", version=V311), id="publish"),
    pytest.param(subscribe(1, ["t"], version=V311), id="subscribe"),
    pytest.param(pingreq(), id="pingreq"),
    pytest.param(b"\x00\x01\x02\x03\x04\x05", id="garbage"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http-request"),
])
def test_first_packet_not_connect_closes_without_packet(broker, data):
    """[MQTT-3.1.0-1] the first packet must be CONNECT."""
    c = RawClient(broker, timeout=3)
    c.send(data)
    expect_silent_close(c)
    assert_broker_healthy(broker)


@pytest.mark.parametrize("version,level", [(V311, 6), (V5, 6), (V311, 2), (V311, 0)],
                         ids=["v311-body-level-6", "v5-body-level-6", "level-2", "level-0"])
def test_unsupported_protocol_level_refused(broker, version, level):
    """[MQTT-3.1.2-2] an unsupported level gets CONNACK 0x84 / 3.1.1 return code 1, then
    the close. Mosquitto 2.0.11 sends the 3.1.1 form (2 bytes, return code 1)."""
    c = RawClient(broker, version=V311, timeout=3)
    c.send(connect("c-level", version=version, protocol_level=level))
    ack = c.expect(CONNACK)
    assert ack.reason_code in (0x01, 0x84), ack
    assert not ack.session_present
    assert c.expect_closed(3)
    assert_broker_healthy(broker)


@pytest.mark.parametrize("name,level", [("MQTX", 4), ("MQTX", 5), ("mqtt", 4), ("MQIsdp", 4), ("MQTT", 3)])
def test_wrong_protocol_name_refused(broker, name, level):
    """[MQTT-3.1.2-1] a wrong protocol name: the broker disconnects (it MAY send a refusing
    CONNACK first; Mosquitto 2.0.11 sends none for an unknown name and return code 1 for a
    known name with the wrong level)."""
    c = RawClient(broker, version=V311, timeout=3)
    c.send(connect("c-name", version=V311, protocol_name=name, protocol_level=level))
    expect_error_close(c)
    assert_broker_healthy(broker)


def test_v31_mqisdp_connect_accepted(broker):
    """MQTT 3.1 (protocol name "MQIsdp", level 3) is accepted and works."""
    c = RawClient(broker, version=V311, timeout=3)
    ack = c.connect("v31-client", version=V31)
    assert ack.reason_code == 0 and not ack.session_present, ack
    assert c.subscribe(1, [("v31/t", 1)]).reason_codes == [1]
    c.publish("v31/t", b"hello", qos=1, pid=2, version=V311)
    got = c.recv_n(2)
    pub = [p for p in got if p.type == PUBLISH]
    assert [(p.topic, p.payload) for p in pub] == [("v31/t", b"hello")], got
    assert_broker_healthy(broker)


def test_v311_empty_client_id_with_clean_session_0_rejected(broker):
    """[MQTT-3.1.3-8] 3.1.1 empty client id with CleanSession 0: CONNACK return code 2."""
    c = RawClient(broker, version=V311, timeout=3)
    ack = c.connect("", version=V311, clean=False)
    assert ack.reason_code == 2 and not ack.session_present, ack
    assert c.expect_closed(3)
    assert_broker_healthy(broker)


def test_v311_empty_client_id_with_clean_session_1_accepted(broker):
    c = RawClient(broker, version=V311, timeout=3)
    ack = c.connect("", version=V311, clean=True)
    assert ack.reason_code == 0, ack
    c.pingreq()
    assert c.recv_packet(3).name == "PINGRESP"


def test_v5_connack_defaults(broker):
    """A plain v5 CONNACK: success, no session, Topic Alias Maximum 10 (max_topic_alias
    default), nothing claimed that is not supported."""
    c = open_client(broker, "ck-default")
    ack = c.connack
    assert ack.session_present is False
    assert ack.props.get("TopicAliasMaximum") == 10, ack
    assert ack.props.get("ReceiveMaximum", 65535) >= 1
    assert "MaximumQoS" not in ack.props, ack  # QoS 2 is supported: absent [MQTT-3.2.2-9]
    assert ack.props.get("RetainAvailable", 1) == 1, ack
    assert "AssignedClientIdentifier" not in ack.props, ack  # only for an empty client id
    assert ack.props.get("ServerKeepAlive", 60) == 60, ack  # no max_keepalive: the client's value


def test_v5_empty_client_id_gets_assigned_identifier(broker):
    """[MQTT-3.2.2-16] empty client id: Assigned Client Identifier in the CONNACK, usable to
    resume the session."""
    c = RawClient(broker, timeout=3)
    ack = c.connect("", props={"SessionExpiryInterval": 60})
    assert ack.reason_code == 0, ack
    assigned = ack.props.get("AssignedClientIdentifier")
    assert assigned, ack
    c.disconnect()
    c2 = RawClient(broker, timeout=3)
    c2.send(connect("", props={"SessionExpiryInterval": 60}))
    other = c2.expect(CONNACK).props.get("AssignedClientIdentifier")
    assert other and other != assigned
    c2.disconnect()
    time.sleep(0.1)
    c3 = open_client(broker, assigned, clean=False, props={"SessionExpiryInterval": 60})
    assert c3.connack.session_present is True, c3.connack


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_session_present_flag(broker, version):
    """[MQTT-3.2.2-2] / [MQTT-3.2.2-3]: session present only when resuming a stored session."""
    props = {"SessionExpiryInterval": 60} if version == V5 else None
    c = open_client(broker, "sp-client", version=version, clean=False, props=props)
    assert c.connack.session_present is False
    assert c.subscribe(1, [("sp/t", 1)]).reason_codes == [1]
    c.disconnect()
    time.sleep(0.1)
    c = open_client(broker, "sp-client", version=version, clean=False, props=props)
    assert c.connack.session_present is True
    c.disconnect()
    time.sleep(0.1)
    c = open_client(broker, "sp-client", version=version, clean=True, props=props)
    assert c.connack.session_present is False  # [MQTT-3.2.2-2] clean start: always 0
    c.disconnect()


def test_connack_reflects_limits(broker_factory):
    """Configured limits are announced in the v5 CONNACK."""
    b = broker_factory(conf_lines=["max_packet_size 200", "retain_available false", "max_qos 1",
                                   "max_inflight_messages 3", "max_keepalive 30", "max_topic_alias 5"])
    c = open_client(b, "ck-limits", keepalive=60)
    p = c.connack.props
    assert p.get("MaximumPacketSize") == 200, p
    assert p.get("RetainAvailable") == 0, p
    assert p.get("MaximumQoS") == 1, p
    assert p.get("ReceiveMaximum") == 3, p
    assert p.get("ServerKeepAlive") == 30, p  # [MQTT-3.2.2-21] the client asked for 60
    assert p.get("TopicAliasMaximum") == 5, p
    # a v3.1.1 client gets a plain 2-byte CONNACK (its keep alive within
    # max_keepalive: above it, a 3.1.1 client is refused, see test_paho_connect)
    c3 = RawClient(b, version=V311, timeout=3)
    ack = c3.connect("ck-limits-3", version=V311, keepalive=30)
    assert ack.reason_code == 0 and len(ack.body) == 2, ack
