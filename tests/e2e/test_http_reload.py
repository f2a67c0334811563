"""SIGHUP and the HTTP listeners (docs/http-api.md, "Reloading"): a line
added opens a listener, a line removed closes one (its idle connections at
once, a request being answered once answered), a line kept keeps its socket,
a port that cannot be bound is named by file:line in the log while the rest
runs on, a kept listener takes new TLS files (or keeps its own when the new
ones do not load), and strata started without an HTTP API starts one when
the store keeps the history of messages. Tests find ports in the ports file, which the
reload rewrites, and drive the real broker with http.client and paho."""
import hashlib
import http.client
import secrets
import signal
import socket
import ssl

import pytest

from clients import V5
from clients import client  # noqa: F401  (fixture)
from conftest import BROKER_KIND
from test_plugins import TEST_PLUGIN, plugin_lines

pytestmark = pytest.mark.skipif(BROKER_KIND != "strata", reason="strata's HTTP API")


def token_lines(tmp_path):
    """A bearer token of an http_admin, and the conf lines that grant it."""
    token = "strata_test_" + secrets.token_urlsafe(32)
    tokens = tmp_path / "http_tokens"
    tokens.write_text(f"reader:sha256:{hashlib.sha256(token.encode()).hexdigest()}\n")
    return token, [f"http_token_file {tokens}", "http_admin reader"]


def start(broker_factory, tmp_path, *http_lines, store="storage rocksdb"):
    token, lines = token_lines(tmp_path)
    b = broker_factory(conf_lines=[store, f"storage_path {tmp_path / 'data'}", *lines, *http_lines])
    b.token = token
    return b


def reload(b, *http_lines):
    """The running conf with `http_lines` for its listener lines (http_listener
    and the keys of its block), then SIGHUP; returns the conf's lines (for file:line)."""
    lines = [line for line in b.conf_path.read_text().splitlines()
             if not line.startswith("http_") or line.startswith(("http_token_file", "http_admin"))]
    lines += http_lines
    b.conf_path.write_text("\n".join(lines) + "\n")
    b.signal(signal.SIGHUP)
    return lines


def get(port, token, path="/api/v1/topics"):
    """One request on a connection of its own; returns the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def keep_alive(port, token):
    """A connection that has had one answer (200) and stays open for more."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    assert again(conn, token) == 200
    return conn


