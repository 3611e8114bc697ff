"""The C core and its Python twin, driven with the same operations, agree on everything.

docs/internals.md specifies eviction order, counters and bit positions exactly,
so every answer, every exception and every stats() must match. Needs both
modules: a missing C build fails these tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from distcache import _pycore

SETTINGS = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    # One failure, shrunk; shrinking each distinct failure can outlast the timeout.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def bounded_shrinking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Report a shrunk failure within ~1 minute: hypothesis's own cap is 5 (the test timeout)."""
    from hypothesis.internal.conjecture import engine

    monkeypatch.setattr(engine, "MAX_SHRINKING_SECONDS", 60, raising=False)


def c_core() -> ModuleType:
    try:
        from distcache import _core
    except ImportError as exc:
        pytest.fail(f"distcache._core cannot be imported ({exc}); run `make build`", pytrace=False)
    return _core


HOT = ["a", "b", "é", "", "日本"]
NAMES = HOT + [f"k{i}" for i in range(35)]
# Half the draws from a few hot names (hits, updates), half from 40 names,
# enough to fill more than 8 shards (the cross-shard sample).
key_names = st.sampled_from(HOT) | st.sampled_from(NAMES)


@st.composite
def keys(draw: st.DrawFn, hashable: bool = False) -> Any:
    """A key from a small alphabet, as str, bytes, bytearray or memoryview."""
    name = draw(key_names)
    forms = ["str", "bytes", "memoryview"] + ([] if hashable else ["bytearray"])
    form = draw(st.sampled_from(forms))
    raw = name.encode()
    return {"str": name, "bytes": raw, "memoryview": memoryview(raw), "bytearray": bytearray(raw)}[
        form
    ]


@st.composite
def values(draw: st.DrawFn) -> Any:
    """A value of 0..400 bytes (mostly bytes), sometimes an invalid one."""
    # Only sizes matter to the cache; a fill byte instead of arbitrary binary
    # keeps hypothesis's shrinking of a failing run to seconds.
    data = draw(st.sampled_from(b"vwxyz")).to_bytes(1, "big") * draw(st.integers(0, 400))
    form = draw(st.sampled_from(["bytes"] * 8 + ["bytearray", "memoryview", "bad"]))
    if form == "bad":
        return draw(st.sampled_from(["text", 7, None]))
    return {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data)}[form]


ttls = st.sampled_from([None, None, 3600.0, math.inf, 7200])

# Few versions, so that writes meet equal, older and newer ones; the ends of
# the range; now and then an invalid one.
VERSION_LIMIT = 2**64 - 1
good_versions = st.integers(1, 6) | st.sampled_from([2**63, VERSION_LIMIT])
versions = good_versions | st.sampled_from([0, 0, -1, 2**64, True, 1.5, "3", None])


def bad_key(kind: str) -> Any:
    """An invalid key: a wrong type, or one byte over MAX_KEY_LEN (built on draw)."""
    return {"int": 5, "none": None, "float": 1.5}.get(kind) or (
        b"k" * 65536 if kind == "long-bytes" else "é" * 32768
    )


bad_keys = st.sampled_from(["int", "none", "float", "long-bytes", "long-str"]).map(bad_key)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except (TypeError, ValueError, KeyError) as exc:
        # Messages are specified for the TypeErrors; for the others the type is.
        detail = str(exc) if type(exc) in (TypeError, KeyError) else None
        return ("raised", (type(exc), detail))


class CacheTwins(RuleBasedStateMachine):
    """A C LRUCache and a Python one in lockstep: every answer and state compared."""

    names = NAMES  # whose presence and frequency estimates are compared each step

    def __init__(self) -> None:
        super().__init__()
        self.core = c_core()

    def start(self, max_bytes: int, default_ttl: float | None, **options: Any) -> None:
        self.c = self.core.LRUCache(max_bytes, default_ttl, **options)
        self.p = _pycore.LRUCache(max_bytes, default_ttl, **options)
        for name in ("max_bytes", "default_ttl", "shards", "admission", "tracks_frequency"):
            assert getattr(self.c, name) == getattr(self.p, name), name

    def same(self, fn: Callable[[Any], Any]) -> Any:
        got_c = outcome(lambda: fn(self.c))
        got_p = outcome(lambda: fn(self.p))
        assert got_c == got_p
        return got_c

    @invariant()
    def agree(self) -> None:
        self.c._check_invariants()
        self.p._check_invariants()
        assert self.c.stats() == self.p.stats()
        assert len(self.c) == len(self.p)
        assert self.c.nbytes == self.p.nbytes <= self.c.max_bytes
        present = [name for name in self.names if name in self.p]
        assert [name for name in self.names if name in self.c] == present
        held = [self.p.version_of(name) for name in self.names]
        assert [self.c.version_of(name) for name in self.names] == held
        assert self.c.frequency_stats() == self.p.frequency_stats()
        if self.p.tracks_frequency:
            estimates = [self.p.frequency(name) for name in self.names]
            assert [self.c.frequency(name) for name in self.names] == estimates


