"""The monitoring HTTP server: /metrics, /stats, /status and /health.

The standard library's threading HTTP server; what each page says is handed
in as callables (server.py renders /metrics through prometheus_client), so
this module only routes, binds and answers bad
requests: unknown paths 404, methods other than GET and HEAD 405. It binds
127.0.0.1 unless told another host. A client that leaves early is one line
in the log (logger ``distcache.monitoring``, debug), never a traceback on
stderr; one that stops sending mid-request is dropped after CLIENT_TIMEOUT.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CLIENT_TIMEOUT", "Pages", "StatusServer", "parse_addr"]

_log = logging.getLogger(__package__)

CLIENT_TIMEOUT = 5.0
"""Seconds a client's connection may stay silent (mid-request or idle) before it is dropped."""

# What a client that went away makes a read or a write raise: no fault of ours.
_GONE = (ConnectionError, TimeoutError)

# (body, content type) of /metrics, given the request's Accept header.
MetricsPage = Callable[[str], tuple[bytes, str]]


class Pages:
    """What the server answers: the metrics text, the /stats and /health documents."""

    def __init__(self, metrics: MetricsPage, stats: Callable[[], Any],
                 health: Callable[[], dict[str, Any]]) -> None:
        self.metrics = metrics
        self.stats = stats
        self.health = health
        self._html: bytes | None = None

    def status_html(self) -> bytes:
        """The dashboard (distcache/status.html, package data), read once."""
        if self._html is None:
            self._html = resources.files(__package__).joinpath("status.html").read_bytes()
        return self._html


def port_number(text: str) -> int | None:
    """A port number from ASCII digits in [0, 65535], else None (int() would take
    "٣٠٠٠" as 3000 and fail on "²", which isdigit() calls a digit)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        return None
    number = int(text)
    return number if number <= 65535 else None


def parse_addr(addr: str) -> tuple[str, int]:
    """(host, port) of "HOST:PORT", ":PORT" (127.0.0.1) or "[v6]:PORT"; ValueError if not one."""
    if not isinstance(addr, str):
        raise TypeError(f"addr must be a str HOST:PORT, not {type(addr).__name__}")
    host, sep, text = addr.rpartition(":")
    port = port_number(text)
    if not sep or port is None:
        raise ValueError(f"addr must be HOST:PORT with a port in 0-65535, not {addr!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, port


# <, > and & appear in JSON only inside strings: as \u escapes (what Go's
# encoder does) a key can never read as markup, even to a page that embeds it.
_MARKUP = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def _json(document: Any) -> bytes:
    # ensure_ascii: a key with quotes, newlines or odd code points is escaped,
    # never raw bytes in the page.
    text = json.dumps(document, ensure_ascii=True, allow_nan=False)
    return text.translate(_MARKUP).encode("ascii")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "distcache"

    # The socket timeout of every read and write (StreamRequestHandler sets
    # it): a request sent by halves, or an idle keep-alive connection, is
    # dropped after it. The dashboard asks every 2 s, so it keeps its connection.
    timeout = CLIENT_TIMEOUT

    # The version of an answer to a request line that names none or an
    # unparseable one: the standard library's "HTTP/0.9" sends such an error
    # (400, 505) as a bare HTML body without a status line.
    default_request_version = "HTTP/1.1"

    def handle_one_request(self) -> None:
        # After stop(), a browser's kept-alive connection must not go on being
        # answered by its handler thread: it is closed before the next request.
        if self.server.stopping.is_set():
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def __getattr__(self, name: str) -> Any:
        # Every other method (POST, PUT, DELETE, even made-up ones) is a 405,
        # where BaseHTTPRequestHandler would say 501 for those it lacks.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"only GET and HEAD\n", "text/plain",
                   extra={"Allow": "GET, HEAD"})

    def _answer(self, send_body: bool) -> None:
        pages = self.server.pages
        path = urlsplit(self.path).path
        try:
            if path == "/metrics":
                body, ctype = pages.metrics(self.headers.get("Accept", ""))
                self._send(HTTPStatus.OK, body, ctype, send_body)
            elif path == "/stats":
                self._send(HTTPStatus.OK, _json(pages.stats()), "application/json", send_body)
            elif path == "/health":
                document = pages.health()
                code = HTTPStatus.OK if document["status"] == "healthy" else \
                    HTTPStatus.SERVICE_UNAVAILABLE
                self._send(code, _json(document), "application/json", send_body)
            elif path in ("/status", "/status/"):
                self._send(HTTPStatus.OK, pages.status_html(), "text/html; charset=utf-8",
                           send_body)
            elif path == "/":
                self._send(HTTPStatus.FOUND, b"", "text/plain", send_body,
                           extra={"Location": "/status"})
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found; try /status, /stats, /metrics, "
                           b"/health\n", "text/plain", send_body)
        except Exception as exc:  # a page that fails is a 500, never a dead server
            if isinstance(exc, ConnectionError):
                raise  # the client left: nothing to answer (_Server.handle_error logs it)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR,
                       f"{type(exc).__name__}: {exc}\n".encode(), "text/plain", send_body)

    def _send(self, code: HTTPStatus, body: bytes, ctype: str, send_body: bool = True,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # The dashboard has no business in a frame of another site.
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every second is no news; errors come back as status codes

    def log_error(self, format: str, *args: Any) -> None:
        # A timed-out or malformed request: one line, for who looks.
        _log.debug("metrics server: %s: %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A monitoring port still held by a dead node's TIME_WAIT is free, as for gRPC.
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], pages: Pages) -> None:
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.pages = pages
        self.stopping = threading.Event()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver's own prints a traceback to stderr for every client that
        # closed before its answer was written: a scraper's timeout, a closed tab.
        exc = sys.exc_info()[1]
        if isinstance(exc, _GONE):
            _log.debug("metrics server: client %s left: %s", client_address[0],
                       type(exc).__name__)
        else:
            _log.error("metrics server: request from %s failed", client_address[0],
                       exc_info=True)


class StatusServer:
    """The running HTTP server of a node's pages; stop() ends it."""

    def __init__(self, addr: str, pages: Pages) -> None:
        host, port = parse_addr(addr)
        try:
            self._server = _Server((host, port), pages)
        except OSError as exc:
            raise OSError(f"cannot listen on {addr} for metrics: {exc.strerror or exc}") from None
        self.host = host
        self.port: int = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="distcache-metrics-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops listening and waits for the serving thread; a second call does nothing."""
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
