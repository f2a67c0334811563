"""Password files and ACL files as Mosquitto users have them: files made by
Debian's mosquitto_passwd (both hash kinds) and by `strata passwd`, clients
mosquitto_pub/mosquitto_sub (-u/-P), paho-mqtt and raw packets; allowed and
denied cases for CONNECT, PUBLISH, SUBSCRIBE, deliveries (retained messages
and wills included), per-listener settings, SIGHUP reloads and the back-off
after failed logins."""
import shutil
import signal
import subprocess
import time

import pytest

from clients import V311, V5, MosquittoSub, mosquitto_pub
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND, STRATA_BIN
from rawmqtt import CONNACK, PUBACK, SUBACK, RawClient

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
# strata's back-off would block the address after the refusals these tests provoke on purpose.
NO_BACKOFF = "failed_login_limit 0" if BROKER_KIND == "strata" else "# (Mosquitto has no failed-login back-off)"


def passwd(*args):
    """mosquitto_passwd with these arguments."""
    subprocess.run([MOSQUITTO_PASSWD, *map(str, args)], check=True, capture_output=True)


def strata_passwd(*args, stdin=None):
    return subprocess.run([str(STRATA_BIN), "passwd", *map(str, args)], input=stdin, capture_output=True, text=True)


@pytest.fixture
def pwfile(tmp_path):
    f = tmp_path / "passwords"
    passwd("-c", "-b", f, "alice", "alice-pw")               # $7$ (PBKDF2), mosquitto_passwd's default
    passwd("-b", "-H", "sha512", f, "bob", "bob-pw")        # $6$
    passwd("-b", f, "sensor-1", "s1-pw")
    return f