class LRUTwins(CacheTwins):
    """Every method of LRUCache, valid and invalid calls, in every mode."""

    @initialize(
        max_bytes=st.integers(60, 1500) | st.integers(1500, 5000),
        shards=st.sampled_from([None, 1, 2, 4, 8, 16, 256]),
        default_ttl=st.sampled_from([None, 3600.0, math.inf]),
        admission=st.sampled_from([None, None, "tinylfu"]),
        track_frequency=st.booleans(),
    )
    def init(
        self,
        max_bytes: int,
        shards: int | None,
        default_ttl: float | None,
        admission: str | None,
        track_frequency: bool,
    ) -> None:
        self.start(
            max_bytes,
            default_ttl,
            shards=shards,
            admission=admission,
            track_frequency=track_frequency,
        )

    @rule(key=keys(), value=values(), ttl=ttls)
    def set(self, key: Any, value: Any, ttl: Any) -> None:
        self.same(lambda c: c.set(key, value, ttl=ttl))

    @rule(key=keys(), size=st.integers(0, 120))
    def set_small(self, key: Any, size: int) -> None:
        self.same(lambda c: c.set(key, b"s" * size))

    @rule(key=keys(), value=values(), ttl=ttls, version=versions, force=st.booleans())
    def set_versioned(self, key: Any, value: Any, ttl: Any, version: Any, force: bool) -> None:
        self.same(lambda c: c.set(key, value, ttl=ttl, force=force, version=version))

    @rule(key=keys(), value=values(), version=versions, ttl=ttls)
    def set_if_newer(self, key: Any, value: Any, version: Any, ttl: Any) -> None:
        self.same(lambda c: c.set_if_newer(key, value, version, ttl))

    @rule(key=keys(), size=st.integers(0, 120), version=good_versions)
    def set_if_newer_small(self, key: Any, size: int, version: int) -> None:
        self.same(lambda c: c.set_if_newer(key, b"n" * size, version))

    @rule(key=keys(), default=st.sampled_from([None, b"default"]))
    def get_versioned(self, key: Any, default: Any) -> None:
        self.same(lambda c: c.get_versioned(key, default))

    @rule(key=keys())
    def version_of(self, key: Any) -> None:
        self.same(lambda c: c.version_of(key))

    @rule(key=bad_keys, version=good_versions)
    def set_if_newer_bad_key(self, key: Any, version: int) -> None:
        self.same(lambda c: c.set_if_newer(key, b"v", version))

    @rule(key=keys(), value=values())
    def setitem(self, key: Any, value: Any) -> None:
        self.same(lambda c: c.__setitem__(key, value))

    @rule(key=keys(), default=st.sampled_from([None, b"default"]))
    def get(self, key: Any, default: Any) -> None:
        self.same(lambda c: c.get(key, default))

    @rule(key=keys())
    def getitem(self, key: Any) -> None:
        self.same(lambda c: c[key])

    @rule(key=keys())
    def delete(self, key: Any) -> None:
        self.same(lambda c: c.delete(key))

    @rule(key=keys())
    def delitem(self, key: Any) -> None:
        self.same(lambda c: c.__delitem__(key))

    @rule(key=keys())
    def contains(self, key: Any) -> None:
        self.same(lambda c: key in c)

    @rule(ks=st.lists(keys(), max_size=6))
    def get_many(self, ks: list[Any]) -> None:
        self.same(lambda c: c.get_many(ks))

    @rule(
        items=st.lists(st.tuples(keys(hashable=True), values()), max_size=5),
        ttl=ttls,
    )
    def set_many(self, items: list[tuple[Any, Any]], ttl: Any) -> None:
        mapping = dict(items)
        self.same(lambda c: c.set_many(mapping, ttl=ttl))

    @rule(key=bad_keys, value=values())
    def set_bad_key(self, key: Any, value: Any) -> None:
        self.same(lambda c: c.set(key, value))

    @rule(key=bad_keys)
    def get_bad_key(self, key: Any) -> None:
        self.same(lambda c: c.get(key))

    @rule(key=keys())
    def frequency(self, key: Any) -> None:
        self.same(lambda c: c.frequency(key))

    @rule()
    def clear(self) -> None:
        self.same(lambda c: c.clear())


FREQUENCY_NAMES = NAMES[:20]
frequency_names = st.sampled_from(FREQUENCY_NAMES)


