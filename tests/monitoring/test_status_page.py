"""The /status dashboard in headless Chromium: it shows a node, follows it, escapes keys,
and says so when the node goes away; and its HTML needs nothing from the network."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import os
import re
import struct
import threading
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import distcache
from distcache.group import Group
from distcache.monitoring.server import MetricsServer, start_metrics_server

from .browser import browser_fixture, console_problems  # noqa: F401  (the browser fixture)

WAIT = 15.0  # seconds any page condition may take; the page polls every 0.3 s here
PAGE = "/status?refresh=300"
HOSTILE_KEYS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "\"quote'\nline"]


def html_text() -> str:
    page = resources.files("distcache.monitoring").joinpath("status.html")
    return page.read_text(encoding="utf-8")


@dataclasses.dataclass
class Node:
    """A metrics server with one group, "users", that the test sends gets to."""

    server: MetricsServer
    group: Group
    stopped: bool = False

    def page(self, path: str = PAGE) -> str:
        return self.server.url + path

    def traffic(self, n: int, keys: list[str] | None = None) -> None:
        keys = keys or [f"user:{i}" for i in range(20)]
        for i in range(n):
            self.group.get(keys[i % len(keys)])

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.stop()


@pytest.fixture
def node() -> Iterator[Node]:
    server = start_metrics_server("127.0.0.1:0", interval=0.25)
    group = None
    try:
        group = distcache.new_group("users", 1 << 20, lambda key: b"value of " + key.encode())
        n = Node(server, group)
        yield n
        n.stop()
    finally:
        if group is not None:
            group.close()
        server.stop()  # a second stop does nothing (after n.stop() or the test's own)


def wait_for(driver: Any, condition: Callable[[Any], Any], message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, message)


# Read in one script, so a re-render between finding an element and reading it cannot race.
_FIELD_JS = """
const [name, group, attr] = arguments;
const sel = `[data-field="${name}"]` + (group ? `[data-group="${group}"]` : "");
const e = document.querySelector(sel);
return e === null ? null : attr === null ? e.textContent : e.getAttribute(attr);
"""


def field(driver: Any, name: str, group: str | None = "users", attr: str | None = "data-value"
          ) -> str | None:
    """A data-field's raw value (data-value), or its text with attr=None; None if absent."""
    return driver.execute_script(_FIELD_JS, name, group, attr)


def gets_shown(driver: Any) -> int:
    value = field(driver, "gets")
    return -1 if value is None else int(value)


def is_stale(driver: Any) -> bool:
    return driver.execute_script(
        "return document.body.hasAttribute('data-stale') && "
        "!document.querySelector('[data-field=error]').hidden")


def hot_keys_shown(driver: Any) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('tr[data-hot-key] td[data-field=key]'),"
        " (e) => e.textContent)")


def chart_points(driver: Any, chart: str) -> int:
    d = driver.execute_script(
        "const p = document.querySelector("
        "`[data-card][data-group=users] [data-chart=${arguments[0]}] path`);"
        " return p ? p.getAttribute('d') : null", chart)
    return len(re.findall(r"[ML]", d or ""))


def test_the_dashboard_shows_a_group_and_follows_its_traffic(node: Node, browser: Any) -> None:
    node.traffic(200)
    browser.get(node.page())
    wait_for(browser, lambda d: gets_shown(d) >= 200, "the users card never showed its gets")
    assert console_problems(browser) == []
    assert field(browser, "health", None, None) == "healthy"
    assert field(browser, "addr", None, None) == "local"
    assert float(field(browser, "uptime", None)) > 0
    assert field(browser, "gets", attr=None) == f"{gets_shown(browser):,}"
    gets, qps = gets_shown(browser), field(browser, "qps")

    node.traffic(500)
    wait_for(browser, lambda d: gets_shown(d) >= gets + 500 and field(d, "qps") != qps,
             "gets and QPS did not follow the new traffic")
    assert float(field(browser, "qps")) > 0
    assert float(field(browser, "max_bytes")) == 1 << 20
    node.traffic(100)
    wait_for(browser, lambda d: chart_points(d, "qps") >= 2, "the QPS chart has no line")
    assert not is_stale(browser)
    assert console_problems(browser) == []


def test_the_dashboard_works_at_status_with_a_slash(node: Node, browser: Any) -> None:
    # Its stats URL is relative: from /status/ it must still find /stats.
    node.traffic(30)
    browser.get(node.page("/status/?refresh=300"))
    wait_for(browser, lambda d: gets_shown(d) == 30, "no stats from /status/")
    assert not is_stale(browser)
    assert console_problems(browser) == []


