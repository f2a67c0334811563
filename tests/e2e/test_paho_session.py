"""Session state: clean session / clean start, v5 Session Expiry Interval,
persistent_client_expiration."""
import time

from clients import V311, V5, VERSIONS, PacketTypes, props
from clients import client  # noqa: F401  (fixture)


def _connect_persistent(client, broker, cid, version, clean, expiry=300):
    if version == V5:
        return client(broker, cid, V5, clean=clean, session_expiry=expiry)
    return client(broker, cid, V311, clean=clean)


@VERSIONS
def test_session_present_only_for_existing_session(broker, client, version):
    c = _connect_persistent(client, broker, "sess", version, clean=False)
    assert c.connack.session_present is False  # nothing stored yet
    c.subscribe("sess/t", 1)
    c.disconnect()
    c = _connect_persistent(client, broker, "sess", version, clean=False)
    assert c.connack.session_present is True
    c.disconnect()


@VERSIONS
def test_clean_session_discards_stored_state(broker, client, version):
    c = _connect_persistent(client, broker, "sess", version, clean=False)
    c.subscribe("sess/t", 1)
    c.disconnect()
    p = client(broker, "pub", version)
    p.publish("sess/t", b"stored", 1)
    # 3.1.1 [MQTT-3.1.2-6] / 5.0 [MQTT-3.1.2-4]: clean start discards the session
    c = _connect_persistent(client, broker, "sess", version, clean=True)
    assert c.connack.session_present is False  # [MQTT-3.2.2-1] / [MQTT-3.2.2-2]
    c.expect_none(0.5)  # neither the queued message ...
    p.publish("sess/t", b"live", 1)
    c.expect_none(0.3)  # ... nor the subscription survived
    c.disconnect()
    c = _connect_persistent(client, broker, "sess", version, clean=False)
    assert c.connack.session_present is (version == V5)  # 3.1.1: clean session state ends with it


def test_v311_clean_session_state_not_kept_after_disconnect(broker, client):
    c = client(broker, "cs", V311, clean=True)
    c.subscribe("cs/t", 1)
    c.disconnect()
    c = client(broker, "cs", V311, clean=False)
    assert c.connack.session_present is False


def test_v5_session_expiry_zero_ends_session_at_disconnect(broker, client):
    c = client(broker, "se0", V5, session_expiry=0)
    c.subscribe("se0/t", 1)
    c.disconnect()
    c = client(broker, "se0", V5, clean=False, session_expiry=0)
    assert c.connack.session_present is False


def test_v5_session_expiry_absent_means_zero(broker, client):
    c = client(broker, "se-", V5)  # no Session Expiry Interval property
    c.subscribe("se/t", 1)
    c.disconnect()
    c = client(broker, "se-", V5, clean=False)
    assert c.connack.session_present is False


def test_v5_session_expires(broker, client):
    c = client(broker, "short", V5, session_expiry=1)
    c.subscribe("short/t", 1)
    c.disconnect()
    # still there right away
    c = client(broker, "short", V5, clean=False, session_expiry=1)
    assert c.connack.session_present is True
    c.disconnect()
    time.sleep(3)  # well past the 1 s expiry
    c = client(broker, "short", V5, clean=False, session_expiry=1)
    assert c.connack.session_present is False
    p = client(broker, "pub", V5)
    p.publish("short/t", b"x", 1)
    c.expect_none(0.3)  # the subscription went with the session


def test_v5_session_expiry_raised_on_disconnect(broker, client):
    c = client(broker, "raise", V5, session_expiry=1)
    c.subscribe("raise/t", 1)
    c.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=300))
    time.sleep(2.5)  # past the CONNECT value, well within the DISCONNECT one
    p = client(broker, "pub", V5)
    p.publish("raise/t", b"kept", 1)
    c = client(broker, "raise", V5, clean=False, session_expiry=1)
    assert c.connack.session_present is True
    assert c.get().payload == b"kept"


def test_v5_session_expiry_lowered_to_zero_on_disconnect(broker, client):
    c = client(broker, "lower", V5, session_expiry=300)
    c.subscribe("lower/t", 1)
    c.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
    c = client(broker, "lower", V5, clean=False, session_expiry=300)
    assert c.connack.session_present is False


def test_v5_session_resumed_keeps_subscription_options(broker, client):
    c = client(broker, "opts", V5, session_expiry=300)
    c.subscribe("opts/t", 1, no_local=True, sub_id=7)
    c.disconnect()
    c = client(broker, "opts", V5, clean=False, session_expiry=300)
    assert c.connack.session_present is True
    c.publish("opts/t", b"own", 1)  # still no-local
    other = client(broker, "other", V5)
    other.publish("opts/t", b"theirs", 1)
    m = c.get()
    assert m.payload == b"theirs"
    assert m.prop("SubscriptionIdentifier") == [7]
    c.expect_none(0.3)


@VERSIONS
def test_session_survives_across_protocol_versions(broker, client, version):
    other = V5 if version == V311 else V311
    c = _connect_persistent(client, broker, "xv", version, clean=False)
    c.subscribe("xv/t", 1)
    c.disconnect()
    c = _connect_persistent(client, broker, "xv", other, clean=False)
    assert c.connack.session_present is True


def test_persistent_client_expiration_keeps_recent_sessions(broker_factory, client):
    # The expiry itself cannot be tested quickly: the smallest unit Mosquitto
    # (and strata) accept for this key is an hour.
    b = broker_factory(conf_lines=["persistent_client_expiration 1h"])
    c = client(b, "pce", V311, clean=False)
    c.subscribe("pce/t", 1)
    c.disconnect()
    p = client(b, "pub", V311)
    p.publish("pce/t", b"held", 1)
    c = client(b, "pce", V311, clean=False)
    assert c.connack.session_present is True
    assert c.get().payload == b"held"