def wait_log(b, text, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in b.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{b.log()[-3000:]}")


# ---- passwords -----------------------------------------------------------------

@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_passwd_file_with_mosquitto_clients(broker_factory, pwfile, version):
    b = broker_factory(anonymous=False, conf_lines=[f"password_file {pwfile}", "allow_anonymous false"])
    sub = MosquittoSub(b, "pw/#", version=version, qos=1, args=["-u", "alice", "-P", "alice-pw"])
    try:
        mosquitto_pub(b, "pw/1", "from-bob", version=version, qos=1, args=["-u", "bob", "-P", "bob-pw"])
        assert sub.expect(1)[0]["payload"] == "from-bob"
        for args in (["-u", "bob", "-P", "wrong"], ["-u", "nobody", "-P", "bob-pw"], ["-u", "alice"], []):
            p = mosquitto_pub(b, "pw/1", "x", version=version, args=args, check=False)
            assert p.returncode != 0 and "not authori" in p.output.lower(), (args, p.output)
        sub.expect_none(0.3)
    finally:
        sub.stop()


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_refusal_codes_as_mosquitto(broker_factory, pwfile, client, version):
    b = broker_factory(anonymous=False, conf_lines=[f"password_file {pwfile}", "allow_anonymous false",
                                                    NO_BACKOFF])
    ok = client(b, "ok", version, username="alice", password="alice-pw")
    assert ok.connack.reason == 0
    for creds in (dict(username="alice", password="nope"), dict(username="mallory", password="x"), {}):
        c = client(b, "bad", version, expect=None, **creds)
        # Mosquitto 2.0: "not authorized" (3.1.1 return code 5), not "bad username or password"
        assert c.connack.reason == (5 if version == V311 else 0x87), (creds, c.connack)


def test_anonymous_clients_beside_a_password_file(broker_factory, pwfile, client):
    b = broker_factory(conf_lines=[f"password_file {pwfile}", "allow_anonymous true", NO_BACKOFF])
    client(b, "anon", V5)  # no username: anonymous, allowed
    bad = client(b, "bad", V5, expect=None, username="alice", password="wrong")
    assert bad.connack.reason == 0x87  # a username must still match


def test_strata_passwd_makes_files_mosquitto_reads_and_the_other_way(tmp_path, broker_factory, client):
    f = tmp_path / "pw"
    assert strata_passwd("-c", "-b", f, "carol", "carol-pw").returncode == 0
    assert strata_passwd("-b", "-H", "sha512", f, "dave", "dave-pw").returncode == 0
    assert strata_passwd(f, "erin", stdin="erin-pw\n").returncode == 0   # password from stdin
    passwd("-b", f, "frank", "frank-pw")                                   # mosquitto_passwd edits our file
    assert strata_passwd("-D", f, "dave").returncode == 0
    assert strata_passwd("-D", f, "nobody").returncode != 0
    assert (f.stat().st_mode & 0o077) == 0, oct(f.stat().st_mode)          # owner only
    lines = f.read_text().splitlines()
    assert [l.split(":")[0] for l in lines] == ["carol", "erin", "frank"]
    assert lines[0].split(":")[1].startswith("$7$101$")

    plain = tmp_path / "plain"
    plain.write_text("gina:gina-pw\n")
    assert strata_passwd("-U", plain).returncode == 0
    assert plain.read_text().startswith("gina:$7$")
    usage = strata_passwd()
    assert usage.returncode != 0 and "-U passwordfile" in usage.stderr

    for conf_file, users in ((f, [("carol", "carol-pw"), ("erin", "erin-pw"), ("frank", "frank-pw")]),
                             (plain, [("gina", "gina-pw")])):
        b = broker_factory(anonymous=False, conf_lines=[f"password_file {conf_file}", "allow_anonymous false"])
        for user, pw in users:
            client(b, user, V5, username=user, password=pw)
        if BROKER_KIND == "strata":
            gone = client(b, "dave", V5, expect=None, username="dave", password="dave-pw")
            assert gone.connack.reason == 0x87


def test_password_file_lines_that_are_no_entry_are_skipped_with_a_warning(broker_factory, client, pwfile, tmp_path):
    # As Mosquitto: the broker starts, the other users log in, and a skipped
    # user cannot: a plain password, a line without a colon, an empty hash,
    # and (strata only) a user listed twice.
    good = pwfile.read_text()
    twice = good.splitlines()[0].replace("alice:", "dup:")
    f = tmp_path / "mixed"
    f.write_text(good + "plain:text\nnocolon\nempty:\n" + twice + "\n" + twice + "\n")
    b = broker_factory(anonymous=False, conf_lines=[f"password_file {f}", "allow_anonymous false", NO_BACKOFF])
    client(b, "a", V5, username="alice", password="alice-pw")
    client(b, "b", V311, username="bob", password="bob-pw")
    # Mosquitto takes one of a twice-listed user's entries; strata neither (docs/mosquitto-compat.md).
    skipped = [("plain", "text"), ("empty", "")] + ([("dup", "alice-pw")] if BROKER_KIND == "strata" else [])
    for user, pw in skipped:
        refused = client(b, f"c-{user}", V5, expect=None, username=user, password=pw)
        assert refused.connack.reason == 0x87, (user, refused.connack)
    if BROKER_KIND == "strata":
        lines = len(good.splitlines())
        log = b.log()
        for n, why in ((1, "user 'plain': not a password hash"), (2, "expected username:hash"),
                       (3, "user 'empty':"), (5, "user 'dup' is listed twice")):
            assert f"{f}:{lines + n}: {why}" in log, log[-3000:]
        conf = tmp_path / "s.conf"
        conf.write_text(f"listener 0 127.0.0.1\npassword_file {f}\n")
        check = subprocess.run([str(STRATA_BIN), "-c", str(conf), "--check"], capture_output=True, text=True)
        assert check.returncode == 0 and f"Warning: {f}:{lines + 1}: user 'plain'" in check.stderr, check.stderr


def test_an_empty_or_absent_password_never_matches(broker_factory, tmp_path):
    # Whatever the stored hash (here the hash of the empty password itself).
    f = tmp_path / "pw"
    passwd("-c", "-b", f, "nopw", "")
    b = broker_factory(anonymous=False, conf_lines=[f"password_file {f}", "allow_anonymous false", NO_BACKOFF])
    for version in (V311, V5):
        with RawClient(b, version=version) as empty:
            ack = empty.connect("e", version=version, username="nopw", password=b"")
            assert ack.reason_code == (0x87 if version == V5 else 5), ack
        with RawClient(b, version=version) as absent:
            ack = absent.connect("a", version=version, username="nopw")
            assert ack.reason_code == (0x87 if version == V5 else 5), ack


@pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's own keys and files")
def test_unreadable_acl_file_stops_startup_with_file_and_line(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text(f"listener 0 127.0.0.1\nacl_file {tmp_path / 'missing.acl'}\n")
    check = subprocess.run([str(STRATA_BIN), "-c", str(conf), "--check"], capture_output=True, text=True)
    assert check.returncode == 1 and f"{conf}:2: acl_file: cannot read" in check.stderr, check.stderr
    assert "missing.acl" in check.stderr


@pytest.mark.skipif(BROKER_KIND != "strata", reason="strata listener set-up")
def test_per_listener_settings(broker_factory, pwfile, client):
    b = broker_factory(listener=False, anonymous=False, conf_lines=[
        "per_listener_settings true",
        "listener 0 127.0.0.1", f"password_file {pwfile}", "allow_anonymous false",
        "listener 0 127.0.0.1", "allow_anonymous true",
    ])
    secured, open_port = b.ports[0], b.ports[1]
    assert client(b, "a1", V5, port=secured, expect=None).connack.reason == 0x87
    client(b, "a2", V5, port=secured, username="alice", password="alice-pw")
    client(b, "a3", V5, port=open_port)  # anonymous there


@pytest.mark.skipif(BROKER_KIND != "strata", reason="SIGHUP reload of strata")
def test_sighup_rereads_the_password_file(broker_factory, pwfile, client):
    b = broker_factory(anonymous=False, conf_lines=[f"password_file {pwfile}", "allow_anonymous false",
                                                    NO_BACKOFF])
    assert client(b, "h1", V5, expect=None, username="henry", password="henry-pw").connack.reason == 0x87
    passwd("-b", pwfile, "henry", "henry-pw")
    passwd("-D", pwfile, "bob")
    b.signal(signal.SIGHUP)
    wait_log(b, "Reloading config.")
    deadline = time.monotonic() + 5
    while client(b, "h2", V5, expect=None, username="henry", password="henry-pw").connack.reason != 0:
        assert time.monotonic() < deadline, "new user not accepted after SIGHUP"
        time.sleep(0.1)
    assert client(b, "h3", V5, expect=None, username="bob", password="bob-pw").connack.reason == 0x87


@pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's failed-login back-off")
def test_failed_logins_back_off_per_address(broker_factory, pwfile, client):
    b = broker_factory(anonymous=False, conf_lines=[f"password_file {pwfile}", "allow_anonymous false",
                                                    "failed_login_limit 3", "failed_login_block_max 2"])
    for i in range(3):
        assert client(b, f"guess{i}", V5, expect=None, username="alice", password=f"guess{i}").connack.reason == 0x87
    wait_log(b, "further connections from this address are refused for 1000 ms")
    # Blocked: the answer is delayed, not changed. Even the right password gets
    # CONNACK "not authorized" (5.0: 0x87, 3.1.1: 5), once the block is over;
    # the connection is never reset without one.
    started = time.monotonic()
    blocked = {V5: RawClient(b, version=V5, timeout=5), V311: RawClient(b, version=V311, timeout=5)}
    for version, c in blocked.items():
        c.connect(f"blocked-{version}", version=version, username="alice", password=b"alice-pw", expect_connack=False)
    for version, code in ((V5, 0x87), (V311, 5)):
        ack = blocked[version].expect(CONNACK)
        assert ack.reason_code == code, ack
        assert blocked[version].expect_closed(3.0)
        blocked[version].close()
    assert time.monotonic() - started > 0.1, "refused at once: the back-off did not delay the answer"
    wait_log(b, "too many failed logins from this address")
    client(b, "right", V5, username="alice", password="alice-pw")  # unblocked, and the count starts again
    for i in range(2):
        assert client(b, f"again{i}", V5, expect=None, username="alice", password="x").connack.reason == 0x87
    client(b, "still-ok", V5, username="alice", password="alice-pw")


# ---- ACLs ------------------------------------------------------------------------

ACL = """
# anonymous clients may only read the public tree
topic read public/#

user alice
topic readwrite sensors/#
topic deny sensors/secret/#
topic write cmd/#
topic read $SYS/#

user bob
topic read sensors/+/temp
topic read cmd/#

pattern readwrite clients/%c/#
pattern read users/%u/inbox
"""


@pytest.fixture
def aclb(broker_factory, pwfile, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    b = broker_factory(conf_lines=[f"password_file {pwfile}", f"acl_file {acl}", "allow_anonymous true",
                                   NO_BACKOFF])
    b.acl_path = acl
    return b


def user(client, b, name, version=V5, client_id=None, **kw):
    return client(b, client_id or f"{name}-{version}", version, username=name, password=f"{name}-pw", **kw)


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_publish_allowed_and_denied(aclb, client, version):
    watcher = user(client, aclb, "alice", V5, client_id="watcher")
    watcher.subscribe("#", qos=1)
    alice = user(client, aclb, "alice", version)
    alice.publish("sensors/1/temp", b"ok", qos=1)
    assert watcher.expect(1)[0].topic == "sensors/1/temp"
    bob = user(client, aclb, "bob", version)
    info = bob.publish("sensors/1/temp", b"bob-may-not", qos=1)   # read-only for bob
    bob.publish("sensors/1/temp", b"qos0-neither", qos=0)
    # 3.1.1 has no code: acknowledged and dropped, as Mosquitto does
    assert bob.published[info.mid] == (0x87 if version == V5 else 0)
    alice.publish("sensors/secret/key", b"denied-by-deny", qos=1)
    watcher.expect_none(0.5)


@pytest.mark.strata_only  # Mosquitto 2.0 grants every subscription and filters deliveries only
@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_subscribe_allowed_and_denied(aclb, version):
    c = RawClient(aclb)
    c.connect(f"sub-{version}", version=version, username="bob", password="bob-pw")
    suback = c.subscribe(1, [("sensors/+/temp", 1), ("private/#", 1), ("sensors/#", 0), ("$SYS/#", 0)])
    denied = 0x87 if version == V5 else 0x80
    # sensors/# overlaps bob's sensors/+/temp: granted, deliveries filtered one by one
    assert suback.reason_codes == [1, denied, 0, denied], suback
    c.close()


def test_deliveries_are_filtered_per_topic(aclb, client):
    alice = user(client, aclb, "alice", V5)
    bob = user(client, aclb, "bob", V5)
    bob.subscribe("sensors/#", qos=1)
    for topic in ("sensors/1/temp", "sensors/1/humidity", "sensors/2/temp"):
        alice.publish(topic, topic.encode(), qos=1)
    assert [m.topic for m in bob.expect_exactly(2)] == ["sensors/1/temp", "sensors/2/temp"]


def test_retained_messages_need_read_access(aclb, client):
    alice = user(client, aclb, "alice", V5)
    alice.publish("sensors/1/temp", b"21.5", qos=1, retain=True)
    alice.publish("sensors/1/humidity", b"40", qos=1, retain=True)
    bob = user(client, aclb, "bob", V5)
    bob.subscribe("sensors/#", qos=1)
    got = bob.expect_exactly(1)
    assert (got[0].topic, got[0].payload, got[0].retain) == ("sensors/1/temp", b"21.5", True)


@pytest.mark.strata_only  # SUBACK codes: Mosquitto 2.0 grants every subscription
def test_anonymous_rules_and_patterns(aclb, client):
    alice = user(client, aclb, "alice", V5)
    anon = client(aclb, "anon-reader", V5)
    assert anon.subscribe("public/#", qos=1) == [1]
    assert anon.subscribe("sensors/#", qos=1) == [0x87]
    # %c: each client has its own tree, %u: its own inbox
    own = client(aclb, "dev-7", V5, username="bob", password="bob-pw")
    assert own.subscribe("clients/dev-7/#", qos=1) == [1]
    assert own.subscribe("clients/dev-8/#", qos=1) == [0x87]
    assert own.subscribe("users/bob/inbox", qos=1) == [1]
    assert own.subscribe("users/alice/inbox", qos=1) == [0x87]
    assert own.published[own.publish("clients/dev-7/state", b"up", qos=1).mid] == 0
    assert own.published[own.publish("clients/dev-8/state", b"spoof", qos=1).mid] == 0x87
    got = own.expect_exactly(1)
    assert got[0].topic == "clients/dev-7/state"


@pytest.mark.strata_only  # Mosquitto 2.0 publishes a will its client may not write
def test_will_topic_must_be_writable(aclb, client):
    watcher = user(client, aclb, "alice", V5, client_id="sensors-watcher")
    watcher.subscribe("sensors/#", qos=1)
    # bob may not write sensors/...: connected, but his will is dropped
    denied = client(aclb, "w1", V5, username="bob", password="bob-pw", will=dict(topic="sensors/1/temp", payload=b"x"))
    denied.drop()
    watcher.expect_none(0.5)
    cmd_watcher = user(client, aclb, "bob", V5, client_id="will-watcher")
    assert cmd_watcher.subscribe("cmd/#", qos=1) == [1]
    dying = client(aclb, "w2", V5, username="alice", password="alice-pw", will=dict(topic="cmd/w2", payload=b"gone"))
    dying.drop()
    assert cmd_watcher.expect(1)[0].payload == b"gone"


@pytest.mark.strata_only  # the refused subscription at the end
def test_mosquitto_clients_with_acl(aclb):
    sub = MosquittoSub(aclb, "cmd/#", qos=1, args=["-u", "bob", "-P", "bob-pw"])
    try:
        mosquitto_pub(aclb, "cmd/reboot", "now", qos=1, args=["-u", "alice", "-P", "alice-pw"])
        assert sub.expect(1)[0]["payload"] == "now"
        mosquitto_pub(aclb, "cmd/reboot", "not-bob", qos=1, args=["-u", "bob", "-P", "bob-pw"])
        sub.expect_none(0.5)
    finally:
        sub.stop()
    denied = MosquittoSub(aclb, "private/#", version="mqttv5", qos=1, args=["-u", "bob", "-P", "bob-pw"],
                          wait_subscribed=False)
    try:
        denied.wait(5)  # mosquitto_sub gives up when every subscription is refused
        assert "denied" in denied.output().lower(), denied.output()
    finally:
        denied.stop()


@pytest.mark.skipif(BROKER_KIND != "strata", reason="SIGHUP reload of strata")
def test_sighup_applies_new_acl_to_connected_clients(aclb, client):
    bob = user(client, aclb, "bob", V5)
    assert bob.published[bob.publish("cmd/x", b"1", qos=1).mid] == 0x87
    aclb.acl_path.write_text(ACL.replace("user bob\n", "user bob\ntopic write cmd/#\n"))
    aclb.signal(signal.SIGHUP)
    wait_log(aclb, "Reloading config.")
    deadline = time.monotonic() + 5
    while True:
        if bob.published[bob.publish("cmd/x", b"2", qos=1).mid] in (0, 0x10):  # accepted (0x10: nobody listens)
            break
        assert time.monotonic() < deadline, "the new ACL did not apply"
        time.sleep(0.1)
    # A broken file keeps the rules in force.
    aclb.acl_path.write_text("topic sometimes x\n")
    aclb.signal(signal.SIGHUP)
    wait_log(aclb, "password or ACL file not reloaded")
    assert bob.published[bob.publish("cmd/x", b"3", qos=1).mid] in (0, 0x10)


def test_a_reload_that_revokes_read_access_drops_what_is_queued(aclb, client):
    bob = user(client, aclb, "bob", V5, clean=False, session_expiry=300)
    assert bob.subscribe([("cmd/#", 1), ("sensors/+/temp", 1)]) == [1, 1]
    bob.go_offline()
    alice = user(client, aclb, "alice", V5)
    for topic in ("cmd/a", "sensors/1/temp", "cmd/b"):
        alice.publish(topic, topic.encode(), qos=1)
    aclb.acl_path.write_text(ACL.replace("topic read cmd/#\n", ""))
    aclb.signal(signal.SIGHUP)
    wait_log(aclb, "Reloading config.")
    if BROKER_KIND == "strata":  # the workers apply it after that line
        wait_log(aclb, "Dropped 2 queued message(s) of client bob-5")
    bob.reconnect(clean=False)
    got = bob.expect_exactly(1, quiet=0.5)
    assert [m.topic for m in got] == ["sensors/1/temp"], got


@pytest.mark.skipif(BROKER_KIND != "strata", reason="strata TLS listener set-up")
def test_certificate_identity_with_acl(broker_factory, pki, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user sensor-1\ntopic write telemetry/sensor-1/#\n")
    b = broker_factory(conf_lines=pki.tls_listener(f"cafile {pki.ca}", "require_certificate true",
                                                   "use_identity_as_username true", f"acl_file {acl}"))
    port = b.ports_of["mqtts"][0]
    args = ["--cafile", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    sub = MosquittoSub(b, "telemetry/#", qos=1)  # plain listener, anonymous: the ACL lets it read nothing...
    sub.stop()
    p = mosquitto_pub(b, "telemetry/sensor-1/t", "1", qos=1, version="mqttv5", port=port, args=args)
    assert p.returncode == 0
    p = mosquitto_pub(b, "telemetry/sensor-2/t", "1", qos=1, version="mqttv5", port=port, args=args + ["-d"],
                      check=False)
    assert "0x87" in p.output or "not authorized" in p.output.lower() or "reason code: 135" in p.output.lower(), \
        p.output
