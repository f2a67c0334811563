"""Protocol violations after a successful CONNECT, at the byte level.

MQTT 5: the broker sends DISCONNECT with the reason code below (a SHOULD in
section 4.13.1, which strata does), then closes the connection [MQTT-4.13.1-1];
MQTT 3.1.1: it closes without sending anything ([MQTT-4.8.0-1] of 3.1.1). After
every case the broker must still be alive and serve other clients.

Each case names the reason code strata sends. `MOSQ` says what Mosquitto 2.0.11
does with the same bytes:
  SAME   - the same DISCONNECT reason code: the exact test runs on both brokers;
  CLOSES - it closes too, but with another code or without DISCONNECT: the exact
           test is strata_only, and a looser test (closed, any DISCONNECT is an
           error) runs on both;
  KEEPS  - it does not close at all: only the strata_only exact test.
"""
import pytest

from rawmqtt import (V311, V5, PUBREC, SUBACK, RawClient, assert_broker_healthy, auth, connect,
                     disconnect, expect_disconnect, expect_error_close, expect_silent_close, pingreq,
                     puback, publish, pubrel, sub_options, subscribe, unsubscribe)

SAME, CLOSES, KEEPS = "same", "closes", "keeps"
MALFORMED, PROTOCOL_ERROR, TOPIC_NAME_INVALID, TOPIC_ALIAS_INVALID = 0x81, 0x82, 0x90, 0x94

