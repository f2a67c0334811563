"""Self-checks of the raw client's encoder and decoder (no broker needed), so a
failing e2e test points at the broker, not at rawmqtt."""
import pytest

import rawmqtt as r


@pytest.mark.parametrize("n,encoded", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                       (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
                                       (268435455, b"\xff\xff\xff\x7f")])
def test_varint(n, encoded):
    assert r.varint(n) == encoded
    assert r._Reader(encoded).varint() == n


def test_publish_roundtrip_with_properties():
    props = [("PayloadFormatIndicator", 1), ("MessageExpiryInterval", 30), ("ContentType", "text/plain"),
             ("ResponseTopic", "re/t"), ("CorrelationData", b"\x00\x01"), ("TopicAlias", 3),
             ("SubscriptionIdentifier", 2097152), ("SubscriptionIdentifier", 5),
             ("UserProperty", ("k", "v")), ("UserProperty", ("k", "w"))]
    data = r.publish("a/b", b"payload", qos=2, retain=True, dup=True, pid=513, props=props)
    assert data[0] == 0x3D
    p = r.decode_packet(data[0], data[2:], r.V5)
    assert (p.topic, p.payload, p.qos, p.retain, p.dup, p.pid) == ("a/b", b"payload", 2, True, True, 513)
    assert p.props["SubscriptionIdentifier"] == [2097152, 5]
    assert p.props["UserProperty"] == [("k", "v"), ("k", "w")]
    assert p.props["CorrelationData"] == b"\x00\x01"
    assert p.props.order == [(n, tuple(v) if isinstance(v, tuple) else v) for n, v in props]


def test_deliberately_wrong_bytes():
    assert r.publish("t", flags=0x06, pid=1)[0] == 0x36  # QoS 3
    assert r.subscribe(1, ["t"], flags=0)[0] == 0x80
    assert r.pubrel(1, flags=0)[0] == 0x60
    assert r.packet(r.PINGREQ, 0, b"", remaining_length=b"\x80\x00") == b"\xc0\x80\x00"
    c = r.connect("x", reserved_flag=True, will_qos=1)
    assert c[9] == 0x02 | 0x01 | 0x08  # clean start + reserved + will QoS 1, no will flag
    dup = r.encode_properties([("ContentType", "a"), ("ContentType", "b")])
    assert dup == b"\x08\x03\x00\x01a\x03\x00\x01b"


def test_decode_acks_and_disconnect():
    p = r.decode_packet(0x40, b"\x00\x07", r.V5)
    assert (p.name, p.pid, p.reason_code) == ("PUBACK", 7, 0)
    p = r.decode_packet(0x70, b"\x00\x07\x92", r.V5)
    assert (p.name, p.pid, p.reason_code) == ("PUBCOMP", 7, 0x92)
    p = r.decode_packet(0xE0, b"\x8d\x05\x1f\x00\x02ka", r.V5)
    assert (p.name, p.reason_code, p.props["ReasonString"]) == ("DISCONNECT", 0x8D, "ka")
    p = r.decode_packet(0x90, b"\x00\x02\x00\x01\x80", r.V5)
    assert (p.name, p.pid, p.reason_codes) == ("SUBACK", 2, [1, 0x80])
    p = r.decode_packet(0x20, b"\x00\x00", r.V311)
    assert (p.name, p.session_present, p.reason_code) == ("CONNACK", False, 0)
    with pytest.raises(r.MalformedFromBroker):
        r.decode_packet(0x40, b"\x00\x07\x00\x05\x7f", r.V5)  # unknown property
