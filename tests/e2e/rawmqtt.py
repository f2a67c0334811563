"""A small raw MQTT 3.1.1 / 5.0 client over a TCP socket, for byte-level tests.

Self-contained (standard library only). It has:

* encoders for every packet type (``connect``, ``publish``, ``subscribe``, ...)
  that return ``bytes``; every encoder takes overrides that let a test build a
  deliberately wrong packet (fixed-header flags, remaining length, raw property
  bytes, raw topic bytes, ...);
* ``encode_properties`` for v5 properties, given as a list of ``(name, value)``
  pairs (order kept, duplicates allowed, so duplicated properties can be sent)
  or a dict; a name is a property name from ``PROPS`` or a numeric identifier;
* a decoder (``decode_packet``) for what a broker sends: CONNACK, PUBLISH,
  PUBACK/PUBREC/PUBREL/PUBCOMP, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH
  (and the client packets too, for completeness);
* ``RawClient``: a socket with ``send``, ``recv_packet(timeout)``,
  ``expect(type)`` and ``expect_closed(timeout)``.

Every wait is bounded. Nothing here acknowledges anything by itself: the test
decides which bytes go out.
"""
import socket
import struct
import time

# ---- packet types ----------------------------------------------------------
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

PACKET_NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
    7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
    12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH",
}

V31, V311, V5 = 3, 4, 5

# ---- v5 properties: name -> (identifier, type) -----------------------------
BYTE, U16, U32, VARINT, STR, BIN, PAIR = "byte", "u16", "u32", "varint", "str", "bin", "pair"
PROPS = {
    "PayloadFormatIndicator": (0x01, BYTE),
    "MessageExpiryInterval": (0x02, U32),
    "ContentType": (0x03, STR),
    "ResponseTopic": (0x08, STR),
    "CorrelationData": (0x09, BIN),
    "SubscriptionIdentifier": (0x0B, VARINT),
    "SessionExpiryInterval": (0x11, U32),
    "AssignedClientIdentifier": (0x12, STR),
    "ServerKeepAlive": (0x13, U16),
    "AuthenticationMethod": (0x15, STR),
    "AuthenticationData": (0x16, BIN),
    "RequestProblemInformation": (0x17, BYTE),
    "WillDelayInterval": (0x18, U32),
    "RequestResponseInformation": (0x19, BYTE),
    "ResponseInformation": (0x1A, STR),
    "ServerReference": (0x1C, STR),
    "ReasonString": (0x1F, STR),
    "ReceiveMaximum": (0x21, U16),
    "TopicAliasMaximum": (0x22, U16),
    "TopicAlias": (0x23, U16),
    "MaximumQoS": (0x24, BYTE),
    "RetainAvailable": (0x25, BYTE),
    "UserProperty": (0x26, PAIR),
    "MaximumPacketSize": (0x27, U32),
    "WildcardSubscriptionAvailable": (0x28, BYTE),
    "SubscriptionIdentifierAvailable": (0x29, BYTE),
    "SharedSubscriptionAvailable": (0x2A, BYTE),
}
PROP_BY_ID = {ident: (name, typ) for name, (ident, typ) in PROPS.items()}
MULTI_PROPS = ("UserProperty", "SubscriptionIdentifier")  # may appear more than once


class MalformedFromBroker(AssertionError):
    """The broker sent bytes this decoder cannot parse."""


class ConnectionClosed(AssertionError):
    """The broker closed the connection while a packet was expected."""