# (id, bytes to send, strata's reason code, Mosquitto's behaviour, packets sent first with
#  the packet type each must be answered with)
V5_CASES = [
    # ---- 0x81 Malformed Packet ----
    # [MQTT-1.5.5-1] a Variable Byte Integer has at most 4 bytes (Mosquitto: closes silently)
    ("remaining-length-5-bytes", b"\x30\xff\xff\xff\xff\x01", MALFORMED, CLOSES, ()),
    # [MQTT-1.5.5-1] "MUST use the minimum number of bytes" (Mosquitto accepts 0x80 0x00)
    ("remaining-length-not-minimal", b"\xc0\x80\x00", MALFORMED, KEEPS, ()),
    ("truncated-topic", b"\x30\x03\x00\x05a", MALFORMED, SAME, ()),
    ("truncated-packet-id", b"\x32\x04\x00\x01a\x00", MALFORMED, SAME, ()),
    ("truncated-subscribe-options", b"\x82\x06\x00\x01\x00\x00\x01a", MALFORMED, SAME, ()),
    ("property-length-past-packet", publish("t", b"", props_bytes=b"\x20\x01\x00"), MALFORMED, SAME, ()),
    # [MQTT-2.1.3-1] reserved fixed-header flags
    ("subscribe-flags-0", subscribe(1, [("t", 0)], flags=0), MALFORMED, SAME, ()),
    ("unsubscribe-flags-0", unsubscribe(1, ["t"], flags=0), MALFORMED, SAME, ()),
    # Mosquitto closes without DISCONNECT
    ("pubrel-flags-0", pubrel(5, flags=0), MALFORMED, CLOSES, ((publish("t", b"x", qos=2, pid=5), PUBREC),)),
    # Mosquitto ignores the flags of PINGREQ and PUBACK
    ("pingreq-flags-1", pingreq(flags=1), MALFORMED, KEEPS, ()),
    ("puback-flags-2", puback(1, flags=2), MALFORMED, KEEPS, ()),
    # [MQTT-1.5.4-1] ill-formed UTF-8, [MQTT-1.5.4-2] U+0000
    ("topic-overlong-utf8", publish(b"a\xc0\x80", b"x"), MALFORMED, SAME, ()),
    ("topic-lone-surrogate", publish(b"a\xed\xa0\x80", b"x"), MALFORMED, SAME, ()),
    ("topic-nul", publish(b"a\x00b", b"x"), MALFORMED, SAME, ()),
    ("filter-overlong-utf8", subscribe(1, [(b"a\xc0\x80", 0)]), MALFORMED, SAME, ()),
    ("unsubscribe-filter-surrogate", unsubscribe(1, [b"a\xed\xa0\x80"]), MALFORMED, SAME, ()),
    # [MQTT-3.3.1-4]
    ("publish-qos-3", publish("t", b"x", flags=0x06, pid=1), MALFORMED, SAME, ()),
    # [MQTT-3.3.1-2] DUP must be 0 for QoS 0 (Mosquitto accepts it)
    ("publish-qos0-dup", publish("t", b"x", dup=True), MALFORMED, KEEPS, ()),
    ("unknown-property", publish("t", b"x", props=[(0x7F, b"\x01")]), MALFORMED, SAME, ()),
    ("property-not-allowed-in-publish", publish("t", b"x", props=[("SessionExpiryInterval", 5)]),
     MALFORMED, SAME, ()),
    # [MQTT-3.8.3-5] reserved bits of the subscription options
    ("subscribe-options-reserved-bits", subscribe(1, [("t", 0xC0)]), MALFORMED, SAME, ()),
    ("subscribe-qos-3", subscribe(1, [("t", 3)]), MALFORMED, SAME, ()),

    # ---- 0x82 Protocol Error ----
    # [MQTT-2.2.1-3] non-zero packet identifier
    ("publish-qos1-packet-id-0", publish("t", b"x", qos=1, pid=0), PROTOCOL_ERROR, SAME, ()),
    ("publish-qos2-packet-id-0", publish("t", b"x", qos=2, pid=0), PROTOCOL_ERROR, SAME, ()),
    # Mosquitto says 0x81; the packet parses, its content is not allowed: 0x82 (section 4.13)
    ("subscribe-packet-id-0", subscribe(0, [("t", 0)]), PROTOCOL_ERROR, CLOSES, ()),
    ("unsubscribe-packet-id-0", unsubscribe(0, ["t"]), PROTOCOL_ERROR, CLOSES, ()),
    # [MQTT-3.1.0-2] "MUST process a second CONNECT packet ... as a Protocol Error"
    ("second-connect", connect("second"), PROTOCOL_ERROR, CLOSES, ()),
    # 3.3.2.3.9 "It is a Protocol Error to include the Content Type more than once"
    ("duplicated-content-type", publish("t", b"x", props=[("ContentType", "a"), ("ContentType", "b")]),
     PROTOCOL_ERROR, CLOSES, ()),
    # 3.8.2.1.2 "It is a Protocol Error if the Subscription Identifier has a value of 0"
    ("subscription-identifier-0", subscribe(1, [("t", 0)], props=[("SubscriptionIdentifier", 0)]),
     PROTOCOL_ERROR, CLOSES, ()),
    # 3.8.2.1.2 "It is a Protocol Error to include the Subscription Identifier more than once"
    ("subscription-identifier-twice",
     subscribe(1, [("t", 0)], props=[("SubscriptionIdentifier", 3), ("SubscriptionIdentifier", 4)]),
     PROTOCOL_ERROR, CLOSES, ()),
    # 3.3.2.3.2 the Payload Format Indicator is 0 or 1 (Mosquitto accepts 2)
    ("payload-format-indicator-2", publish("t", b"x", props=[("PayloadFormatIndicator", 2)]),
     PROTOCOL_ERROR, KEEPS, ()),
    # [MQTT-3.8.3-4] "It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription"
    ("no-local-on-shared-subscription", subscribe(1, [("$share/g/t", sub_options(no_local=True))]),
     PROTOCOL_ERROR, KEEPS, ()),
    # 3.8.3.1 "It is a Protocol Error to send a Retain Handling value of 3" (Mosquitto: 0x81)
    ("retain-handling-3", subscribe(1, [("t", sub_options(retain_handling=3))]), PROTOCOL_ERROR, CLOSES, ()),
    # [MQTT-3.8.3-2] / [MQTT-3.10.3-2] "... with no Payload is a Protocol Error" (Mosquitto: 0x81)
    ("subscribe-without-filter", subscribe(1, []), PROTOCOL_ERROR, CLOSES, ()),
    ("unsubscribe-without-filter", unsubscribe(1, []), PROTOCOL_ERROR, CLOSES, ()),
    # 4.12 AUTH without an Authentication Method in CONNECT (Mosquitto closes silently)
    ("auth-without-authentication-method", auth(0x18, props=[("AuthenticationMethod", "SCRAM-SHA-1")]),
     PROTOCOL_ERROR, CLOSES, ()),
    # 3.3.2.3.4 zero-length topic without alias / with an alias that has no mapping
    ("empty-topic-without-alias", publish("", b"x"), PROTOCOL_ERROR, SAME, ()),
    ("empty-topic-unknown-alias", publish("", b"x", props=[("TopicAlias", 3)]), PROTOCOL_ERROR, SAME, ()),
    # [MQTT-3.14.2-2] non-zero Session Expiry in DISCONNECT when CONNECT had 0
    ("disconnect-session-expiry-after-0", disconnect(0, props=[("SessionExpiryInterval", 10)]),
     PROTOCOL_ERROR, SAME, ()),

    # Table 3.14.2.1: reason codes only a server sends, and a code that is no DISCONNECT
    # reason at all (Mosquitto does not check the code: it closes as for any DISCONNECT)
    ("disconnect-server-shutting-down", disconnect(0x8B), PROTOCOL_ERROR, CLOSES, ()),
    ("disconnect-session-taken-over", disconnect(0x8E), PROTOCOL_ERROR, CLOSES, ()),
    ("disconnect-reason-0x05", disconnect(0x05), PROTOCOL_ERROR, CLOSES, ()),

    # ---- 0x90 Topic Name Invalid: [MQTT-3.3.2-2] no wildcards in a Topic Name (Mosquitto: 0x82)
    ("publish-topic-plus-wildcard", publish("a/+", b"x"), TOPIC_NAME_INVALID, CLOSES, ()),
    ("publish-topic-hash-wildcard", publish("a/#", b"x"), TOPIC_NAME_INVALID, CLOSES, ()),

    # ---- 0x94 Topic Alias Invalid ----
    # [MQTT-3.3.2-8] alias 0 is not permitted (Mosquitto: 0x81)
    ("topic-alias-0", publish("t", b"x", props=[("TopicAlias", 0)]), TOPIC_ALIAS_INVALID, CLOSES, ()),
    # [MQTT-3.2.2-17] above the Topic Alias Maximum of the CONNACK (default 10)
    ("topic-alias-above-maximum", publish("t", b"x", props=[("TopicAlias", 11)]), TOPIC_ALIAS_INVALID, SAME, ()),
]