class FrequencyTwins(CacheTwins):
    """Caches with a frequency estimate (TinyLFU admission, or tracking alone) on
    traces built for it: small entries and more keys than fit, so that sets face
    admission and evict, hits move entries between the segments and overflow
    protected, and bursts of gets halve the estimate within one example."""

    names = FREQUENCY_NAMES
    # Over a run: how many examples, and how many recorded enough to halve.
    runs = 0
    halved_runs = 0

    @initialize(
        # Room for 1 to 20 entries; the estimate is sized for 64 keys (8 blocks,
        # halved every 640 recorded accesses): keys share blocks and counters.
        max_bytes=st.integers(200, 1500),
        shards=st.sampled_from([None, 1, 1, 2, 4, 16]),
        default_ttl=st.sampled_from([None, 3600.0]),
        policy=st.sampled_from([("tinylfu", False), ("tinylfu", True), (None, True)]),
    )
    def init(
        self,
        max_bytes: int,
        shards: int | None,
        default_ttl: float | None,
        policy: tuple[str | None, bool],
    ) -> None:
        admission, track = policy
        self.start(
            max_bytes, default_ttl, shards=shards, admission=admission, track_frequency=track
        )

    @rule(name=frequency_names, size=st.integers(0, 150))
    def set(self, name: str, size: int) -> None:
        self.same(lambda c: c.set(name, b"s" * size))

    @rule(name=frequency_names, size=st.sampled_from([300, 700, 2000]))
    def set_large(self, name: str, size: int) -> None:
        self.same(lambda c: c.set(name, b"L" * size))

    @rule(name=frequency_names, size=st.integers(0, 150), version=st.integers(0, 4))
    def set_versioned(self, name: str, size: int, version: int) -> None:
        self.same(lambda c: c.set(name, b"s" * size, version=version))

    @rule(
        name=frequency_names,
        size=st.integers(0, 150) | st.sampled_from([2000]),
        version=st.integers(1, 4),
    )
    def set_if_newer(self, name: str, size: int, version: int) -> None:
        """Stored or refused, with the frequency record only when stored."""
        self.same(lambda c: c.set_if_newer(name, b"n" * size, version))

    @rule(name=frequency_names)
    def get_versioned(self, name: str) -> None:
        self.same(lambda c: c.get_versioned(name))

    @rule(name=frequency_names)
    def version_of(self, name: str) -> None:
        self.same(lambda c: c.version_of(name))

    @rule(name=frequency_names)
    def ttl_of(self, name: str) -> None:
        # Seconds left differ by the time between the two calls: compare
        # whether the key is live and whether it has a ttl at all.
        def live_and_bounded(c: Any) -> tuple[bool, bool]:
            left = c.ttl_of(name)
            return left is not None, left is not None and left != float("inf")

        self.same(live_and_bounded)

    @rule(name=frequency_names)
    def get(self, name: str) -> None:
        self.same(lambda c: c.get(name))

    @rule(names=st.lists(frequency_names, max_size=6))
    def get_many(self, names: list[str]) -> None:
        self.same(lambda c: c.get_many(names))

    @rule(items=st.dictionaries(frequency_names, st.integers(0, 150), max_size=4))
    def set_many(self, items: dict[str, int]) -> None:
        self.same(lambda c: c.set_many({k: b"m" * n for k, n in items.items()}))

    @rule(name=frequency_names)
    def delete(self, name: str) -> None:
        self.same(lambda c: c.delete(name))

    @rule(name=frequency_names)
    def contains(self, name: str) -> None:
        self.same(lambda c: name in c)

    @rule()
    def clear(self) -> None:
        self.same(lambda c: c.clear())

    @rule(
        trace=st.lists(
            st.tuples(st.booleans(), frequency_names, st.integers(0, 150)), min_size=5, max_size=30
        )
    )
    def trace(self, trace: list[tuple[bool, str, int]]) -> None:
        """A run of sets and gets in one step (a step's rules alone are too few for
        segments to fill and overflow)."""
        for is_set, name, size in trace:
            if is_set:
                assert self.c.set(name, b"t" * size) == self.p.set(name, b"t" * size)
            else:
                assert self.c.get(name) == self.p.get(name)

    @rule(order=st.permutations(FREQUENCY_NAMES))
    def hit_all(self, order: list[str]) -> None:
        """A hit on every stored key, in some order: protected segments overflow."""
        for name in order:
            if name in self.p:
                assert self.c.get(name) == self.p.get(name)

    @rule(names=st.lists(frequency_names, min_size=1, max_size=4), n=st.integers(20, 700))
    def get_burst(self, names: list[str], n: int) -> None:
        """n gets cycling over a few keys: with a few of these an example halves."""
        for i in range(n):
            key = names[i % len(names)]
            assert self.c.get(key) == self.p.get(key)

    def teardown(self) -> None:
        if hasattr(self, "p"):
            FrequencyTwins.runs += 1
            FrequencyTwins.halved_runs += self.p.frequency_stats()["halvings"] > 0