# ---- primitive encoders ----------------------------------------------------
def varint(n):
    """Variable Byte Integer encoding of n (no range check: 5+ bytes if asked)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def utf8(s):
    """A UTF-8 Encoded String: 2-byte length + bytes. `s` may be bytes (sent as is,
    so invalid UTF-8 can be built)."""
    b = s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")
    return u16(len(b)) + bytes(b)


def binary(b):
    b = b if isinstance(b, (bytes, bytearray)) else b.encode("utf-8")
    return u16(len(b)) + bytes(b)


def encode_property(name, value):
    """One property: identifier + value. `name` is a name from PROPS or an int
    identifier; for an unknown identifier `value` must be bytes (sent raw)."""
    if isinstance(name, int):
        if name not in PROP_BY_ID:
            return varint(name) + bytes(value)
        name = PROP_BY_ID[name][0]
    ident, typ = PROPS[name]
    if isinstance(value, (bytes, bytearray)) and typ not in (STR, BIN):
        return varint(ident) + bytes(value)  # raw value bytes
    if typ == BYTE:
        v = bytes([value])
    elif typ == U16:
        v = u16(value)
    elif typ == U32:
        v = u32(value)
    elif typ == VARINT:
        v = varint(value)
    elif typ == STR:
        v = utf8(value)
    elif typ == BIN:
        v = binary(value)
    else:  # PAIR
        v = utf8(value[0]) + utf8(value[1])
    return varint(ident) + v


def encode_properties(props):
    """Property Length + properties. `props`: None, a dict, or a list of
    (name, value) pairs; list values of UserProperty / SubscriptionIdentifier in a
    dict expand to several properties."""
    if props is None:
        return b"\x00"
    items = props.items() if isinstance(props, dict) else props
    body = bytearray()
    for name, value in items:
        if name in MULTI_PROPS and isinstance(value, list):
            for v in value:
                body += encode_property(name, v)
        else:
            body += encode_property(name, value)
    return varint(len(body)) + bytes(body)


def packet(ptype, flags, body, remaining_length=None):
    """Fixed header + body. `remaining_length` overrides the encoded length
    (an int, or raw bytes for the whole length field)."""
    if remaining_length is None:
        rl = varint(len(body))
    elif isinstance(remaining_length, (bytes, bytearray)):
        rl = bytes(remaining_length)
    else:
        rl = varint(remaining_length)
    return bytes([(ptype << 4) | (flags & 0x0F)]) + rl + bytes(body)


# ---- packet encoders -------------------------------------------------------
def connect(client_id="", version=V5, clean=True, keepalive=60, props=None, will=None,
            username=None, password=None, protocol_name=None, protocol_level=None,
            connect_flags=None, reserved_flag=False, will_qos=None, will_retain=None,
            props_bytes=None, flags=0, remaining_length=None, body_suffix=b""):
    """CONNECT. `will`: dict(topic=, payload=, qos=, retain=, props=).
    `will_qos` / `will_retain` set those flag bits even without a will;
    `connect_flags` overrides the whole flags byte."""
    if protocol_name is None:
        protocol_name = "MQIsdp" if version == V31 else "MQTT"
    level = version if protocol_level is None else protocol_level
    cf = 0
    if clean:
        cf |= 0x02
    if reserved_flag:
        cf |= 0x01
    if will is not None:
        cf |= 0x04 | ((will.get("qos", 0) & 3) << 3) | (0x20 if will.get("retain") else 0)
    if will_qos is not None:
        cf |= (will_qos & 3) << 3
    if will_retain:
        cf |= 0x20
    if username is not None:
        cf |= 0x80
    if password is not None:
        cf |= 0x40
    if connect_flags is not None:
        cf = connect_flags
    body = bytearray(utf8(protocol_name) + bytes([level, cf]) + u16(keepalive))
    if version == V5:
        body += props_bytes if props_bytes is not None else encode_properties(props)
    body += utf8(client_id)
    if will is not None:
        if version == V5:
            body += encode_properties(will.get("props"))
        body += utf8(will["topic"]) + binary(will.get("payload", b""))
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    body += body_suffix
    return packet(CONNECT, flags, body, remaining_length)


def connack(session_present=False, rc=0, props=None, version=V5):
    body = bytes([1 if session_present else 0, rc])
    if version == V5:
        body += encode_properties(props)
    return packet(CONNACK, 0, body)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None, props=None,
            version=V5, props_bytes=None, flags=None, remaining_length=None):
    """PUBLISH. `topic` may be bytes (raw). The packet identifier (`pid`, default 1)
    is present when the QoS bits of the flags are non-zero; `flags` overrides the
    whole flag nibble (e.g. 0x06 for QoS 3)."""
    if flags is None:
        flags = (0x08 if dup else 0) | ((qos & 3) << 1) | (0x01 if retain else 0)
    body = bytearray(utf8(topic))
    if (flags >> 1) & 3:
        body += u16(1 if pid is None else pid)
    if version == V5:
        body += props_bytes if props_bytes is not None else encode_properties(props)
    body += payload if isinstance(payload, (bytes, bytearray)) else payload.encode()
    return packet(PUBLISH, flags, body, remaining_length)


def _ack(ptype, default_flags, pid, rc, props, version, flags, remaining_length):
    body = bytearray(u16(pid))
    if version == V5 and (rc is not None or props is not None):
        body.append(0 if rc is None else rc)
        if props is not None:
            body += encode_properties(props)
    return packet(ptype, default_flags if flags is None else flags, body, remaining_length)


def puback(pid, rc=None, props=None, version=V5, flags=None, remaining_length=None):
    return _ack(PUBACK, 0, pid, rc, props, version, flags, remaining_length)


def pubrec(pid, rc=None, props=None, version=V5, flags=None, remaining_length=None):
    return _ack(PUBREC, 0, pid, rc, props, version, flags, remaining_length)


def pubrel(pid, rc=None, props=None, version=V5, flags=None, remaining_length=None):
    """PUBREL: fixed-header flags must be 0b0010; pass flags=0 for a wrong one."""
    return _ack(PUBREL, 2, pid, rc, props, version, flags, remaining_length)


def pubcomp(pid, rc=None, props=None, version=V5, flags=None, remaining_length=None):
    return _ack(PUBCOMP, 0, pid, rc, props, version, flags, remaining_length)


def sub_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0, reserved=0):
    return (qos & 3) | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | \
        ((retain_handling & 3) << 4) | ((reserved & 3) << 6)


def subscribe(pid, filters, props=None, version=V5, flags=2, props_bytes=None,
              remaining_length=None):
    """SUBSCRIBE. `filters`: list of (filter, options byte) or bare filter strings
    (QoS 0). An empty list builds the (invalid) packet without topic filters."""
    body = bytearray(u16(pid))
    if version == V5:
        body += props_bytes if props_bytes is not None else encode_properties(props)
    for f in filters:
        if isinstance(f, tuple):
            body += utf8(f[0]) + bytes([f[1]])
        else:
            body += utf8(f) + b"\x00"
    return packet(SUBSCRIBE, flags, body, remaining_length)


def suback(pid, codes, props=None, version=V5):
    body = u16(pid) + (encode_properties(props) if version == V5 else b"") + bytes(codes)
    return packet(SUBACK, 0, body)


def unsubscribe(pid, filters, props=None, version=V5, flags=2, remaining_length=None):
    body = bytearray(u16(pid))
    if version == V5:
        body += encode_properties(props)
    for f in filters:
        body += utf8(f)
    return packet(UNSUBSCRIBE, flags, body, remaining_length)


def unsuback(pid, codes=(), props=None, version=V5):
    body = u16(pid)
    if version == V5:
        body += encode_properties(props) + bytes(codes)
    return packet(UNSUBACK, 0, body)


def pingreq(flags=0):
    return packet(PINGREQ, flags, b"")


def pingresp():
    return packet(PINGRESP, 0, b"")


def disconnect(rc=None, props=None, version=V5, flags=0, props_bytes=None):
    body = bytearray()
    if version == V5 and (rc is not None or props is not None or props_bytes is not None):
        body.append(0 if rc is None else rc)
        if props_bytes is not None:
            body += props_bytes
        elif props is not None:
            body += encode_properties(props)
    return packet(DISCONNECT, flags, body)


def auth(rc=0, props=None, flags=0):
    body = bytearray([rc])
    body += encode_properties(props)
    return packet(AUTH, flags, body)


# ---- decoder ---------------------------------------------------------------
class Props(dict):
    """Decoded properties by name; UserProperty and SubscriptionIdentifier are
    lists. `order` keeps every (name, value) in wire order."""

    def __init__(self):
        super().__init__()
        self.order = []


class _Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if n > self.left():
            raise MalformedFromBroker(f"need {n} bytes, {self.left()} left in {self.data!r}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def varint(self):
        mult, value = 1, 0
        for _ in range(4):
            b = self.byte()
            value += (b & 0x7F) * mult
            if not b & 0x80:
                return value
            mult *= 128
        raise MalformedFromBroker("variable byte integer longer than 4 bytes")

    def binary(self):
        return self.take(self.u16())

    def string(self):
        raw = self.binary()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedFromBroker(f"invalid UTF-8 from broker: {raw!r}")

    def rest(self):
        return self.take(self.left())


def decode_properties(r):
    props = Props()
    length = r.varint()
    sub = _Reader(r.take(length))
    while sub.left():
        ident = sub.varint()
        if ident not in PROP_BY_ID:
            raise MalformedFromBroker(f"unknown property 0x{ident:02x}")
        name, typ = PROP_BY_ID[ident]
        if typ == BYTE:
            v = sub.byte()
        elif typ == U16:
            v = sub.u16()
        elif typ == U32:
            v = sub.u32()
        elif typ == VARINT:
            v = sub.varint()
        elif typ == STR:
            v = sub.string()
        elif typ == BIN:
            v = sub.binary()
        else:
            v = (sub.string(), sub.string())
        props.order.append((name, v))
        if name in MULTI_PROPS:
            props.setdefault(name, []).append(v)
        else:
            if name in props:
                raise MalformedFromBroker(f"duplicated property {name}")
            props[name] = v
    return props


class Packet:
    """A decoded packet. Always: type, name, flags, body (raw). Depending on type:
    session_present, reason_code, props, topic, qos, dup, retain, pid, payload,
    reason_codes."""

    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.name = PACKET_NAMES.get(ptype, f"TYPE{ptype}")
        self.flags = flags
        self.body = body
        self.props = Props()
        self.reason_code = None
        self.pid = None

    def __repr__(self):
        skip = ("type", "flags", "body", "name")
        fields = {k: v for k, v in self.__dict__.items() if k not in skip and v not in (None, {})}
        return f"<{self.name} flags={self.flags:#x} {fields}>"


def decode_packet(first, body, version=V5):
    """Decode one packet from its first byte and body (after the remaining length)."""
    ptype, flags = first >> 4, first & 0x0F
    p = Packet(ptype, flags, body)
    r = _Reader(body)
    v5 = version == V5
    if ptype == CONNACK:
        ack_flags = r.byte()
        p.session_present = bool(ack_flags & 1)
        p.reason_code = r.byte()
        if r.left():  # properties (also accepted on a connection not yet known to be v5)
            p.props = decode_properties(r)
    elif ptype == PUBLISH:
        p.dup, p.qos, p.retain = bool(flags & 8), (flags >> 1) & 3, bool(flags & 1)
        p.topic = r.string()
        if p.qos > 0:
            p.pid = r.u16()
        if v5:
            p.props = decode_properties(r)
        p.payload = r.rest()
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.pid = r.u16()
        p.reason_code = 0
        if v5 and r.left():
            p.reason_code = r.byte()
            if r.left():
                p.props = decode_properties(r)
    elif ptype in (SUBACK, UNSUBACK):
        p.pid = r.u16()
        if v5:
            p.props = decode_properties(r)
        p.reason_codes = list(r.rest())
    elif ptype in (DISCONNECT, AUTH):
        p.reason_code = 0
        if r.left():
            p.reason_code = r.byte()
            if r.left():
                p.props = decode_properties(r)
    elif ptype == SUBSCRIBE:
        p.pid = r.u16()
        if v5:
            p.props = decode_properties(r)
        p.filters = []
        while r.left():
            p.filters.append((r.string(), r.byte()))
    elif ptype == UNSUBSCRIBE:
        p.pid = r.u16()
        if v5:
            p.props = decode_properties(r)
        p.filters = []
        while r.left():
            p.filters.append(r.string())
    elif ptype in (PINGREQ, PINGRESP):
        pass
    elif ptype == CONNECT:
        p.protocol_name = r.string()
        p.protocol_level = r.byte()
        p.connect_flags = r.byte()
        p.keepalive = r.u16()
        if p.protocol_level == V5:
            p.props = decode_properties(r)
        p.client_id = r.string()
    else:
        raise MalformedFromBroker(f"packet type {ptype}")
    if ptype not in (CONNECT,) and r.left():
        raise MalformedFromBroker(f"{p.name}: {r.left()} trailing bytes")
    return p


# ---- the client ------------------------------------------------------------
class RawClient:
    """A TCP connection to the broker. Nothing is sent unless a test asks.

    `version` selects how received packets are decoded (properties or not); it is
    set by `connect()` and can be changed at any time."""

    def __init__(self, host, port=None, version=V5, timeout=5.0, rcvbuf=None):
        if port is None:  # a conftest Broker
            host, port = host.host, host.port
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:
            # A small receive buffer (and so TCP window) must be set before the
            # handshake: a client that reads slowly, or not at all.
            self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.version = version
        self.timeout = timeout
        self.buf = bytearray()
        self.closed = False
        self.discarded = []  # packets read by expect_closed() before the close

    # -- sending --
    def send(self, data):
        self.sock.sendall(data)

    def connect(self, client_id="", version=V5, expect_connack=True, timeout=None, **kw):
        """Send CONNECT; by default wait for the CONNACK and return it."""
        self.version = version
        self.send(connect(client_id, version=version, **kw))
        if not expect_connack:
            return None
        return self.expect(CONNACK, timeout)

    def publish(self, topic, payload=b"", **kw):
        kw.setdefault("version", self.version)
        self.send(publish(topic, payload, **kw))

    def subscribe(self, pid, filters, props=None, expect_suback=True, timeout=None, **kw):
        self.send(subscribe(pid, filters, props=props, version=self.version, **kw))
        if expect_suback:
            p = self.expect(SUBACK, timeout)
            assert p.pid == pid, p
            return p
        return None

    def unsubscribe(self, pid, filters, **kw):
        self.send(unsubscribe(pid, filters, version=self.version, **kw))

    def puback(self, pid, rc=None, props=None):
        self.send(puback(pid, rc, props, version=self.version))

    def pubrec(self, pid, rc=None, props=None):
        self.send(pubrec(pid, rc, props, version=self.version))

    def pubrel(self, pid, rc=None, props=None):
        self.send(pubrel(pid, rc, props, version=self.version))

    def pubcomp(self, pid, rc=None, props=None):
        self.send(pubcomp(pid, rc, props, version=self.version))

    def pingreq(self):
        self.send(pingreq())

    def disconnect(self, rc=None, props=None):
        try:
            self.send(disconnect(rc, props, version=self.version))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving --
    def _fill(self, deadline):
        """Read more bytes; False on timeout; raises ConnectionClosed on EOF/reset."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnectionClosed("connection closed by broker")
        self.buf += chunk
        return True

    def _parse_one(self):
        """(first byte, body) if a whole packet is buffered, else None."""
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            i += 1
            if not b & 0x80:
                break
            mult *= 128
            if i > 4:
                raise MalformedFromBroker("remaining length longer than 4 bytes")
        if len(self.buf) < i + length:
            return None
        first = self.buf[0]
        body = bytes(self.buf[i:i + length])
        del self.buf[:i + length]
        return first, body

    def recv_packet(self, timeout=None):
        """The next packet, or None when none arrives within `timeout` seconds.
        Raises ConnectionClosed if the broker closes the connection first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            one = self._parse_one()
            if one is not None:
                return decode_packet(one[0], one[1], self.version)
            if self.closed:
                raise ConnectionClosed("connection closed by broker")
            if not self._fill(deadline):
                return None

    def expect(self, ptype, timeout=None):
        """The next packet, asserting that it is of type `ptype`."""
        p = self.recv_packet(timeout)
        assert p is not None, f"no {PACKET_NAMES[ptype]} within timeout"
        assert p.type == ptype, f"expected {PACKET_NAMES[ptype]}, got {p!r}"
        return p

    def recv_all(self, timeout=0.5):
        """Every packet arriving until `timeout` seconds pass without one."""
        out = []
        while True:
            p = self.recv_packet(timeout)
            if p is None:
                return out
            out.append(p)

    def recv_n(self, n, timeout=None, settle=0.3):
        """Packets until `n` have arrived (within `timeout`), then any more arriving
        within `settle` seconds, so that extra packets are seen too. Returns them all
        (fewer than `n` when the time ran out)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = []
        while len(out) < n:
            p = self.recv_packet(max(0.0, deadline - time.monotonic()))
            if p is None:
                return out
            out.append(p)
        return out + self.recv_all(settle)

    def expect_closed(self, timeout=None):
        """True when the broker closes the connection within `timeout` seconds,
        False otherwise. Packets read meanwhile go to `self.discarded`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                p = self.recv_packet(max(0.0, deadline - time.monotonic()))
                if p is None:
                    return False
                self.discarded.append(p)
        except ConnectionClosed:
            return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- helpers for the tests -------------------------------------------------
_health_ids = iter(range(1, 1 << 30))


def assert_broker_healthy(broker, timeout=5.0):
    """The broker process is alive and still serves new clients: a v5 subscriber
    and a v3.1.1 publisher connect, and a QoS 1 message goes from one to the other."""
    assert broker.alive(), "broker process died:\n" + broker.log()[-3000:]
    n = next(_health_ids)
    topic = f"health/{n}"
    with RawClient(broker, timeout=timeout) as sub, RawClient(broker, timeout=timeout) as pub:
        ack = sub.connect(f"health-sub-{n}", version=V5)
        assert ack.reason_code == 0, ack
        assert sub.subscribe(1, [(topic, 1)]).reason_codes == [1]
        ack = pub.connect(f"health-pub-{n}", version=V311)
        assert ack.reason_code == 0, ack
        pub.publish(topic, b"ping", qos=1, pid=7)
        assert pub.expect(PUBACK).pid == 7
        m = sub.expect(PUBLISH)
        assert (m.topic, m.payload, m.qos) == (topic, b"ping", 1), m
        sub.puback(m.pid)
        sub.disconnect()
        pub.disconnect()
    assert broker.alive(), "broker process died:\n" + broker.log()[-3000:]


def open_client(broker, client_id, version=V5, timeout=5.0, **connect_kw):
    """A connected RawClient (asserts a successful CONNACK)."""
    c = RawClient(broker, version=version, timeout=timeout)
    ack = c.connect(client_id, version=version, **connect_kw)
    assert ack.reason_code == 0, ack
    c.connack = ack
    return c


def expect_disconnect(c, code, timeout=3.0):
    """v5: the broker sends DISCONNECT with `code`, then closes the connection."""
    try:
        p = c.recv_packet(timeout)
    except ConnectionClosed:
        raise AssertionError(f"connection closed without DISCONNECT (expected reason 0x{code:02x})")
    assert p is not None, f"no DISCONNECT (expected reason 0x{code:02x}) and no close"
    assert p.type == DISCONNECT, f"expected DISCONNECT 0x{code:02x}, got {p!r}"
    assert p.reason_code == code, f"DISCONNECT reason 0x{p.reason_code:02x}, expected 0x{code:02x}"
    assert c.expect_closed(timeout), "connection still open after DISCONNECT"
    return p


def expect_silent_close(c, timeout=3.0):
    """The broker closes the connection without sending any packet first."""
    assert c.expect_closed(timeout), "connection not closed"
    assert c.discarded == [], f"expected no packet before the close, got {c.discarded}"


def expect_error_close(c, timeout=3.0):
    """The broker closes the connection; whatever it sent before is a refusal:
    DISCONNECT or CONNACK with a reason code >= 0x80 (v5) or a non-zero 3.1.1
    CONNACK return code."""
    assert c.expect_closed(timeout), "connection not closed"
    for p in c.discarded:
        assert p.type in (DISCONNECT, CONNACK), f"unexpected {p!r} before the close"
        if c.version == V5:
            assert p.reason_code >= 0x80, p
        else:
            assert p.type == CONNACK and p.reason_code != 0, p
