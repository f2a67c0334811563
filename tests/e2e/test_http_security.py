"""The HTTP API lets in only who the broker would: loopback unless an address
is named, users from the password file, the auth plugins or bearer tokens,
the failed-login back-off shared with MQTT, the ACL file and the acl plugins
on every topic shown, the listener's mount point, http_admin for deletes and
the exporters, HTTPS with client certificates, and the browser checks (Host,
Origin, CORS). Requests go over real sockets with Python's http.client and
ssl, curl and the real `strata token` command."""
import base64
import hashlib
import http.client
import json
import signal
import ssl
import subprocess
import threading
import time
import types

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND, STRATA_BIN
from rawmqtt import RawClient
from test_plugins import TEST_PLUGIN, plugin_lines

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's HTTP API")

ACL = """
topic read public/#

user alice
topic read sensors/#
topic deny sensors/secret/#
topic readwrite cmd/#

user bob
topic read sensors/+/temp

user admin
topic readwrite #

user slow
topic read sensors/#

pattern read users/%u/#
"""


def request(port, method, path, user=None, password=None, token=None, headers=None, tls=None, host=None):
    """One request on a new connection; returns (status, parsed JSON or None, headers)."""
    h = dict(headers or {})
    if user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if tls is None:
        conn = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=30)
    else:
        conn = http.client.HTTPSConnection(host or "127.0.0.1", port, timeout=30, context=tls)
    try:
        conn.request(method, path, headers=h)
        r = conn.getresponse()
        body = r.read()
        return r.status, (json.loads(body) if body else None), r.headers
    finally:
        conn.close()


def topics_of(doc, key="topics"):
    return sorted(t["topic"] for t in doc[key])


@pytest.fixture
def users(tmp_path):
    """A password file (strata passwd) with alice, bob and admin, and the ACL file."""
    pw = tmp_path / "passwords"
    for i, (name, secret) in enumerate([("alice", "alice-pw"), ("bob", "bob-pw"), ("admin", "admin-pw")]):
        subprocess.run([str(STRATA_BIN), "passwd", *(["-c"] if i == 0 else []), "-b", str(pw), name, secret],
                       check=True, capture_output=True)
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    return types.SimpleNamespace(passwords=pw, acl=acl)


def secured(broker_factory, tmp_path, users, *lines, http="http_listener 0 127.0.0.1", extra_mqtt=()):
    conf = [*extra_mqtt, "storage rocksdb", f"storage_path {tmp_path / 'data'}", f"password_file {users.passwords}",
            f"acl_file {users.acl}", "http_admin admin", http, *lines]
    return broker_factory(conf_lines=conf)


def publish(b, client, topics, port=None):
    ep = types.SimpleNamespace(host=b.host, port=port or b.port)
    # The publisher is anonymous on the MQTT side: the ACL's anonymous rules
    # would refuse these writes, so it logs in as the user allowed to write all.
    pub = client(ep, "", V5, username="admin", password="admin-pw")
    for t in topics:
        pub.publish(t, json.dumps({"v": 1}).encode(), 1)  # PUBACK: stored (durability wal)
    return pub


def test_http_listener_without_address_is_loopback_only(broker_factory, tmp_path):
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {tmp_path / 'data'}", "http_listener 0"])
    http_lines = [line.split() for line in b.ports_path.read_text().splitlines() if line.startswith("http ")]
    assert {address for _, address, _ in http_lines} <= {"127.0.0.1", "::1"}, http_lines
    assert "127.0.0.1" in {address for _, address, _ in http_lines}
    b.await_log("Opening HTTP API on 127.0.0.1 port")


