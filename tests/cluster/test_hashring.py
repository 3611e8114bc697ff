"""The hash ring: balance, minimal movement, replicas, the same answer in every process."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from distcache.cluster.hashring import HashRing, ring_point

NODES = ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"]
KEYS = [f"user:{i}" for i in range(100_000)]


def test_load_is_within_10_percent_across_nodes() -> None:
    ring = HashRing(NODES)
    counts = Counter(ring.get(k) for k in KEYS)
    mean = len(KEYS) / len(NODES)
    assert set(counts) == set(NODES)
    assert all(abs(c - mean) / mean <= 0.10 for c in counts.values()), counts


def test_a_fourth_node_moves_about_a_quarter_of_the_keys() -> None:
    ring = HashRing(NODES)
    before = {k: ring.get(k) for k in KEYS}
    ring.add("127.0.0.1:8004")
    moved = [k for k in KEYS if ring.get(k) != before[k]]
    assert 0.20 <= len(moved) / len(KEYS) <= 0.30
    assert all(ring.get(k) == "127.0.0.1:8004" for k in moved)  # only to the newcomer
    ring.remove("127.0.0.1:8004")
    assert all(ring.get(k) == before[k] for k in KEYS[:5000])


def test_replicas_are_distinct_and_ordered() -> None:
    ring = HashRing(NODES)
    for k in KEYS[:2000]:
        two = ring.get_n(k, 2)
        assert len(set(two)) == 2 and two[0] == ring.get(k)
        assert ring.get_n(k, 5) == ring.get_n(k, 3)  # never more than there are nodes
        assert ring.get_n(k, 3)[:2] == two
    assert HashRing().get("k") is None and HashRing().get_n("k", 2) == []


def test_placement_is_the_same_in_another_process() -> None:
    code = ("from distcache.cluster.hashring import HashRing; "
            f"r = HashRing({NODES!r}); print([r.get_n(f'user:{{i}}', 2) for i in range(200)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout
    ring = HashRing(NODES)
    assert out.strip() == str([ring.get_n(f"user:{i}", 2) for i in range(200)])


def test_ring_points_are_fnv1a_then_fmix32() -> None:
    # fnv32a(b"a") = 0xE40C292C (published vector); fmix32 of it, computed by hand.
    h = 0xE40C292C
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    assert ring_point("a") == h


@pytest.mark.parametrize("bad", [0, -1, True, "160"])
def test_bad_vnodes(bad: object) -> None:
    with pytest.raises(ValueError, match="vnodes"):
        HashRing(vnodes=bad)  # type: ignore[arg-type]


def test_bad_node_names() -> None:
    with pytest.raises(ValueError, match="non-empty str"):
        HashRing(["", "a"])
