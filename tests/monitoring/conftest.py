"""Fixtures of the monitoring tests: groups forgotten after each test, a metrics server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from distcache.group.registry import _reset_groups
from distcache.monitoring.server import MetricsServer, start_metrics_server


@pytest.fixture(autouse=True)
def _forget_groups() -> Iterator[None]:
    _reset_groups()
    yield
    _reset_groups()


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    """A metrics server on a free 127.0.0.1 port, sampling every 0.1 s; stopped after."""
    srv = start_metrics_server("127.0.0.1:0", interval=0.1, window=2.0)
    try:
        yield srv
    finally:
        srv.stop()


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def fetch_json(url: str) -> Any:
    status, _, body = fetch(url)
    assert status in (200, 503), (status, body)
    return json.loads(body)