def test_hostile_hot_keys_are_shown_as_text(node: Node, browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    node.traffic(300, HOSTILE_KEYS)
    node.traffic(20)
    assert set(HOSTILE_KEYS) <= {k for k, _ in node.group.top_hot_keys(10)}
    browser.get(node.page())
    wait_for(browser, lambda d: set(HOSTILE_KEYS) <= set(hot_keys_shown(d)),
             "the hostile keys are not in the hot keys table")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018  (the property raises when no dialog is open)
    scripts = browser.find_elements(By.TAG_NAME, "script")
    assert len(scripts) == 1 and scripts[0].get_attribute("textContent").lstrip().startswith(
        '"use strict"')
    assert browser.find_elements(By.TAG_NAME, "img") == []
    shown = browser.execute_script(  # in one script: the table may be redrawn meanwhile
        "return [...document.querySelectorAll('td[data-field=key]')].map(e => e.innerText)")
    assert "<script>alert(1)</script>" in shown  # rendered, not only in the DOM
    assert console_problems(browser) == []


def test_a_stopped_node_shows_the_banner_and_keeps_the_last_numbers(node: Node,
                                                                   browser: Any) -> None:
    node.traffic(100)
    browser.get(node.page())
    wait_for(browser, lambda d: gets_shown(d) == 100, "the gets never showed")
    assert not is_stale(browser)
    node.stop()
    wait_for(browser, is_stale, "the page did not notice the node is gone")
    assert gets_shown(browser) == 100
    assert field(browser, "gets", attr=None) == "100"
    assert "Cannot read" in field(browser, "error", None, None)
    assert hot_keys_shown(browser)  # the whole card is still there


def test_a_screenshot_of_the_dashboard(node: Node, browser: Any, tmp_path: Path) -> None:
    browser.get(node.page())
    wait_for(browser, lambda d: gets_shown(d) >= 0, "no card")
    # Traffic across sampler ticks gives the charts a few points.
    wait_for(browser, lambda d: node.traffic(200) or chart_points(d, "latency") >= 8,
             "the charts never filled")
    path = Path(os.environ.get("DISTCACHE_SCREENSHOT") or tmp_path / "status.png")
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width >= 800 and height >= 600 and len(data) > 20_000


# A node with peers and a degraded health, served by a stub under a path prefix,
# as behind a reverse proxy; its /stats can be made to fail.
STUB_DOC: dict[str, Any] = {
    "schema": 1,
    "node": {"addr": "127.0.0.1:7001", "version": "0.1.0", "pid": 4242,
             "uptime_seconds": 3725.5, "time": 1764770000.0, "health": "degraded",
             "reasons": ["peer 127.0.0.1:7003 is down"]},
    "groups": [{
        "name": "users", "gets": 1200, "hit_rate": 0.75, "window_seconds": 10.0, "qps": 120.5,
        "window_hit_rate": 0.8, "p50": 2.1e-06, "p95": 0.0004, "p99": 0.0021, "items": 300,
        "bytes": 40000, "max_bytes": 1048576,
        "hot_keys": [{"key": "user:1", "count": 40}, {"key": HOSTILE_KEYS[1], "count": 9}],
        "bloom": {"queries": 50, "negative": 45, "positive": 4, "false_positive": 1,
                  "false_positive_rate": 0.0217},
        "counters": {"gets": 1200},
        "history": {"t": [1764769990.0, 1764769991.0, 1764769992.0],
                    "qps": [110.0, 130.0, 120.0], "hit_rate": [0.7, None, 0.8],
                    "p50": [2e-06, 3e-06, 0.0], "p99": [0.002, 0.001, 0.0]}}, {
        "name": "orders", "gets": 0, "hit_rate": 0.0, "window_seconds": 0.0, "qps": 0.0,
        "window_hit_rate": None, "p50": 0.0, "p95": 0.0, "p99": 0.0, "items": 0, "bytes": 0,
        "max_bytes": 1024, "hot_keys": [], "bloom": None, "counters": {},
        "history": {"t": [], "qps": [], "hit_rate": [], "p50": [], "p99": []}}],
    "peers": [{"addr": "127.0.0.1:7002", "state": "up", "errors": 0, "last_error": ""},
              {"addr": "127.0.0.1:7003", "state": "down", "errors": 12,
               "last_error": "UNAVAILABLE: <b>failed</b> to connect"}],
}


class _Stub(ThreadingHTTPServer):
    daemon_threads = True
    doc: Any = STUB_DOC
    failing = False
    paths: list[str]


class _StubHandler(BaseHTTPRequestHandler):
    server: _Stub

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path.startswith("/node/a/status"):
            self._send(200, html_text().encode(), "text/html; charset=utf-8")
        elif self.path == "/node/a/stats" and not self.server.failing:
            self._send(200, json.dumps(self.server.doc).encode(), "application/json")
        else:
            self._send(500 if self.server.failing else 404, b"no\n", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _StubHandler)
    server.paths = []
    server.doc = copy.deepcopy(STUB_DOC)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_peers_health_and_formats_behind_a_path_prefix(stub: _Stub, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"http://127.0.0.1:{stub.server_address[1]}/node/a/status?refresh=300")
    wait_for(browser, lambda d: gets_shown(d) == 1200, "no stats from /node/a/stats")
    assert console_problems(browser) == []
    assert set(stub.paths) == {"/node/a/status?refresh=300", "/node/a/stats"}
    assert field(browser, "health", None, None) == "degraded"
    # Read in one script: the page may redraw the list between a find and a .text
    # (a stale element, seen once in CI under load).
    reasons = browser.execute_script(
        "return [...document.querySelectorAll('[data-field=reasons] li')]"
        ".map(e => e.textContent)")
    assert reasons == ["peer 127.0.0.1:7003 is down"]
    texts = {name: field(browser, name, attr=None) for name in (
        "gets", "hit_rate", "window_hit_rate", "qps", "p50", "p95", "p99", "bytes", "max_bytes",
        "bloom_fp_rate")}
    assert texts == {"gets": "1,200", "hit_rate": "75.0%", "window_hit_rate": "80.0%",
                     "qps": "121", "p50": "2.1 µs", "p95": "400 µs", "p99": "2.1 ms",
                     "bytes": "39.1 KiB", "max_bytes": "1.0 MiB", "bloom_fp_rate": "2.2%"}
    assert field(browser, "window_hit_rate", "orders", None) == "—"
    assert not browser.find_element(
        By.CSS_SELECTOR, "[data-card][data-group=orders] [data-field=bloom_queries]").is_displayed()

    def peer(addr: str, name: str) -> Any:
        return browser.find_element(By.CSS_SELECTOR, f'tr[data-peer="{addr}"] [data-field={name}]')

    assert peer("127.0.0.1:7002", "state").text == "up"
    assert peer("127.0.0.1:7003", "state").text == "down"
    assert peer("127.0.0.1:7003", "state").value_of_css_property("color") != \
        peer("127.0.0.1:7002", "state").value_of_css_property("color")
    assert peer("127.0.0.1:7003", "errors").text == "12"
    assert peer("127.0.0.1:7003", "last_error").text == "UNAVAILABLE: <b>failed</b> to connect"
    assert browser.find_elements(By.TAG_NAME, "b") == []
    assert HOSTILE_KEYS[1] in hot_keys_shown(browser)

    # A group that goes away loses its card; a failing /stats keeps the rest, stale.
    stub.doc["groups"] = stub.doc["groups"][:1]
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-group=orders]"),
             "the closed group's card stayed")
    stub.failing = True
    wait_for(browser, is_stale, "a 500 from /stats did not show the banner")
    assert "HTTP 500" in field(browser, "error", None, None)
    assert gets_shown(browser) == 1200
    stub.failing = False
    wait_for(browser, lambda d: not is_stale(d), "the banner stayed after /stats came back")


