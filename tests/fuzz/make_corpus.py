#!/usr/bin/env python3
"""Writes the seed corpus of the decoder fuzzer (tests/fuzz/corpus).

Each seed is one mode byte (see fuzz_decoder.cpp) followed by a stream of
valid MQTT packets, built with the raw client's encoders (tests/e2e/rawmqtt.py),
so that the fuzzer starts from inputs that reach deep into the parsers and the
connection state machine: every packet type, in MQTT 3.1.1 and 5.0 (and a
3.1 CONNECT), with and without the harness's CONNECT + SUBSCRIBE prefix.

Run it again after changing the seeds; the seeds are committed, what the
fuzzer adds while running is not (tests/fuzz/run keeps it in a scratch dir).
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus"
sys.path.insert(0, str(HERE.parent / "e2e"))

import rawmqtt as m  # noqa: E402  (path set above)

V31, V311, V5 = m.V31, m.V311, m.V5


def mode_byte(version, prefixed, chunk=7, flags=0):
    """The harness's mode byte: version = 3 + mode % 3, bit 3 = send the
    CONNECT + SUBSCRIBE prefix, bits 0-2 = read size (1 + 7 * n bytes), the high
    nibble = fixed-header flags for the stand-alone PUBLISH decoder. The read
    size is the free part: the nearest one that gives the version's residue."""
    for delta in range(8):
        for c in (chunk - delta, chunk + delta):
            if 0 <= c <= 7:
                mode = (flags << 4) | (0x08 if prefixed else 0) | c
                if 3 + mode % 3 == version:
                    return mode
    raise AssertionError("unreachable: eight read sizes cover every residue")


SEEDS = {}


def seed(name, version, data, prefixed=False, chunk=7, flags=0):
    assert name not in SEEDS, name
    SEEDS[name] = bytes([mode_byte(version, prefixed, chunk, flags)]) + data


def vname(version):
    return {V31: "v31", V311: "v311", V5: "v5"}[version]


def connects():
    for v in (V311, V5):
        n = vname(v)
        seed(f"{n}-connect", v, m.connect("c", version=v))
        seed(f"{n}-connect-persistent", v, m.connect("keep", version=v, clean=False, keepalive=0))
        seed(f"{n}-connect-will", v, m.connect("w", version=v, will=dict(
            topic="will/t", payload=b"bye", qos=1, retain=True,
            props={"WillDelayInterval": 1, "ContentType": "t"} if v == V5 else None)))
        seed(f"{n}-connect-user", v, m.connect("u", version=v, username="alice", password=b"secret"))
        seed(f"{n}-connect-empty-id", v, m.connect("", version=v))
    seed("v31-connect", V31, m.connect("old-client", version=V31, keepalive=10))
    seed("v5-connect-props", V5, m.connect("p", props={
        "SessionExpiryInterval": 60, "ReceiveMaximum": 5, "TopicAliasMaximum": 3,
        "MaximumPacketSize": 1024, "RequestProblemInformation": 0, "RequestResponseInformation": 1,
        "UserProperty": [("k", "v")]}))
    seed("v5-connect-auth", V5, m.connect("a", props={"AuthenticationMethod": "SCRAM", "AuthenticationData": b"\x01"}) +
         m.auth(0x18, props={"AuthenticationMethod": "SCRAM", "AuthenticationData": b"\x02"}))


def every_packet_after_connect():
    """CONNECT, then one packet of each type a client sends (no prefix: the
    CONNECT parser runs too)."""
    for v in (V311, V5):
        n = vname(v)
        c = m.connect(f"all-{n}", version=v)
        singles = {
            "publish-qos0": m.publish("a/b", b"x", version=v),
            "publish-qos1": m.publish("a/b", b"x", qos=1, pid=1, version=v),
            "publish-qos2": m.publish("a/b", b"x", qos=2, pid=2, version=v),
            "publish-retain": m.publish("r/t", b"keep", qos=1, pid=3, retain=True, version=v),
            "publish-dup": m.publish("a/b", b"x", qos=1, pid=4, dup=True, version=v),
            "puback": m.puback(1, version=v),
            "pubrec": m.pubrec(1, version=v),
            "pubrel": m.pubrel(1, version=v),
            "pubcomp": m.pubcomp(1, version=v),
            "subscribe": m.subscribe(5, [("a/+", 1), ("b/#", 2)], version=v),
            "unsubscribe": m.unsubscribe(6, ["a/+", "b/#"], version=v),
            "pingreq": m.pingreq(),
            "disconnect": m.disconnect(version=v),
        }
        for what, pkt in singles.items():
            seed(f"{n}-{what}", v, c + pkt)