class BloomTwins(RuleBasedStateMachine):
    """Drive both BloomFilter implementations in lockstep."""

    def __init__(self) -> None:
        super().__init__()
        self.core = c_core()

    @initialize(
        capacity=st.integers(1, 300),
        error_rate=st.sampled_from([0.5, 0.2, 0.1, 0.01, 0.001]),
    )
    def init(self, capacity: int, error_rate: float) -> None:
        self.c = self.core.BloomFilter(capacity, error_rate)
        self.p = _pycore.BloomFilter(capacity, error_rate)
        assert (self.c.nbits, self.c.nhashes) == (self.p.nbits, self.p.nhashes)

    def same(self, fn: Callable[[Any], Any]) -> None:
        assert outcome(lambda: fn(self.c)) == outcome(lambda: fn(self.p))

    @rule(key=st.text(max_size=6) | st.binary(max_size=8))
    def add(self, key: Any) -> None:
        self.same(lambda b: b.add(key))

    @rule(key=st.text(max_size=6) | st.binary(max_size=8))
    def contains(self, key: Any) -> None:
        self.same(lambda b: key in b)

    @rule(ks=st.lists(st.text(max_size=4) | st.binary(max_size=4) | bad_keys, max_size=20))
    def add_many(self, ks: list[Any]) -> None:
        self.same(lambda b: b.add_many(ks))

    @rule()
    def clear(self) -> None:
        self.same(lambda b: b.clear())

    @invariant()
    def agree(self) -> None:
        c, p = self.c, self.p
        assert (c.bits_set, c.approx_count) == (p.bits_set, p.approx_count)
        assert c.estimated_fp_rate == p.estimated_fp_rate
        assert (c.capacity, c.error_rate) == (p.capacity, p.error_rate)


class SketchTwins(RuleBasedStateMachine):
    """Drive both CountMinSketch implementations in lockstep."""

    def __init__(self) -> None:
        super().__init__()
        self.core = c_core()

    @initialize(
        width=st.integers(1, 200),
        depth=st.integers(1, 16),
        halve_every=st.sampled_from([0, 0, 1, 7, 50, 1000, 2**33]),
    )
    def init(self, width: int, depth: int, halve_every: int) -> None:
        self.c = self.core.CountMinSketch(width, depth, halve_every=halve_every)
        self.p = _pycore.CountMinSketch(width, depth, halve_every=halve_every)

    def same(self, fn: Callable[[Any], Any]) -> None:
        assert outcome(lambda: fn(self.c)) == outcome(lambda: fn(self.p))

    @rule(
        key=key_names | st.binary(max_size=4),
        count=st.integers(0, 10) | st.sampled_from([2**31, 2**32 - 1, 2**32, -1]),
    )
    def add(self, key: Any, count: int) -> None:
        self.same(lambda s: s.add(key, count))

    @rule(key=key_names | st.binary(max_size=4))
    def estimate(self, key: Any) -> None:
        self.same(lambda s: s.estimate(key))

    @rule()
    def halve(self) -> None:
        self.same(lambda s: s.halve())

    @rule()
    def clear(self) -> None:
        self.same(lambda s: s.clear())

    @invariant()
    def agree(self) -> None:
        c, p = self.c, self.p
        assert (c.width, c.depth, c.halve_every) == (p.width, p.depth, p.halve_every)
        assert (c.total, c.halvings) == (p.total, p.halvings)
        assert [c.estimate(k) for k in NAMES] == [p.estimate(k) for k in NAMES]


def test_lrucache_twins() -> None:
    c_core()
    run_state_machine_as_test(LRUTwins, settings=SETTINGS)


def test_lrucache_frequency_twins() -> None:
    """Admission decisions, segments and frequency estimates agree, halvings included."""
    c_core()
    FrequencyTwins.runs = FrequencyTwins.halved_runs = 0
    run_state_machine_as_test(FrequencyTwins, settings=settings(SETTINGS, max_examples=100))
    # Hypothesis's examples vary in length: a fifth to a half of them halve.
    assert FrequencyTwins.halved_runs >= 10, (FrequencyTwins.halved_runs, FrequencyTwins.runs)


def test_bloomfilter_twins() -> None:
    c_core()
    run_state_machine_as_test(BloomTwins, settings=settings(SETTINGS, max_examples=75))


def test_countminsketch_twins() -> None:
    c_core()
    run_state_machine_as_test(SketchTwins, settings=settings(SETTINGS, max_examples=75))