def test_requests_need_a_user_and_a_token_is_stored_hashed(broker_factory, tmp_path, users):
    tokens = tmp_path / "tokens"
    made = subprocess.run([str(STRATA_BIN), "token", "add", str(tokens), "alice"], check=True, capture_output=True,
                          text=True)
    token = made.stdout.strip()
    assert token.startswith("strata_") and token not in tokens.read_text()
    assert hashlib.sha256(token.encode()).hexdigest() in tokens.read_text()
    b = secured(broker_factory, tmp_path, users, f"http_token_file {tokens}")
    port = b.http_port

    status, doc, headers = request(port, "GET", "/api/v1/topics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "authentication required" in doc["error"]
    assert request(port, "GET", "/health")[0] == 200  # probes need no user, and see no data
    assert request(port, "GET", "/nope")[0] == 401    # nor does a stranger learn which paths exist
    assert request(port, "GET", "/api/v1/topics", "alice", "wrong")[0] == 401
    assert request(port, "GET", "/api/v1/topics", "alice", "alice-pw")[0] == 200
    assert request(port, "GET", "/api/v1/topics", token="strata_not_a_token")[0] == 401
    assert request(port, "GET", "/api/v1/topics", token=token)[0] == 200
    assert request(port, "GET", "/api/v1/topics", headers={"Authorization": "Digest x"})[0] == 401

    # Revoked and re-read on SIGHUP: the token stops working.
    subprocess.run([str(STRATA_BIN), "token", "revoke", str(tokens), "alice"], check=True, capture_output=True)
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while request(port, "GET", "/api/v1/topics", token=token)[0] != 401:
        assert time.monotonic() < deadline, "the revoked token still works after SIGHUP"
        time.sleep(0.1)


def test_anonymous_only_where_the_listener_allows_it(broker_factory, tmp_path, users, client):
    b = secured(broker_factory, tmp_path, users, "http_listener 0 127.0.0.1", "http_allow_anonymous true")
    open_port, closed_port = b.http_ports[-1], b.http_ports[0]
    publish(b, client, ["public/news", "sensors/a/temp"])
    assert request(closed_port, "GET", "/api/v1/topics")[0] == 401
    status, doc, _ = request(open_port, "GET", "/api/v1/topics")
    # Anonymous requests get the ACL file's anonymous rules: public/# only.
    assert status == 200 and topics_of(doc) == ["public/news"]
    assert request(open_port, "GET", "/api/v1/messages?topic=sensors/a/temp")[0] == 403
    # Wrong credentials are refused even where anonymous access is allowed.
    assert request(open_port, "GET", "/api/v1/topics", "alice", "wrong")[0] == 401
    # An anonymous request may not delete.
    assert request(open_port, "DELETE", "/api/v1/messages?topic=public/%23&before=2100-01-01")[0] == 403


def test_a_name_nothing_verified_is_not_trusted(broker_factory, tmp_path, client):
    # No password file: MQTT clients with allow_anonymous keep their username,
    # but an HTTP request naming "admin" must not become the admin.
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {tmp_path / 'data'}", "http_admin admin",
                                   "http_listener 0 127.0.0.1", "http_allow_anonymous true"])
    assert request(b.http_port, "GET", "/api/v1/topics", "admin", "anything")[0] == 401
    assert request(b.http_port, "DELETE", "/api/v1/messages?topic=%23&before=2100-01-01")[0] == 403


def test_failed_logins_back_off_over_http_and_mqtt_alike(broker_factory, tmp_path, users):
    b = secured(broker_factory, tmp_path, users, "failed_login_limit 3", "failed_login_block_max 2")
    for _ in range(3):
        assert request(b.http_port, "GET", "/api/v1/topics", "alice", "guess")[0] == 401
    status, doc, headers = request(b.http_port, "GET", "/api/v1/topics", "alice", "alice-pw")
    assert status == 429 and int(headers["Retry-After"]) >= 1, doc
    # The same address is blocked for MQTT too: its CONNECT is refused, after a delay.
    with RawClient(b, version=V5, timeout=5) as blocked:
        assert blocked.connect("blocked", version=V5, username="alice", password=b"alice-pw").reason_code == 0x87
    deadline = time.monotonic() + 10
    while True:
        status = request(b.http_port, "GET", "/api/v1/topics", "alice", "alice-pw")[0]
        if status == 200:
            break
        assert status == 429 and time.monotonic() < deadline
        time.sleep(0.25)


