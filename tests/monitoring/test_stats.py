"""/stats: the document monitoring/schema.py declares, with figures that follow the traffic."""

from __future__ import annotations

import dataclasses
import time

import pytest

import distcache
from distcache.monitoring.sampler import Sampler
from distcache.monitoring.schema import GroupStats, History, NodeInfo, NodeStats
from distcache.peers import NotFound

from .conftest import fetch_json


def fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def getter(key: str) -> bytes:
    if key.startswith("absent"):
        raise NotFound(key)
    return b"x" * 100


def test_the_document_has_the_declared_fields(server) -> None:
    distcache.new_group("a", 1 << 20, getter).get("k")
    doc = fetch_json(server.url + "/stats")
    assert set(doc) == fields(NodeStats)
    assert set(doc["node"]) == fields(NodeInfo)
    assert set(doc["groups"][0]) == fields(GroupStats)
    assert set(doc["groups"][0]["history"]) == fields(History)
    assert doc["node"]["addr"] == "local" and doc["peers"] == []
    assert doc["node"]["version"] == distcache.__version__
    assert 0 < doc["node"]["uptime_seconds"] < 24 * 3600


def test_window_figures_follow_the_traffic(server) -> None:
    g = distcache.new_group("busy", 1 << 20, getter)
    time.sleep(0.25)  # the sampler's first point of the group: rates start from it
    for i in range(5000):
        g.get(f"k{i % 100}")
    with pytest.raises(NotFound):
        g.get("absent")
    time.sleep(0.35)  # a few sampler ticks
    doc = fetch_json(server.url + "/stats")["groups"][0]
    assert doc["gets"] == 5001
    assert doc["hit_rate"] == pytest.approx(4900 / 5001)
    assert doc["items"] == 100
    assert doc["bytes"] > 100 * 100 and doc["max_bytes"] == 1 << 20
    assert doc["qps"] > 0 and 0 < doc["window_seconds"] <= 2.0 + 0.5
    assert 0 < doc["p50"] <= doc["p95"] <= doc["p99"]
    assert doc["counters"]["getter_loads"] == 101
    assert doc["bloom"]["queries"] >= 1 and doc["bloom"]["false_positive_rate"] == 0.0
    assert [h["key"] for h in doc["hot_keys"]][:1] and len(doc["hot_keys"]) == 10
    assert all(h["count"] > 0 for h in doc["hot_keys"])
    history = doc["history"]
    assert len(history["t"]) == len(history["qps"]) == len(history["p99"]) >= 2
    assert max(history["qps"]) > 0
    # Quiet for longer than the window: the rate over it falls to 0, totals stay.
    time.sleep(2.4)
    doc = fetch_json(server.url + "/stats")["groups"][0]
    assert doc["qps"] == 0.0 and doc["window_hit_rate"] is None
    assert doc["gets"] == 5001


def test_a_closed_group_leaves_the_document(server) -> None:
    g = distcache.new_group("gone", 1 << 20, getter)
    g.get("k")
    assert [x["name"] for x in fetch_json(server.url + "/stats")["groups"]] == ["gone"]
    g.close()
    time.sleep(0.3)
    assert fetch_json(server.url + "/stats")["groups"] == []


@pytest.mark.parametrize("kw", [dict(interval=0), dict(interval=1, window=0.5),
                                dict(history=1), dict(interval=-1)])
def test_sampler_refuses_bad_periods(kw) -> None:
    with pytest.raises(ValueError):
        Sampler(list, **kw)
