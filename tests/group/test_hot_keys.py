"""Hot-key detection: the sketch finds the heavy hitters of a skewed stream."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from types import ModuleType

from distcache.group import new_group


def zipf_stream(n_keys: int, s: float, n: int, seed: int) -> list[str]:
    """n keys drawn from Zipf(s) over n_keys names (rank r has weight 1 / r**s)."""
    rng = random.Random(seed)
    names = [f"item:{i}" for i in range(n_keys)]
    rng.shuffle(names)  # the hottest keys are not the first ones created
    cum = list(itertools.accumulate(1.0 / (r**s) for r in range(1, n_keys + 1)))
    return rng.choices(names, cum_weights=cum, k=n)


def test_zipf_hottest_ten_are_in_top_twenty(core: ModuleType) -> None:
    stream = zipf_stream(100_000, 1.1, 150_000, seed=20240611)
    g = new_group("zipf", 8 << 20, lambda key: b"v" * 32, _core=core)
    for key in stream:
        g.get(key)
    truly_hottest = [k for k, _ in Counter(stream).most_common(10)]
    top = [k for k, _ in g.top_hot_keys(20)]
    assert len(top) == 20
    assert set(truly_hottest) <= set(top)
    estimates = dict(g.top_hot_keys(20))
    assert estimates[truly_hottest[0]] >= estimates[truly_hottest[9]]


def test_top_hot_keys_of_a_local_group_without_misses(core: ModuleType) -> None:
    # Only hits after the first round: counting must not depend on misses.
    g = new_group("local", 1 << 20, lambda key: b"v", _core=core)
    for i in range(10):
        g.get(f"k{i}")
    for round_ in range(30):
        g.get("hot")
        g.get("warm")
        g.get("warm")
        if round_ % 3 == 0:
            for i in range(10):
                g.get(f"k{i}")
    for _ in range(60):
        g.get("warm")
    top = g.top_hot_keys(3)
    assert [k for k, _ in top[:2]] == ["warm", "hot"]
    assert top[0][1] >= 100 and 25 <= top[1][1] <= 40 and top[2][1] <= 12


def test_top_hot_keys_is_bounded(core: ModuleType) -> None:
    g = new_group("many", 1 << 20, lambda key: b"v", _core=core, _top_candidates=32)
    for _ in range(3):
        for i in range(2000):
            g.get(f"k{i}")
    assert len(g.top_hot_keys(1000)) <= 64
    assert len(g._hot_keys._candidates) < 64
    assert g.top_hot_keys(0) == []


def test_keys_tied_at_the_sketch_ceiling_rank_by_sightings(core: ModuleType) -> None:
    # The main cache's counters stop at 255 (docs/internals.md): 50 keys asked
    # 600 times and 10 asked 3,000 times all read 256 before any halving. The
    # 10 must still come first, ranked by how often the group saw them.
    g = new_group("ceiling", 8 << 20, lambda key: b"v" * 32, _core=core)
    old = [f"old{i}" for i in range(50)]
    new = [f"new{i}" for i in range(10)]
    rng = random.Random(1)
    first = old * 300
    rng.shuffle(first)
    second = old * 300 + new * 3000
    rng.shuffle(second)
    for key in first + second:
        g.get(key)
    top = g.top_hot_keys(20)
    assert g.stats()["sketch"]["halvings"] == 0
    assert {estimate for _, estimate in top} == {256}
    assert sorted(k for k, _ in top[:10]) == sorted(new)