def test_the_acl_file_decides_what_each_user_reads(broker_factory, tmp_path, users, client):
    b = secured(broker_factory, tmp_path, users)
    publish(b, client, ["sensors/a/temp", "sensors/a/hum", "sensors/secret/key", "cmd/x", "users/bob/inbox",
                        "users/alice/inbox", "public/news"])
    port = b.http_port

    def get(user, path):
        status, doc, _ = request(port, "GET", path, user, f"{user}-pw")
        assert status == 200, (user, path, doc)
        return doc

    assert topics_of(get("alice", "/api/v1/topics")) == ["cmd/x", "sensors/a/hum", "sensors/a/temp",
                                                          "users/alice/inbox"]
    assert topics_of(get("bob", "/api/v1/topics")) == ["sensors/a/temp", "users/bob/inbox"]
    assert topics_of(get("alice", "/api/v1/messages?topic=sensors/%23"), "messages") == ["sensors/a/hum",
                                                                                       "sensors/a/temp"]
    assert topics_of(get("bob", "/api/v1/latest?filter=%23"), "messages") == ["sensors/a/temp", "users/bob/inbox"]
    assert len(get("admin", "/api/v1/topics")["topics"]) == 7
    # One topic the user may not read is refused outright.
    for user, path in [("alice", "/api/v1/messages?topic=sensors/secret/key"),
                       ("alice", "/api/v1/latest?filter=users/bob/inbox"),
                       ("alice", "/api/v1/series?topic=sensors/secret/key&field=v"),
                       ("bob", "/api/v1/topics?filter=sensors/a/hum")]:
        status, doc, _ = request(port, "GET", path, user, f"{user}-pw")
        assert status == 403 and "not authorized to read" in doc["error"], (path, doc)
    assert get("alice", "/api/v1/series?topic=sensors/a/temp&field=v")["samples"] == 1


def test_auth_and_acl_plugins_decide_for_http_too(broker_factory, tmp_path, users, client):
    b = secured(broker_factory, tmp_path, users,
                *plugin_lines(TEST_PLUGIN, defer_user="slow", defer_password="slow-pw", deny_read="sensors/a/h"))
    publish(b, client, ["sensors/a/temp", "sensors/a/hum"])
    port = b.http_port
    # "slow" is not in the password file: the plugin (answering from another thread) lets it in.
    status, doc, _ = request(port, "GET", "/api/v1/topics", "slow", "slow-pw")
    assert status == 200 and topics_of(doc) == ["sensors/a/temp"], doc
    assert request(port, "GET", "/api/v1/topics", "slow", "wrong")[0] == 401
    # Users the plugin passes on are checked against the password file; the acl plugin still applies.
    status, doc, _ = request(port, "GET", "/api/v1/messages?topic=sensors/%23", "alice", "alice-pw")
    assert status == 200 and topics_of(doc, "messages") == ["sensors/a/temp"]
    assert request(port, "GET", "/api/v1/latest?filter=sensors/a/hum", "admin", "admin-pw")[0] == 403


def test_a_slow_request_does_not_hold_up_the_others(broker_factory, tmp_path, users):
    b = secured(broker_factory, tmp_path, users, *plugin_lines(TEST_PLUGIN, defer_user="slow",
                                                                 defer_password="slow-pw", defer_delay_ms="4000"))
    slow = {}
    t = threading.Thread(target=lambda: slow.update(status=request(b.http_port, "GET", "/api/v1/topics", "slow",
                                                                   "slow-pw")[0]))
    t.start()
    try:
        # The slow request is held by its plugin for 4 s; others are answered meanwhile.
        for _ in range(5):
            assert request(b.http_port, "GET", "/api/v1/topics", "alice", "alice-pw")[0] == 200
        assert t.is_alive() and "status" not in slow, "the quick requests waited for the slow one"
    finally:
        t.join(30)
    assert slow["status"] == 200