def again(conn, token):
    """Another request on `conn`'s own socket (http.client reconnects only when it has none)."""
    sock = conn.sock
    conn.request("GET", "/api/v1/topics", headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    r.read()
    assert sock is None or conn.sock is sock, "http.client opened another connection"
    return r.status


def closed_by_server(conn):
    """True once the server has closed `conn` (end of stream or reset), within 10 s."""
    conn.sock.settimeout(10)
    try:
        return conn.sock.recv(1) == b""
    except ConnectionResetError:
        return True


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
        return False
    except ConnectionRefusedError:
        return True


def mqtt_works(b, client, tag):
    sub = client(b, f"sub-{tag}", V5)
    sub.subscribe(f"reload/{tag}", 1)
    pub = client(b, f"pub-{tag}", V5)
    pub.publish(f"reload/{tag}", tag.encode(), 1)
    assert sub.get().payload == tag.encode()


def test_a_listener_added_by_sighup_answers_and_the_first_keeps_its_socket(broker_factory, tmp_path):
    b = start(broker_factory, tmp_path, "http_listener 0 127.0.0.1")
    [first] = b.http_ports
    conn = keep_alive(first, b.token)
    reload(b, "http_listener 0 127.0.0.1", "http_listener 0 127.0.0.1")
    b.await_ports(lambda b: len(b.http_ports) == 2, "a second HTTP listener in the ports file")
    assert b.http_ports[0] == first, b.http_ports  # port 0 given again: the port it got
    second = b.http_ports[1]
    assert get(second, b.token) == 200
    assert get(second, "wrong-token") == 401  # the conf's users, as on the first
    # The first listener's socket was never closed: its connection goes on.
    assert again(conn, b.token) == 200
    assert get(first, b.token) == 200
    # Lines are logged in order: once the second's opening is there, a closing of the first would be too.
    after_reload = b.await_log(f"Opening HTTP API on 127.0.0.1 port {second}.").split("Reloading config.")[1]
    assert f"port {first}." not in after_reload, "the kept listener was closed and opened again"
    conn.close()


def test_a_listener_removed_by_sighup_closes_and_the_other_keeps_answering(broker_factory, tmp_path):
    b = start(broker_factory, tmp_path, "http_listener 0 127.0.0.1", "http_listener 0 127.0.0.1")
    first, second = b.http_ports
    idle_on_first = keep_alive(first, b.token)
    idle_on_second = keep_alive(second, b.token)
    # Naming the port the second line got keeps that socket; the first line is gone.
    reload(b, f"http_listener {second} 127.0.0.1")
    b.await_ports(lambda b: b.http_ports == [second], "only the second HTTP listener in the ports file")
    b.await_log(f"Closing HTTP API on 127.0.0.1 port {first}.")
    assert refused(first)
    assert closed_by_server(idle_on_first), "an idle connection of the removed listener stayed open"
    assert again(idle_on_second, b.token) == 200
    assert get(second, b.token) == 200
    idle_on_first.close()
    idle_on_second.close()


def test_a_request_being_answered_on_a_removed_listener_is_answered(broker_factory, tmp_path):
    release = tmp_path / "release"
    b = start(broker_factory, tmp_path, "http_listener 0 127.0.0.1", "http_listener 0 127.0.0.1",
              *plugin_lines(TEST_PLUGIN, defer_user="slow", defer_password="slow-pw",
                            defer_release_file=release))
    first, second = b.http_ports
    # "slow" logs in through the plugin, which holds its answer until `release` exists.
    conn = socket.create_connection(("127.0.0.1", first), timeout=30)
    conn.sendall(b"GET /api/v1/topics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Authorization: Basic c2xvdzpzbG93LXB3\r\n\r\n")  # slow:slow-pw
    try:
        b.await_log("auth_basic deferred for slow")
        reload(b, f"http_listener {second} 127.0.0.1")
        b.await_ports(lambda b: b.http_ports == [second], "only the second HTTP listener in the ports file")
        assert refused(first)
        conn.setblocking(False)
        with pytest.raises(BlockingIOError):
            conn.recv(1)  # nothing yet: the plugin has not let the user in
        conn.settimeout(30)
    finally:
        release.touch()
    answer = b""
    while chunk := conn.recv(65536):  # to the end: the server closes after this answer
        answer += chunk
    conn.close()
    head = answer.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 200 "), answer
    assert "Connection: close" in head.split("\r\n"), head


def test_starting_without_http_listener_and_adding_one_by_sighup(broker_factory, tmp_path, client):
    b = start(broker_factory, tmp_path)
    assert b.http_ports == []
    reload(b, "http_listener 0 127.0.0.1")
    b.await_ports(lambda b: len(b.http_ports) == 1, "an HTTP listener in the ports file")
    assert get(b.http_port, b.token) == 200
    assert get(b.http_port, "wrong-token") == 401
    mqtt_works(b, client, "started")
    # Removing every line closes them all; adding one again opens it.
    reload(b)
    b.await_ports(lambda b: b.http_ports == [], "no HTTP listener left in the ports file")
    reload(b, "http_listener 0 127.0.0.1")
    b.await_ports(lambda b: len(b.http_ports) == 1, "an HTTP listener in the ports file again")
    assert get(b.http_port, b.token) == 200


def test_a_store_of_sessions_only_cannot_start_the_api_on_sighup(broker_factory, tmp_path, client):
    b = start(broker_factory, tmp_path, store="persistence true")
    conf = b.conf_path.read_text().replace("persistence true", "storage rocksdb")
    b.conf_path.write_text(conf)
    reload(b, "http_listener 0 127.0.0.1")
    b.await_log("Warning: http_listener takes effect at restart only: the running store does not keep the "
                "history of messages the API reads (storage rocksdb).")
    b._read_ports()
    assert b.http_ports == []
    mqtt_works(b, client, "sessions")


def test_a_port_in_use_is_logged_and_the_rest_keeps_running(broker_factory, tmp_path, client):
    b = start(broker_factory, tmp_path, "http_listener 0 127.0.0.1")
    [first] = b.http_ports
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        lines = reload(b, "http_listener 0 127.0.0.1", f"http_listener {taken} 127.0.0.1",
                       "http_listener 0 127.0.0.1")
        line = lines.index(f"http_listener {taken} 127.0.0.1") + 1
        b.await_log(f"Error: HTTP listener not opened: {b.conf_path}:{line}: http_listener: cannot listen on "
                    f"127.0.0.1 port {taken}: Address already in use.")
        b.await_ports(lambda b: len(b.http_ports) == 2, "the first and the new free HTTP listener")
        assert b.http_ports[0] == first and taken not in b.http_ports, b.http_ports
        third = b.http_ports[1]
        assert b.alive()
        assert get(first, b.token) == 200
        assert get(third, b.token) == 200
        mqtt_works(b, client, "busy-port")
    finally:
        blocker.close()
    # Once the port is free, the next SIGHUP opens it.
    reload(b, "http_listener 0 127.0.0.1", f"http_listener {taken} 127.0.0.1", "http_listener 0 127.0.0.1")
    b.await_ports(lambda b: b.http_ports == [first, taken, third], "the freed port opened")
    assert get(taken, b.token) == 200


def test_a_kept_listener_takes_tls_and_keeps_it_when_new_files_do_not_load(broker_factory, tmp_path, pki):
    b = start(broker_factory, tmp_path, "http_listener 0 127.0.0.1")
    [port] = b.http_ports
    # TLS turned on: same socket, HTTPS for new connections, "https" in the ports file.
    reload(b, "http_listener 0 127.0.0.1", f"http_certfile {pki.server_cert}", f"http_keyfile {pki.server_key}")
    b.await_ports(lambda b: b.ports_of.get("https") == [port] and "http" not in b.ports_of, "the listener as https")
    ctx = ssl.create_default_context(cafile=str(pki.ca))

    def https_status():
        conn = http.client.HTTPSConnection("localhost", port, timeout=30, context=ctx)
        try:
            conn.request("GET", "/api/v1/topics", headers={"Authorization": f"Bearer {b.token}"})
            r = conn.getresponse()
            r.read()
            return r.status, conn.sock.getpeercert()["subject"]
        finally:
            conn.close()

    status, subject = https_status()
    assert status == 200 and (("organizationName", "renewed"),) not in subject
    # A key that does not belong to the certificate: logged with file:line, the current files stay.
    lines = reload(b, "http_listener 0 127.0.0.1", f"http_certfile {pki.server_cert}",
                   f"http_keyfile {pki.server2_key}")
    line = lines.index("http_listener 0 127.0.0.1") + 1
    b.await_log(f"Error: HTTP listener's TLS files not reloaded, keeping the current ones: {b.conf_path}:{line}: "
                "http_listener: ")
    assert https_status()[0] == 200
    b._read_ports()
    assert b.ports_of.get("https") == [port]
    # Renewed files that load: new connections get the new certificate on the same
    # socket. (A listener added in the same reload rewrites the ports file once it is applied.)
    reload(b, "http_listener 0 127.0.0.1", f"http_certfile {pki.server2_cert}", f"http_keyfile {pki.server2_key}",
           "http_listener 0 127.0.0.1")
    b.await_ports(lambda b: len(b.http_ports) == 2, "the added listener in the ports file")
    assert b.ports_of.get("https") == [port], b.ports_of
    status, subject = https_status()
    assert status == 200 and (("organizationName", "renewed"),) in subject, subject