# MQTT 3.1.1: the same kinds of violation close the connection without any packet.
V311_CASES = [
    ("remaining-length-5-bytes", b"\x30\xff\xff\xff\xff\x01", ()),
    ("truncated-topic", b"\x30\x03\x00\x05a", ()),
    ("truncated-packet-id", b"\x32\x04\x00\x01a\x00", ()),
    ("subscribe-flags-0", subscribe(1, [("t", 0)], version=V311, flags=0), ()),
    ("pubrel-flags-0", pubrel(5, version=V311, flags=0),
     ((publish("t", b"x", qos=2, pid=5, version=V311), PUBREC),)),
    ("topic-overlong-utf8", publish(b"a\xc0\x80", b"x", version=V311), ()),
    ("topic-lone-surrogate", publish(b"a\xed\xa0\x80", b"x", version=V311), ()),
    ("topic-nul", publish(b"a\x00b", b"x", version=V311), ()),
    ("publish-qos-3", publish("t", b"x", flags=0x06, pid=1, version=V311), ()),
    ("publish-packet-id-0", publish("t", b"x", qos=1, pid=0, version=V311), ()),
    ("publish-topic-wildcard", publish("a/#", b"x", version=V311), ()),
    ("publish-empty-topic", publish("", b"x", version=V311), ()),
    ("second-connect", connect("second", version=V311), ()),
    # [MQTT-3.8.3-4] in 3.1.1: upper 6 bits of the requested QoS byte are reserved
    ("subscribe-options-reserved-bits", subscribe(1, [("t", 0x04)], version=V311), ()),
    ("subscribe-without-filter", subscribe(1, [], version=V311), ()),
    ("unsubscribe-without-filter", unsubscribe(1, [], version=V311), ()),
]


def _send_case(broker, name, version, bad, pre):
    c = RawClient(broker, version=version, timeout=3)
    ack = c.connect(f"viol-{name}"[:23], version=version)
    assert ack.reason_code == 0, ack
    for data, answer in pre:
        c.send(data)
        c.expect(answer)
    c.send(bad)
    return c


def _exact_params():
    out = []
    for name, bad, code, mosq, pre in V5_CASES:
        marks = () if mosq == SAME else (pytest.mark.strata_only,)
        out.append(pytest.param(bad, code, pre, id=name, marks=marks))
    return out


@pytest.mark.parametrize("bad,code,pre", _exact_params())
def test_v5_violation_gets_disconnect_with_reason_code(broker, request, bad, code, pre):
    c = _send_case(broker, request.node.callspec.id, V5, bad, pre)
    expect_disconnect(c, code)
    c.close()
    assert_broker_healthy(broker)


@pytest.mark.parametrize("bad,pre", [pytest.param(bad, pre, id=name)
                                     for name, bad, _code, mosq, pre in V5_CASES if mosq == CLOSES])
def test_v5_violation_closes_connection(broker, request, bad, pre):
    c = _send_case(broker, request.node.callspec.id, V5, bad, pre)
    expect_error_close(c)
    c.close()
    assert_broker_healthy(broker)


@pytest.mark.parametrize("bad,pre", [pytest.param(bad, pre, id=name) for name, bad, pre in V311_CASES])
def test_v311_violation_closes_without_packet(broker, request, bad, pre):
    c = _send_case(broker, request.node.callspec.id, V311, bad, pre)
    expect_silent_close(c)
    c.close()
    assert_broker_healthy(broker)


def test_v5_violation_drops_the_rest_of_the_buffer(broker):
    """Bytes after the offending packet are not processed: a valid SUBSCRIBE sent in the
    same segment right after a malformed PUBLISH gets no SUBACK."""
    c = _send_case(broker, "viol-rest", V5, publish("t", b"x", flags=0x06, pid=1) + subscribe(9, ["t"]), ())
    assert c.expect_closed(3)
    assert all(p.type != SUBACK for p in c.discarded), c.discarded
    assert_broker_healthy(broker)
