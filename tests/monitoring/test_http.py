"""The monitoring server's answers to bad requests, its binding, and escaping of keys."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import struct
import subprocess
import sys
import time

import pytest

import distcache
from distcache.monitoring.http import parse_addr
from distcache.monitoring.server import start_metrics_server

from .conftest import fetch, fetch_json

PAGES = ("/metrics", "/stats", "/status", "/health")

# Seconds within which a client that sent half a request is dropped
# (docs/monitoring.md says 5; the rest is slack for a loaded machine).
HALF_REQUEST_BOUND = 10.0


def test_every_page_answers_get_and_head(server) -> None:
    for page in PAGES:
        status, headers, body = fetch(server.url + page)
        assert status == 200, page
        assert body and int(headers["Content-Length"]) == len(body)
        status, headers, body = fetch(server.url + page, method="HEAD")
        assert status == 200 and body == b"", page
        assert int(headers["Content-Length"]) > 0
    assert fetch(server.url + "/status")[1]["Content-Type"] == "text/html; charset=utf-8"
    assert fetch(server.url + "/stats")[1]["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/nope", "/metrics/x", "/stats.json", "/../etc/passwd",
                                  "/status.html", "/metrics%00"])
def test_unknown_paths_are_404(server, path: str) -> None:
    host, port = parse_addr(server.url[len("http://"):])
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path)
    r = conn.getresponse()
    assert r.status == 404
    assert b"/status" in r.read()
    conn.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FROB"])
def test_methods_other_than_get_and_head_are_405(server, method: str) -> None:
    host, port = parse_addr(server.url[len("http://"):])
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, "/metrics", body=b"x" if method != "OPTIONS" else None)
    r = conn.getresponse()
    assert r.status == 405
    assert r.getheader("Allow") == "GET, HEAD"
    r.read()
    conn.close()


def test_the_root_redirects_to_the_dashboard(server) -> None:
    host, port = parse_addr(server.url[len("http://"):])
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/")
    r = conn.getresponse()
    assert (r.status, r.getheader("Location")) == (302, "/status")
    conn.close()


def test_it_binds_loopback_unless_told_otherwise() -> None:
    for addr in ("127.0.0.1:0", ":0"):
        srv = start_metrics_server(addr)
        try:
            assert srv.url.startswith("http://127.0.0.1:")
            assert srv._http._server.socket.getsockname()[0] == "127.0.0.1"
        finally:
            srv.stop()


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port} for metrics"):
            start_metrics_server(f"127.0.0.1:{port}")


@pytest.mark.parametrize("addr", ["9090", "host:", "host:port", "1.2.3.4:70000", "", ":-1"])
def test_bad_addresses_are_value_errors(addr: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        start_metrics_server(addr)


def test_a_non_str_address_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="HOST:PORT"):
        start_metrics_server(9090)  # type: ignore[arg-type]


def test_stop_twice_and_after_stop_nothing_listens() -> None:
    srv = start_metrics_server("127.0.0.1:0")
    port = srv.port
    srv.stop()
    srv.stop()
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))


def test_serve_with_a_metrics_port_in_use_exits_2_with_one_line(tmp_path) -> None:
    from tests.cluster.nodes import free_port, make_source

    db = make_source(tmp_path / "s.db", rows=3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        addr = f"127.0.0.1:{free_port()}"
        r = subprocess.run(
            [sys.executable, "-m", "distcache", "serve", "--addr", addr, "--group", "g:1MiB",
             "--loader", f"sqlite:{db}:items", "--metrics", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"distcache serve: --metrics: cannot listen on 127.0.0.1:{port} for metrics: "
        "Address already in use"]


KEYS = ["<script>alert(1)</script>", 'say "hi"\n\'there\'', "\u2028line\u2029sep", "tab\tnul\x00"]


def test_keys_are_escaped_in_the_json(server) -> None:
    g = distcache.new_group("odd", 1 << 20, lambda k: b"v")
    for key in KEYS:
        for _ in range(50):
            g.get(key)
    status, _, body = fetch(server.url + "/stats")
    assert status == 200
    body.decode("ascii")  # every non-ASCII code point is a \\u escape
    assert b"<script>" not in body  # JSON keeps the text; an HTML parser would see no tag
    assert b"\n" not in body
    document = json.loads(body)
    shown = {h["key"] for h in document["groups"][0]["hot_keys"]}
    assert shown == set(KEYS)


def test_a_page_that_fails_is_a_500_and_the_server_lives(server, monkeypatch) -> None:
    def broken() -> dict:
        raise RuntimeError("stats exploded")

    monkeypatch.setattr(server._http._server.pages, "stats", broken)
    status, _, body = fetch(server.url + "/stats")
    assert status == 500 and b"RuntimeError: stats exploded" in body
    assert fetch_json(server.url + "/health")["status"] == "healthy"


def _host_port(server) -> tuple[str, int]:
    return parse_addr(server.url[len("http://"):])


def test_a_client_that_sends_half_a_request_is_dropped_within_seconds(server) -> None:
    # A half request line must not hold a handler thread for long: the handler's
    # socket timeout closes the connection, and other clients are served meanwhile.
    with socket.create_connection(_host_port(server), timeout=10) as slow:
        slow.settimeout(HALF_REQUEST_BOUND)  # the watchdog: recv fails past the bound
        slow.sendall(b"GET /metr")
        started = time.monotonic()
        assert fetch(server.url + "/health")[0] == 200
        try:
            answer = slow.recv(4096)
        except TimeoutError:
            pytest.fail(f"a half request was still held after {HALF_REQUEST_BOUND} s")
        except ConnectionResetError:
            answer = b""
        held = time.monotonic() - started
    assert answer == b"", answer  # closed without an answer
    assert held <= HALF_REQUEST_BOUND


def test_a_client_that_leaves_early_leaves_no_traceback(server, capfd, caplog) -> None:
    # A large /metrics body, and clients that close as soon as they asked for
    # it: the server's write meets a closed socket (BrokenPipeError or a reset).
    for i in range(60):
        distcache.new_group(f"early{i}", 1 << 16, lambda key: b"v").get("k")
    caplog.set_level(logging.DEBUG, logger="distcache.monitoring")
    host, port = _host_port(server)
    for _ in range(20):
        with socket.create_connection((host, port), timeout=10) as c:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(3):  # and one that resets the connection at once
        c = socket.create_connection((host, port), timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        c.close()
    # The server keeps serving (and by then has answered or dropped every client above).
    for _ in range(3):
        assert fetch(server.url + "/metrics")[0] == 200
    time.sleep(0.5)  # a handler still writing to a closed socket finishes
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert all(r.exc_info is None for r in caplog.records), [r.getMessage() for r in caplog.records]
