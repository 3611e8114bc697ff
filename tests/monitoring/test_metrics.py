"""/metrics: parsed with prometheus_client's own parser; the values move with traffic."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import distcache
from distcache.monitoring.prometheus import enable_metrics
from distcache.peers import NotFound

from .conftest import fetch

ROOT = Path(__file__).resolve().parents[2]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    status, headers, body = fetch(url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def getter(key: str) -> bytes:
    if key.startswith("absent"):
        raise NotFound(key)
    if key == "boom":
        raise RuntimeError("the database is down")
    return key.encode() * 4


def test_the_counters_move_with_traffic(server) -> None:
    g = distcache.new_group("shop", 1 << 20, getter)
    before = scrape(server.url)
    assert value(before, "distcache_requests_total", group="shop", method="get", status="ok") == 0
    for i in range(200):
        g.get(f"k{i % 20}")  # 20 loads, 180 hits
    for _ in range(3):
        with pytest.raises(NotFound):
            g.get("absent-1")  # a load, then two answers of the negative cache
    with pytest.raises(RuntimeError):
        g.get("boom")
    g.set("k0", b"new")
    g.delete("k1")
    g.get_many(["k2", "k3", "k99"])
    after = scrape(server.url)

    def v(name: str, **labels: str) -> float:
        return value(after, name, group="shop", **labels)

    assert v("distcache_requests_total", method="get", status="ok") == 200 + 1  # and k99
    assert v("distcache_requests_total", method="get", status="not_found") == 3
    assert v("distcache_requests_total", method="get", status="error") == 1
    assert v("distcache_requests_total", method="set", status="ok") == 1
    assert v("distcache_requests_total", method="delete", status="ok") == 1
    assert v("distcache_requests_total", method="get_many", status="ok") == 1
    assert v("distcache_hits_total", type="local") == 180 + 2
    assert v("distcache_getter_loads_total") == 20 + 1 + 1 + 1
    assert v("distcache_negative_hits_total") == 2
    assert v("distcache_bloom_filter_queries_total", result="positive") == 2
    assert v("distcache_cache_items", cache="main") == 20
    assert v("distcache_cache_size_bytes") > 0
    assert v("distcache_cache_max_bytes") == 1 << 20
    # Every get is in the histogram once; the buckets are cumulative.
    gets = v("distcache_request_duration_seconds_count", method="get")
    assert gets == sum(v("distcache_requests_total", method="get", status=s)
                       for s in ("ok", "not_found", "error"))
    buckets = sorted((float(dict(labels)["le"]), val) for (name, labels), val in after.items()
                     if name == "distcache_request_duration_seconds_bucket")
    assert buckets[-1] == (float("inf"), gets)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:], strict=False))
    assert v("distcache_request_duration_seconds_sum", method="get") > 0
    assert value(after, "distcache_healthy") == 1
    assert value(after, "distcache_build_info", version=distcache.__version__) == 1


def test_every_group_has_its_labels_and_names_follow_the_conventions(server) -> None:
    for i in range(10):
        distcache.new_group(f"g{i}", 1 << 16, getter).get("k")
    status, _, body = fetch(server.url + "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    ours = {n: f for n, f in families.items() if n.startswith("distcache_")}
    for name, family in ours.items():
        if family.type == "counter":
            assert all(s.name == name + "_total" for s in family.samples), name
        if name.endswith("_bytes") or name.endswith("_seconds"):
            assert family.type in ("gauge", "histogram"), name
    groups = {s.labels["group"] for s in ours["distcache_requests"].samples}
    assert groups == {f"g{i}" for i in range(10)}
    # prometheus_client's own process metrics are served beside ours.
    assert "process_resident_memory_bytes" in families


def test_enable_metrics_adds_one_collector_to_the_default_registry() -> None:
    assert enable_metrics() is enable_metrics()
    distcache.new_group("plain", 1 << 16, getter).get("x")
    text = generate_latest(REGISTRY).decode()
    assert 'distcache_requests_total{group="plain",method="get",status="ok"} 1.0' in text


def test_openmetrics_is_served_to_who_asks_for_it(server) -> None:
    import urllib.request

    request = urllib.request.Request(server.url + "/metrics",
                                     headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        assert r.read().decode().rstrip().endswith("# EOF")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_prometheus_client_and_grpc_are_each_imported_by_one_subpackage() -> None:
    package = ROOT / "distcache"
    by = {p.relative_to(package).as_posix(): _imports(p) for p in package.glob("**/*.py")}
    metrics = [n for n, imported in by.items() if "prometheus_client" in imported]
    network = [n for n, imported in by.items() if "grpc" in imported or "grpc_health" in imported]
    assert metrics and all(n.startswith("monitoring/") for n in metrics), metrics
    assert network and all(n.startswith("cluster/") for n in network), network
    # The hot path (the core and the group) knows nothing of either.
    twin = [name for name in by if name.startswith("_pycore/")]
    assert "_pycore/lru.py" in twin
    group = [name for name in by if name.startswith("group/")]
    assert "group/group.py" in group
    for name in ("_contract.py", "_backend.py", *group, *twin):
        assert not by[name] & {"prometheus_client", "grpc"}, name
    core = ROOT / "distcache"
    for path in [core / "_core.pyx", *core.glob("_core_*.pxi")]:  # what the .pyx includes
        assert "prometheus_client" not in path.read_text(), path.name


def test_a_local_cache_loads_neither_grpc_nor_prometheus_client() -> None:
    # A user of the local cache and of groups pays for neither import.
    code = ("import sys, distcache; g = distcache.new_group('local', 1 << 20, lambda k: b'v'); "
            "g.get('k'); c = distcache.LRUCache(1 << 20); c['k'] = b'v'; "
            "print(sorted(m for m in ('grpc', 'prometheus_client') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_stale_hits_and_refreshes_are_shown(server) -> None:
    import time

    from .conftest import fetch_json

    calls: list[str] = []

    def versioned(key: str) -> bytes:
        calls.append(key)
        if len(calls) == 3:
            raise OSError("source down")
        return b"v%d" % len(calls)

    g = distcache.new_group("swr", 1 << 20, versioned, default_ttl=0.1, stale_ttl=60)
    g.get("k")  # loaded: v1
    for expected_refreshes in (1, 2):  # the second refresh fails
        time.sleep(0.15)
        g.get("k")  # stale: a refresh starts
        deadline = time.monotonic() + 20
        while (g.stats()["refreshes"] + g.stats()["refresh_errors"] < expected_refreshes
               and time.monotonic() < deadline):
            time.sleep(0.01)
    samples = scrape(server.url)
    assert value(samples, "distcache_stale_hits_total", group="swr") == 2
    assert value(samples, "distcache_refreshes_total", group="swr", result="ok") == 1
    assert value(samples, "distcache_refreshes_total", group="swr", result="error") == 1
    counters = next(x for x in fetch_json(server.url + "/stats")["groups"]
                    if x["name"] == "swr")["counters"]
    assert (counters["stale_hits"], counters["refreshes"], counters["refresh_errors"]) == (2, 1, 1)
