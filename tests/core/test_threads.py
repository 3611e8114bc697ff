"""Threads: 8 threads hammer one cache, one bloom filter and one sketch at once."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

THREADS = 8
SECONDS = 2.0
KEYS = [f"key:{i}" for i in range(300)]


def value_for(key: str, rng: random.Random) -> bytes:
    """A value that names its key, so a value read under another key is caught."""
    return key.encode() + b"|" + b"x" * rng.randrange(0, 600)


def check_value(key: Any, value: bytes | None) -> None:
    if value is None:
        return
    assert type(value) is bytes
    name = key.encode() if isinstance(key, str) else bytes(key)
    head, sep, tail = value.partition(b"|")
    assert (head, sep) == (name, b"|"), (key, value[:40])
    assert tail == b"x" * len(tail)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 us instead of 5 ms, so that calls interleave often."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def run_workers(work: Callable[[int, float], None]) -> None:
    """Runs work(seed, deadline) on THREADS threads for SECONDS; re-raises the
    first exception of any of them and fails if one is still running after."""
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            work(seed, deadline)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    deadline = time.monotonic() + SECONDS
    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a worker is stuck"
    if errors:
        raise errors[0]


def worker(
    seed: int, caches: list[Any], bloom: Any, sketch: Any, deadline: float, added: list[str]
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        key = rng.choice(KEYS)
        op = rng.randrange(14)
        target = rng.choice(caches)
        if op == 0:
            target.set(key, value_for(key, rng), ttl=rng.choice([None, 0.01, 30.0]))
        elif op == 1:
            target[key.encode()] = value_for(key, rng)
        elif op == 2:
            check_value(key, target.get(key))
        elif op == 3:
            keys = rng.sample(KEYS, 5)
            for k, v in target.get_many(keys).items():
                check_value(k, v)
        elif op == 4:
            target.set_many({k: value_for(k, rng) for k in rng.sample(KEYS, 4)})
        elif op == 5:
            target.delete(key)
        elif op == 6:
            assert isinstance(key in target, bool)
        elif op == 7:
            stats = target.stats()
            assert stats["nbytes"] <= stats["max_bytes"]
            assert target.nbytes <= target.max_bytes
            assert len(target) >= 0
            if target.tracks_frequency:
                assert target.frequency(key) >= 0
                assert target.frequency_stats()["additions"] >= 0
        elif op == 8 and rng.random() < 0.02:
            target.clear()
        elif op == 9:
            bloom.add(key)
            added.append(key)
            assert key in bloom
        elif op == 10:
            keys = rng.sample(KEYS, 3)
            bloom.add_many(keys)
            added.extend(keys)
            assert isinstance(bloom.approx_count, int)
        elif op == 11:
            assert 0 <= sketch.add(key, rng.randrange(1, 5)) <= 2**32 - 1
        elif op == 12:
            assert 0 <= sketch.estimate(key) <= 2**32 - 1
        elif op == 13 and rng.random() < 0.05:
            sketch.halve()


def test_threads_hammer_everything(core: ModuleType, fast_switching: None) -> None:
    cache = core.LRUCache(20_000, shards=16)  # ~30 entries: eviction on most sets
    small = core.LRUCache(3_000, shards=256)  # mostly empty shards: cross-shard eviction
    admitting = core.LRUCache(8_000, shards=4, admission="tinylfu")  # SLRU, refusals
    bloom = core.BloomFilter(200, 0.01)
    sketch = core.CountMinSketch(64, 4, halve_every=5_000)
    added: list[list[str]] = [[] for _ in range(THREADS)]
    run_workers(
        lambda seed, deadline: worker(
            seed, [cache, small, admitting], bloom, sketch, deadline, added[seed]
        )
    )

    for c in (cache, small, admitting):
        c._check_invariants()
        stats = c.stats()
        assert c.nbytes <= c.max_bytes
        assert stats["items"] == len(c)
        assert stats["nbytes"] == c.nbytes
        assert stats["sets"] > 0 and stats["hits"] > 0
        for key in KEYS:
            check_value(key, c.get(key))
        c._check_invariants()
    assert cache.stats()["evictions"] > 0
    assert small.stats()["evictions"] > 0
    assert admitting.stats()["admission_rejects"] > 0
    assert 0 < bloom.bits_set <= bloom.nbits
    assert all(key in bloom for keys in added for key in keys)  # no bit was lost
    assert sketch.halvings > 0


def admission_worker(seed: int, caches: list[Any], deadline: float) -> None:
    rng = random.Random(seed)
    hot = KEYS[:40]
    while time.monotonic() < deadline:
        c = rng.choice(caches)
        key = rng.choice(hot) if rng.random() < 0.7 else rng.choice(KEYS)
        op = rng.randrange(9)
        if op == 0:
            value = key.encode() + b"|" + b"x" * rng.randrange(0, 200)
            assert c.set(key, value) in (True, False)
        elif op == 1:
            check_value(key, c.get(key))
        elif op == 2:
            for k, v in c.get_many(rng.sample(hot, 4)).items():
                check_value(k, v)
        elif op == 3:
            c.set_many(
                {k: k.encode() + b"|" + b"x" * rng.randrange(0, 100) for k in rng.sample(KEYS, 3)}
            )
        elif op == 4:
            c.delete(key)
        elif op == 5:
            assert isinstance(key in c, bool)
        elif op == 6:
            assert 0 <= c.frequency(key) <= 256
        elif op == 7:
            for _ in range(rng.randrange(1, 30)):  # a key asked for often: admitted, protected
                check_value(key, c.get(key))
        elif rng.random() < 0.01:
            c.clear()


def test_threads_on_small_admission_caches(core: ModuleType, fast_switching: None) -> None:
    """8 threads on TinyLFU caches with room for a few entries: refusals, protected
    overflow, cross-shard victims compared under trylock, and halvings (every 640
    recorded accesses) all race; afterwards the structures are intact."""
    one_shard = core.LRUCache(2_000, shards=1, admission="tinylfu")
    many_shards = core.LRUCache(3_000, shards=256, admission="tinylfu")
    caches = [one_shard, many_shards]
    run_workers(lambda seed, deadline: admission_worker(seed, caches, deadline))

    for c in caches:
        c._check_invariants()
        stats = c.stats()
        assert c.nbytes <= c.max_bytes
        assert stats["items"] == len(c)
        assert stats["admission_rejects"] > 0
        assert stats["evictions"] > 0 and stats["hits"] > 0
        figures = c.frequency_stats()
        assert figures["halvings"] > 0
        assert 0 <= figures["additions"] < figures["sample"]
        for key in KEYS:
            check_value(key, c.get(key))
            assert 0 <= c.frequency(key) <= 256
        c._check_invariants()