def flows():
    """Longer exchanges after the harness's prefix (CONNECT, SUBSCRIBE # at
    QoS 2), so that messages are also delivered back and acknowledged."""
    for v in (V311, V5):
        n = vname(v)
        seed(f"{n}-qos1-flow", v, m.publish("q/1", b"one", qos=1, pid=10, version=v) + m.puback(1, version=v),
             prefixed=True)
        seed(f"{n}-qos2-flow", v,
             m.publish("q/2", b"two", qos=2, pid=11, version=v) + m.pubrel(11, version=v) +
             m.pubrec(1, version=v) + m.pubcomp(1, version=v), prefixed=True)
        seed(f"{n}-qos2-resend", v,
             m.publish("q/2", b"two", qos=2, pid=12, version=v) +
             m.publish("q/2", b"two", qos=2, pid=12, dup=True, version=v) + m.pubrel(12, version=v),
             prefixed=True, chunk=0)
        seed(f"{n}-subscribe-flow", v,
             m.subscribe(2, [("s/+/x", 1), ("s/#", 0)], version=v) + m.publish("s/a/x", b"m", version=v) +
             m.unsubscribe(3, ["s/+/x"], version=v) + m.publish("s/a/x", b"m", qos=1, pid=4, version=v) +
             m.pingreq(), prefixed=True, chunk=3)
        seed(f"{n}-retain-flow", v,
             m.publish("r/t", b"keep", qos=1, pid=5, retain=True, version=v) +
             m.subscribe(6, [("r/#", 1)], version=v) + m.publish("r/t", b"", retain=True, version=v),
             prefixed=True)
        seed(f"{n}-many-small", v, b"".join(m.publish(f"t/{i}", bytes([i]), version=v) for i in range(12)),
             prefixed=True, chunk=1)
        seed(f"{n}-large-payload", v, m.publish("big", bytes(range(256)) * 3, qos=1, pid=7, version=v),
             prefixed=True, chunk=5)
        seed(f"{n}-disconnect-after", v, m.publish("x", b"y", version=v) + m.disconnect(version=v),
             prefixed=True)
        seed(f"{n}-publish-flags", v, m.publish("f/t", b"z", qos=1, pid=8, retain=True, version=v),
             prefixed=True, flags=0x3)


def v5_features():
    user = {"UserProperty": [("k", "v"), ("k", "w")]}
    seed("v5-publish-props", V5, m.publish("p/q", "\u20ac".encode(), qos=1, pid=1, props={
        "PayloadFormatIndicator": 1, "MessageExpiryInterval": 10, "ContentType": "text/plain",
        "ResponseTopic": "reply/t", "CorrelationData": b"\x00\x01", **user}), prefixed=True)
    seed("v5-topic-alias", V5,
         m.publish("alias/t", b"1", props={"TopicAlias": 1}) + m.publish("", b"2", props={"TopicAlias": 1}) +
         m.publish("alias/u", b"3", qos=1, pid=2, props={"TopicAlias": 1}), prefixed=True)
    seed("v5-shared-sub", V5,
         m.subscribe(6, [("$share/g/s/#", m.sub_options(1))], props={"SubscriptionIdentifier": 7}) +
         m.publish("s/x", b"shared", qos=1, pid=3), prefixed=True)
    seed("v5-sub-options", V5,
         m.subscribe(7, [("o/#", m.sub_options(2, no_local=True, retain_as_published=True, retain_handling=2))],
                     props={"SubscriptionIdentifier": 300, **user}) +
         m.publish("o/t", b"own", qos=2, pid=4, retain=True), prefixed=True)
    seed("v5-unsubscribe-props", V5, m.unsubscribe(8, ["o/#"], props=user), prefixed=True)
    seed("v5-acks-with-reasons", V5,
         m.publish("q", b"r", qos=1, pid=9) + m.puback(1, rc=0x10, props={"ReasonString": "no"}) +
         m.pubrec(2, rc=0x80) + m.pubrel(9, rc=0x92) + m.pubcomp(3, rc=0, props=user), prefixed=True)
    seed("v5-disconnect-props", V5, m.disconnect(0x04, props={"SessionExpiryInterval": 0, "ReasonString": "bye"}),
         prefixed=True)
    seed("v5-disconnect-will", V5,
         m.connect("wd", will=dict(topic="w/t", payload=b"gone", props={"MessageExpiryInterval": 5})) +
         m.disconnect(0x04))
    seed("v5-auth-reauth", V5, m.auth(0x19, props={"AuthenticationMethod": "X"}), prefixed=True)


def server_packets():
    """Packets only a server sends: the stand-alone decoders parse them, and
    the connection must refuse them."""
    for v in (V311, V5):
        n = vname(v)
        seed(f"{n}-connack", v, m.connack(True, 0, version=v, props={"ReceiveMaximum": 10} if v == V5 else None))
        seed(f"{n}-suback", v, m.suback(1, [0, 1, 2, 0x80], version=v), prefixed=True)
        seed(f"{n}-unsuback", v, m.unsuback(2, [0, 0x11], version=v), prefixed=True)
        seed(f"{n}-pingresp", v, m.pingresp(), prefixed=True)


def main():
    connects()
    every_packet_after_connect()
    flows()
    v5_features()
    server_packets()
    OUT.mkdir(exist_ok=True)
    for old in OUT.iterdir():
        if old.is_file() and old.name not in SEEDS:
            old.unlink()
    for name, data in sorted(SEEDS.items()):
        (OUT / name).write_bytes(data)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