class _Resources(HTMLParser):
    """The page's tags, its URL-bearing attributes and its inline scripts."""

    URL_ATTRS = {"src", "href", "action", "formaction", "srcset", "poster", "data", "background",
                 "xlink:href", "manifest", "ping"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self.script_attrs: list[dict[str, str | None]] = []
        self.csp: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for name, value in attrs:
            if name in self.URL_ATTRS:
                self.urls.append((tag, name, value or ""))
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content")
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
            self.script_attrs.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def test_the_page_needs_nothing_from_the_network() -> None:
    text = html_text()
    page = _Resources()
    page.feed(text)
    assert page.urls == [("link", "href", "data:,")]  # the favicon, so none is requested
    assert not {"iframe", "img", "object", "embed", "video", "audio", "base"} & set(page.tags)
    assert page.script_attrs == [{}] and len(page.scripts) == 1  # one inline script, no src
    assert "@import" not in text and not re.search(r"url\s*\(", text)
    # The only absolute URL is the SVG namespace, a name that is never fetched.
    assert set(re.findall(r"\b\w+://[^\s\"'`)]*", text)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"""["'`]//""", text)  # no protocol-relative URL
    script = page.scripts[0]
    assert re.findall(r"\bfetch\(([^,)]*)", script) == ["STATS_URL"]
    assert 'STATS_URL = location.pathname.endsWith("/") ? "../stats" : "stats"' in script


def test_the_script_never_writes_markup() -> None:
    page = _Resources()
    page.feed(html_text())
    script = page.scripts[0]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "Function(", "srcdoc", "createContextualFragment", "DOMParser", "on" + "error"):
        assert sink not in script, sink
    assert not re.search(r"""setAttribute\(\s*["']on""", script)


def test_the_csp_allows_exactly_the_page_s_script() -> None:
    # The CSP lets only this script run (so an injected <script> or on* attribute
    # could not) and lets the page connect only to its own origin.
    page = _Resources()
    page.feed(html_text())
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest()).decode()
    assert page.csp is not None
    directives = dict(d.strip().split(" ", 1) for d in page.csp.split(";") if d.strip())
    assert directives["script-src"] == f"'sha256-{digest}'", (
        f"the script changed: put 'sha256-{digest}' in status.html's CSP")
    assert directives["default-src"] == "'none'" and directives["connect-src"] == "'self'"