def test_the_mount_point_bounds_the_tree(broker_factory, tmp_path, client):
    data = tmp_path / "data"
    b = broker_factory(conf_lines=["listener 0 127.0.0.1", "mount_point site1/", "storage rocksdb",
                                   f"storage_path {data}", "http_listener 0 127.0.0.1", "http_mount_point site1/"])
    plain_port, mounted_port = b.ports[0], b.ports[1]
    mounted = client(types.SimpleNamespace(host=b.host, port=mounted_port), "m", V5)
    mounted.publish("t/x", b"1", 1)
    plain = client(types.SimpleNamespace(host=b.host, port=plain_port), "p", V5)
    plain.publish("other/y", b"2", 1)
    plain.publish("site1/t/z", b"3", 1)
    status, doc, _ = b.http_request("GET", "/api/v1/topics")
    assert status == 200 and topics_of(doc) == ["t/x", "t/z"], doc
    status, doc, _ = b.http_request("GET", "/api/v1/messages?topic=%23")
    assert [(m["topic"], m["payload"]) for m in doc["messages"]] == [("t/x", "1"), ("t/z", "3")]
    status, doc, _ = b.http_request("DELETE", "/api/v1/messages?topic=t/x&before=2100-01-01")
    assert status == 200 and doc["deleted"] == 1
    assert topics_of(b.http_request("GET", "/api/v1/topics")[1]) == ["t/z"]
    b.stop()
    # Without http_mount_point, MQTT listeners with different mount points leave it open: start-up says so.
    conf = tmp_path / "ambiguous.conf"
    conf.write_text(f"listener 0 127.0.0.1\nmount_point a/\nlistener 0 127.0.0.1\nstorage rocksdb\n"
                    f"storage_path {data}\nhttp_listener 0\n")
    p = subprocess.run([str(STRATA_BIN), "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and f"{conf}:6: http_listener: the MQTT listeners have different mount points" in \
        p.stderr, p.stderr


def test_only_admins_delete_and_see_exporters(broker_factory, tmp_path, users, client):
    b = secured(broker_factory, tmp_path, users)
    publish(b, client, ["sensors/a/temp"])
    port = b.http_port
    status, doc, _ = request(port, "DELETE", "/api/v1/messages?topic=sensors/%23&before=2100-01-01", "alice",
                             "alice-pw")
    assert status == 403 and "http_admin" in doc["error"]
    assert request(port, "GET", "/api/v1/exporters", "alice", "alice-pw")[0] == 403
    assert request(port, "GET", "/api/v1/exporters", "admin", "admin-pw")[0] == 200
    status, doc, _ = request(port, "DELETE", "/api/v1/messages?topic=sensors/%23&before=2100-01-01", "admin",
                             "admin-pw")
    assert status == 200 and doc["deleted"] == 1


def test_https_and_client_certificates(broker_factory, tmp_path, users, pki, client):
    b = secured(broker_factory, tmp_path, users, f"http_certfile {pki.server_cert}", f"http_keyfile {pki.server_key}",
                "http_listener 0 127.0.0.1", f"http_certfile {pki.server_cert}", f"http_keyfile {pki.server_key}",
                f"http_cafile {pki.ca}", "http_require_certificate true", "http_use_identity_as_username true")
    b.await_log("Opening HTTPS API on 127.0.0.1")
    publish(b, client, ["users/sensor-1/state", "sensors/a/temp"])
    password_port, cert_port = b.http_ports
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    status, doc, _ = request(password_port, "GET", "/api/v1/topics", "alice", "alice-pw", tls=ctx, host="localhost")
    assert status == 200 and topics_of(doc) == ["sensors/a/temp"]
    # Plain HTTP on an HTTPS listener gets nothing.
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        request(password_port, "GET", "/health")
    # The client certificate's CN is the user (pattern users/%u/#), without a password.
    with_cert = ssl.create_default_context(cafile=str(pki.ca))
    with_cert.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    status, doc, _ = request(cert_port, "GET", "/api/v1/topics", tls=with_cert, host="localhost")
    assert status == 200 and topics_of(doc) == ["users/sensor-1/state"], doc
    # curl, as a script would use it.
    out = subprocess.run(["curl", "-sS", "--cacert", str(pki.ca), "--cert", str(pki.client_cert), "--key",
                          str(pki.client_key), f"https://localhost:{cert_port}/api/v1/topics",
                          "--resolve", f"localhost:{cert_port}:127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert topics_of(json.loads(out.stdout)) == ["users/sensor-1/state"], out.stderr
    # Without a certificate the handshake fails.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        request(cert_port, "GET", "/health", tls=ssl.create_default_context(cafile=str(pki.ca)), host="localhost")


def test_host_header_and_cross_site_requests(broker_factory, tmp_path, users, client):
    b = secured(broker_factory, tmp_path, users, "http_allowed_hosts broker.test",
                "http_cors_origin https://dash.example.com")
    publish(b, client, ["sensors/a/temp", "sensors/b/temp"])
    port = b.http_port
    admin = {"user": "admin", "password": "admin-pw"}
    # DNS rebinding: a page at evil.example whose name now points here.
    status, doc, _ = request(port, "GET", "/api/v1/topics", headers={"Host": "evil.example"}, **admin)
    assert status == 421 and "http_allowed_hosts" in doc["error"]
    assert request(port, "GET", "/api/v1/topics", headers={"Host": f"broker.test:{port}"}, **admin)[0] == 200
    assert request(port, "GET", "/api/v1/topics", headers={"Host": f"localhost:{port}"}, **admin)[0] == 200
    # CSRF: a write from another site's page is refused, from our own origin it is not.
    delete = "/api/v1/messages?topic=sensors/a/temp&before=2100-01-01"
    status, doc, _ = request(port, "DELETE", delete, headers={"Origin": "https://evil.example"}, **admin)
    assert status == 403 and "cross-site" in doc["error"]
    assert request(port, "DELETE", delete, headers={"Sec-Fetch-Site": "cross-site"}, **admin)[0] == 403
    status, doc, _ = request(port, "DELETE", delete, headers={"Origin": f"http://127.0.0.1:{port}"}, **admin)
    assert status == 200 and doc["deleted"] == 1
    # CORS only for the configured origin.
    _, _, headers = request(port, "GET", "/api/v1/topics", headers={"Origin": "https://dash.example.com"}, **admin)
    assert headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
    _, _, headers = request(port, "GET", "/api/v1/topics", headers={"Origin": "https://evil.example"}, **admin)
    assert headers["Access-Control-Allow-Origin"] is None
    status, _, headers = request(port, "OPTIONS", "/api/v1/messages", headers={
        "Origin": "https://dash.example.com", "Access-Control-Request-Method": "DELETE"})
    assert status == 204 and "DELETE" in headers["Access-Control-Allow-Methods"]
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert request(port, "OPTIONS", "/api/v1/messages", headers={"Origin": "https://evil.example"})[0] == 403
    status, _, _ = request(port, "DELETE", "/api/v1/messages?topic=sensors/b/temp&before=2100-01-01",
                           headers={"Origin": "https://dash.example.com"}, **admin)
    assert status == 200


def test_topics_and_latest_come_a_page_at_a_time(broker_factory, tmp_path, client):
    b = broker_factory(conf_lines=["storage rocksdb", f"storage_path {tmp_path / 'data'}", "http_listener 0 127.0.0.1"])
    names = [f"dev/{i:02d}" for i in range(25)]
    pub = client(b, "p", V5)
    for name in names:
        pub.publish(name, b"x", 1)
    for endpoint, key in [("/api/v1/topics", "topics"), ("/api/v1/latest", "messages")]:
        seen, cursor = [], None
        for _ in range(10):
            status, doc, _ = b.http_request("GET", f"{endpoint}?filter=dev/%2B&limit=10" +
                                            (f"&cursor={cursor}" if cursor else ""))
            assert status == 200 and len(doc[key]) <= 10, doc
            seen += [t["topic"] for t in doc[key]]
            if not doc["more"]:
                assert doc["next_cursor"] is None
                break
            cursor = doc["next_cursor"]
        assert seen == names, endpoint


def test_sighup_applies_the_http_keys_it_can(broker_factory, tmp_path, users):
    b = secured(broker_factory, tmp_path, users, "http_listener 0 127.0.0.1")
    port = b.http_ports[1]
    assert request(port, "GET", "/api/v1/topics")[0] == 401
    conf = b.conf_path.read_text()
    b.conf_path.write_text(conf + "http_allow_anonymous true\nhttp_admin alice\n")
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while request(port, "GET", "/api/v1/topics")[0] != 200:
        assert time.monotonic() < deadline, "http_allow_anonymous was not applied on SIGHUP"
        time.sleep(0.1)
    assert request(port, "GET", "/api/v1/exporters", "alice", "alice-pw")[0] == 200  # http_admin alice
    # A listener added opens (test_http_reload.py), with the users of the new
    # conf, which the others have too: alice is no longer an admin.
    b.conf_path.write_text(conf + "http_listener 0 127.0.0.1\n")
    b.signal(signal.SIGHUP)
    b.await_ports(lambda b: len(b.http_ports) == 3, "the added HTTP listener in the ports file")
    assert b.http_ports[1] == port
    for p in b.http_ports:
        assert request(p, "GET", "/api/v1/exporters", "alice", "alice-pw")[0] == 403
        assert request(p, "GET", "/api/v1/exporters", "admin", "admin-pw")[0] == 200
