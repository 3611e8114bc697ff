"""Three real nodes with --metrics: peers, /health and the gRPC health service tell a
killed node, and tell it back once it is restarted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from distcache.cluster import connect
from tests.cluster.nodes import Cluster, make_source

from .conftest import fetch, fetch_json

DEADLINE = 20.0  # seconds any state change below may take before the test fails


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + DEADLINE
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE} s: {what} (last: {last!r})")


@pytest.fixture
def cluster(tmp_path) -> Iterator[Cluster]:
    c = Cluster(make_source(tmp_path / "src.db", rows=300), metrics=True)
    try:
        yield c.start()
    finally:
        c.stop()


def grpc_health(addr: str, service: str) -> int:
    with grpc.insecure_channel(addr) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(reply.status)


def peer_up(url: str) -> dict[str, float]:
    _, _, body = fetch(url + "/metrics")
    for family in text_string_to_metric_families(body.decode()):
        if family.name == "distcache_peer_up":
            return {s.labels["peer"]: s.value for s in family.samples}
    return {}


def test_a_killed_node_is_seen_down_and_back(cluster: Cluster) -> None:
    url0 = cluster.metrics_urls[0]
    a0, a1, a2 = cluster.addrs
    SERVING, NOT_SERVING = (health_pb2.HealthCheckResponse.SERVING,
                            health_pb2.HealthCheckResponse.NOT_SERVING)
    wait_for("node 0 healthy", lambda: fetch(url0 + "/health")[0] == 200)
    with connect(a0) as client:
        for i in range(100):
            client.get("items", f"k{i}")
    stats = fetch_json(url0 + "/stats")
    assert stats["node"]["addr"] == a0
    assert stats["node"]["health"] == "healthy"
    assert {p["addr"]: p["state"] for p in stats["peers"]} == {a1: "up", a2: "up"}
    group = stats["groups"][0]
    assert group["name"] == "items" and group["gets"] >= 100
    assert group["counters"]["peer_loads"] > 0  # keys owned elsewhere went to their owner
    assert peer_up(url0) == {a1: 1.0, a2: 1.0}
    assert grpc_health(a0, "distcache.CacheService") == SERVING

    cluster.nodes[2].kill()
    # No read is needed: the prober finds the dead peer by itself.
    health = wait_for("node 0 degraded", lambda: (lambda r: r if r["status"] == "degraded"
                                                  else None)(fetch_json(url0 + "/health")))
    assert fetch(url0 + "/health")[0] == 503
    assert any(a2 in reason for reason in health["reasons"])
    assert peer_up(url0)[a2] == 0.0
    assert wait_for("CacheService NOT_SERVING",
                    lambda: grpc_health(a0, "distcache.CacheService") == NOT_SERVING)
    assert grpc_health(a0, "") == SERVING  # the node itself is alive and answers
    with connect(a0) as client:
        for i in range(100):
            client.get("items", f"k{i}")  # every read still answered
    stats = fetch_json(url0 + "/stats")
    assert {p["addr"]: p["state"] for p in stats["peers"]}[a2] == "down"
    assert stats["node"]["health"] == "degraded"

    cluster.nodes[2].start()
    wait_for("node 0 healthy again", lambda: fetch(url0 + "/health")[0] == 200)
    assert peer_up(url0) == {a1: 1.0, a2: 1.0}
    assert wait_for("CacheService SERVING",
                    lambda: grpc_health(a0, "distcache.CacheService") == SERVING)
    # The restarted node serves its own pages again, on the same port.
    assert fetch_json(cluster.metrics_urls[2] + "/health")["addr"] == a2
