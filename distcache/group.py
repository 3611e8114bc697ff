"""Groups: a named cache in front of a getter, the composition of groupcache.

A group answers ``get(key)`` from its main cache, then its hot cache, then the
peer that owns the key, then its getter (the source of truth) through
singleflight. It remembers absent keys for ``negative_ttl`` seconds and counts
every get in a count-min sketch so that keys owned by another node that
become hot are copied into the local hot cache. See docs/usage.md.

The hit path (``Group.get``) is one main-cache lookup, one deque append and a
1-in-64 latency sampler; everything else lives in ``Group._get_slow``.
"""

from __future__ import annotations

import importlib
import itertools
import math
import re
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from .latency import LatencyHistogram, percentiles
from .singleflight import SingleFlight

__all__ = [
    "Getter",
    "Group",
    "NotFound",
    "Peer",
    "PeerPicker",
    "get_group",
    "new_group",
]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# One get in _HIT_SAMPLE is timed on the hit path. Two perf_counter_ns calls
# cost more than the C lookup itself, so timing every hit would triple its
# cost; misses (microseconds to milliseconds) are all timed. The sampled
# durations wait in a deque like the keys of hits (below).
_HIT_SAMPLE = 64
_HIT_TIMES_MAX = 1024

# Without the GIL (free-threaded builds) hits are not sampled: see Group.__init__.
_GIL_ENABLED: bool = getattr(sys, "_is_gil_enabled", lambda: True)()

# Keys of hits waiting to be counted in the sketch. The hit path only appends
# (~20 ns); the next miss, stats() or top_hot_keys() feeds them to the sketch.
# If more hits than this arrive between two of those, the oldest are dropped
# and the sketch sees the most recent ones: a sample, which is what the
# estimate needs.
_RECENT_MAX = 4096

# Outcomes of one get; each get ends in exactly one of them.
LOCAL, HOT, REMOTE, LOADED, NEGATIVE, NOT_FOUND, ERROR = (
    "local_hits",
    "hot_hits",
    "remote_hits",
    "loaded",
    "negative_hits",
    "not_found",
    "errors",
)


class NotFound(KeyError):
    """The answer that a key does not exist in the source of truth."""


class _RememberedAbsent(NotFound):
    """NotFound answered by the negative cache, without asking the source."""


Getter = Callable[[str], Any]
"""A group's source of truth: key -> bytes-like, or raise NotFound."""


@runtime_checkable
class Peer(Protocol):
    """Another node that can answer for the keys it owns."""

    def get(self, group: str, key: str) -> bytes:
        """The value of key in the named group; raises NotFound when the source lacks it."""
        ...


@runtime_checkable
class PeerPicker(Protocol):
    """Chooses the owner of a key: a Peer, or None when this node owns it."""

    def pick_peer(self, key: str) -> Peer | None:
        """The peer that owns key, or None when the local node does."""
        ...


# Guards _groups.
_groups_lock = threading.Lock()
_groups: dict[str, Group] = {}


def new_group(
    name: str,
    max_bytes: int,
    getter: Getter,
    *,
    negative_ttl: float = 1.0,
    hot_fraction: float = 1 / 8,
    default_ttl: float | None = None,
    admission: str | None = None,
    _core: ModuleType | None = None,
    **tuning: Any,
) -> Group:
    """Create and register a group named name; ValueError if the name is taken."""
    _check_name(name)
    with _groups_lock:
        if name in _groups:
            raise ValueError(f"group {name!r} already exists")
        group = Group(
            name,
            max_bytes,
            getter,
            negative_ttl=negative_ttl,
            hot_fraction=hot_fraction,
            default_ttl=default_ttl,
            admission=admission,
            _core=_core,
            **tuning,
        )
        _groups[name] = group
    return group


def get_group(name: str) -> Group | None:
    """The registered group named name, or None."""
    with _groups_lock:
        return _groups.get(name)


def _reset_groups() -> None:
    """Forget every registered group (for tests)."""
    with _groups_lock:
        _groups.clear()


def _check_name(name: object) -> None:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(f"group name must match [A-Za-z0-9_.-]{{1,64}}, not {name!r}")


def _key_str(key: object) -> str:
    """A key as the str the getter and peers see; bytes-like keys are UTF-8 decoded."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str(key)
    try:
        data = memoryview(key)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"key must be str or bytes-like, not {type(key).__name__}") from None
    return data.tobytes().decode("utf-8")


def _callable_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


class _NegativeCache:
    """Keys the source reported absent, remembered for ttl seconds.

    A rotating pair of bloom filters answers "certainly not absent" for most
    keys; a key both filters may hold is confirmed against an exact, bounded
    table of expiry times, so a bloom false positive never hides a key.
    """

    def __init__(self, core: ModuleType, ttl: float, capacity: int, clock: Callable[[], float]):
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        # Guards the filters' rotation, _expiry and the query counters.
        self._lock = threading.Lock()
        self._current = core.BloomFilter(capacity, 0.01)
        self._previous = core.BloomFilter(capacity, 0.01)
        self._rotate_at = clock() + ttl
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self.bloom_negative = 0
        self.bloom_positive = 0
        self.bloom_false_positive = 0

    def _rotate(self, now: float) -> None:
        # A key added before _rotate_at stays in one of the two filters for at
        # least ttl seconds: current until this rotation, previous until the next.
        if now < self._rotate_at:
            return
        if now >= self._rotate_at + self._ttl:
            self._previous.clear()
        else:
            self._previous, self._current = self._current, self._previous
        self._current.clear()
        self._rotate_at = now + self._ttl

    def __contains__(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            self._rotate(now)
            if key not in self._current and key not in self._previous:
                self.bloom_negative += 1
                return False
            expires = self._expiry.get(key)
            if expires is not None and now < expires:
                self.bloom_positive += 1
                return True
            if expires is not None:
                del self._expiry[key]
            self.bloom_false_positive += 1
            return False

    def add(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            self._rotate(now)
            self._current.add(key)
            expiry = self._expiry
            expiry.pop(key, None)
            expiry[key] = now + self._ttl
            # Every entry has the same ttl, so insertion order is expiry order.
            while expiry and (len(expiry) > self._capacity or next(iter(expiry.values())) <= now):
                expiry.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()
            self._current.clear()
            self._previous.clear()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._expiry),
                "bloom_negative": self.bloom_negative,
                "bloom_positive": self.bloom_positive,
                "bloom_false_positive": self.bloom_false_positive,
            }


class Group:
    """A named cache in front of a getter; create one with new_group()."""

    __slots__ = (
        "__weakref__",
        "_admission",
        "_candidates",
        "_candidates_floor",
        "_candidates_max",
        "_clock",
        "_core",
        "_counts",
        "_default_ttl",
        "_demote_below",
        "_doorkeeper",
        "_flight",
        "_freq_lock",
        "_getter",
        "_getter_name",
        "_halve_seconds",
        "_halvings_seen",
        "_hit_latency",
        "_hit_times",
        "_hot",
        "_hot_bytes",
        "_hot_keys",
        "_main",
        "_main_hits_base",
        "_miss_latency",
        "_mu",
        "_negative",
        "_next_halve",
        "_picker",
        "_promote_at",
        "_recent",
        "_sampler",
        "_sketch",
        "_write_gen",
        "_write_lock",
        "hot_fraction",
        "max_bytes",
        "name",
        "negative_ttl",
    )

    def __init__(
        self,
        name: str,
        max_bytes: int,
        getter: Getter,
        *,
        negative_ttl: float = 1.0,
        hot_fraction: float = 1 / 8,
        default_ttl: float | None = None,
        admission: str | None = None,
        _core: ModuleType | None = None,
        _sketch_width: int = 4096,
        _halve_every: int | None = None,
        _halve_seconds: float = 60.0,
        _promote_at: int = 4,
        _top_candidates: int = 256,
        _negative_capacity: int = 10_000,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_name(name)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be an int > 0, not {max_bytes!r}")
        if not callable(getter):
            raise TypeError(f"getter must be callable, not {type(getter).__name__}")
        if (
            isinstance(hot_fraction, bool)
            or not isinstance(hot_fraction, (int, float))
            or not 0.0 <= hot_fraction <= 0.5
        ):
            raise ValueError(f"hot_fraction must be in [0, 0.5], not {hot_fraction!r}")
        if (
            isinstance(negative_ttl, bool)
            or not isinstance(negative_ttl, (int, float))
            or not 0.0 <= negative_ttl < math.inf
        ):
            raise ValueError(f"negative_ttl must be a finite number >= 0, not {negative_ttl!r}")
        if _promote_at < 1:
            raise ValueError("_promote_at must be >= 1")
        core = _core if _core is not None else importlib.import_module("distcache")
        self.name = name
        self.max_bytes = max_bytes
        self.hot_fraction = float(hot_fraction)
        self.negative_ttl = float(negative_ttl)
        self._core = core
        self._getter = getter
        self._getter_name = _callable_name(getter)
        self._default_ttl = default_ttl
        self._admission = admission
        self._clock = _clock
        # Without peers there is nothing to promote, so the main cache has the
        # whole budget; register_peers() carves the hot cache out of it.
        self._hot_bytes = int(max_bytes * self.hot_fraction)
        self._main = self._new_main(max_bytes)
        self._hot: Any = None
        self._picker: PeerPicker | None = None
        self._main_hits_base = 0
        self._flight: SingleFlight[tuple[bytes, str]] = SingleFlight()
        self._negative = (
            _NegativeCache(core, self.negative_ttl, _negative_capacity, _clock)
            if self.negative_ttl > 0
            else None
        )
        # The hit path touches only _main, _recent and _sampler: no lock.
        self._recent: deque[object] = deque(maxlen=_RECENT_MAX)
        self._sampler: Iterator[bool] = (
            itertools.cycle((True,) + (False,) * (_HIT_SAMPLE - 1))
            if _GIL_ENABLED
            else itertools.repeat(False)  # a shared cycle is not thread-safe without the GIL
        )
        self._hit_times: deque[int] = deque(maxlen=_HIT_TIMES_MAX)
        self._hit_latency = LatencyHistogram()
        self._miss_latency = LatencyHistogram()

        # Frequency estimate: doorkeeper -> sketch, halved every _halve_every
        # observations (10x the sketch width, as TinyLFU's sample) or
        # _halve_seconds, whichever comes first.
        width = max(16, _sketch_width)
        halve_every = _halve_every if _halve_every is not None else 10 * width
        self._sketch = core.CountMinSketch(width, 4, halve_every=halve_every)
        self._doorkeeper = core.BloomFilter(max(halve_every, 1024), 0.01)
        self._promote_at = _promote_at
        self._demote_below = max(1, _promote_at // 2)
        self._halve_seconds = _halve_seconds
        # Guards _candidates, _hot_keys, _halvings_seen, _next_halve and the
        # feeding of _recent into the doorkeeper and the sketch.
        self._freq_lock = threading.Lock()
        self._candidates: dict[str, int] = {}
        self._candidates_floor = 0
        self._candidates_max = max(16, _top_candidates)
        self._hot_keys: dict[str, None] = {}
        self._halvings_seen = 0
        self._next_halve = _clock() + _halve_seconds if _halve_seconds > 0 else math.inf

        # Guards _write_gen and orders set()/delete() against the population of
        # the caches by a load that started before them (the load then stores
        # nothing: its value may be older than the write).
        self._write_lock = threading.Lock()
        self._write_gen = [0] * 64
        # Guards _counts.
        self._mu = threading.Lock()
        self._counts = dict.fromkeys(
            (
                "slow_gets",
                "recheck_hits",
                LOCAL,
                HOT,
                REMOTE,
                LOADED,
                NEGATIVE,
                NOT_FOUND,
                ERROR,
                "getter_loads",
                "peer_loads",
                "peer_errors",
                "degraded_loads",
                "promotions",
                "demotions",
            ),
            0,
        )

    def _new_main(self, max_bytes: int) -> Any:
        if self._admission is None:
            return self._core.LRUCache(max_bytes, self._default_ttl)
        return self._core.LRUCache(max_bytes, self._default_ttl, admission=self._admission)

    def __repr__(self) -> str:
        return f"<Group {self.name!r} max_bytes={self.max_bytes}>"

    # ---------------------------------------------------------------- reads

    def get(self, key: str) -> bytes:
        """The value of key: cached, from its owner, or loaded; raises NotFound."""
        if next(self._sampler):
            return self._get_timed(key)
        value = self._main.get(key)
        if value is not None:
            self._recent.append(key)
            return value
        return self._get_slow(key)

    def _get_timed(self, key: str) -> bytes:
        start = time.perf_counter_ns()
        value = self._main.get(key)
        if value is not None:
            self._recent.append(key)
            self._hit_times.append(time.perf_counter_ns() - start)
            return value
        return self._get_slow(key)

    def get_local(self, key: str) -> bytes:
        """The value of key without asking any peer: for requests another node forwarded.

        A forwarded request is never forwarded again, so two nodes that
        disagree about who owns a key cannot wait for each other.
        """
        value = self._main.get(key)
        if value is not None:
            self._recent.append(key)
            return value
        return self._get_slow(key, forward=False)

    def _get_slow(self, key: Any, forward: bool = True) -> bytes:
        """Everything after a main-cache miss: hot cache, negative cache, owner, getter."""
        start = time.perf_counter_ns()
        key = _key_str(key)
        outcome = ERROR
        try:
            estimate = self._observe(key)
            hot = self._hot
            if hot is not None:
                value = hot.get(key)
                if value is not None:
                    outcome = HOT
                    if estimate < self._demote_below:
                        self._demote(key)
                    return value
            negative = self._negative
            if negative is not None and key in negative:
                raise _RememberedAbsent(key)
            # Local-only loads fly apart from forwarding ones: joining a flight
            # that waits on a peer would bring back the cycle get_local avoids.
            (value, outcome), _ = self._flight.do(
                key if forward else (key,), lambda: self._load(key, estimate, forward)
            )
            return value
        except NotFound as exc:
            outcome = NEGATIVE if isinstance(exc, _RememberedAbsent) else NOT_FOUND
            raise
        finally:
            elapsed = time.perf_counter_ns() - start
            with self._mu:
                self._counts["slow_gets"] += 1
                self._counts[outcome] += 1
            self._miss_latency.record(elapsed)

    def _load(self, key: str, estimate: int, forward: bool) -> tuple[bytes, str]:
        """The singleflight leader's work for key: (value, outcome)."""
        # Taken before the recheck: a set() after it makes this load too old
        # to store; a set() before it is what the recheck finds.
        gen = self._write_gen_of(key)
        # A flight for this key may have finished between our miss and do().
        value = self._main.get(key)
        if value is not None:
            with self._mu:
                self._counts["recheck_hits"] += 1
            return value, LOCAL
        if self._negative is not None and key in self._negative:
            raise _RememberedAbsent(key)
        picker = self._picker
        peer = picker.pick_peer(key) if forward and picker is not None else None
        if peer is not None:
            with self._mu:
                self._counts["peer_loads"] += 1
            try:
                value = peer.get(self.name, key)
            except NotFound:
                self._remember_absent(key, gen)
                raise
            except Exception:
                # The owner is unreachable: load here (degraded), but cache
                # nothing, so no copy outlives the owner's return.
                with self._mu:
                    self._counts["peer_errors"] += 1
                    self._counts["degraded_loads"] += 1
                return self._call_getter(key), LOADED
            value = bytes(value)
            if estimate >= self._promote_at:
                self._promote(key, value, gen)
            return value, REMOTE
        try:
            value = self._call_getter(key)
        except NotFound:
            self._remember_absent(key, gen)
            raise
        with self._write_lock:
            if self._write_gen[hash(key) & 63] == gen:
                self._main.set(key, value)
        return value, LOADED

    def _call_getter(self, key: str) -> bytes:
        with self._mu:
            self._counts["getter_loads"] += 1
        value = self._getter(key)
        if type(value) is bytes:
            return value
        try:
            return memoryview(value).tobytes()
        except TypeError:
            raise TypeError(
                f"getter {self._getter_name} returned {type(value).__name__}, "
                f"not a bytes-like object"
            ) from None

    def _write_gen_of(self, key: str) -> int:
        with self._write_lock:
            return self._write_gen[hash(key) & 63]

    def _remember_absent(self, key: str, gen: int) -> None:
        negative = self._negative
        if negative is None:
            return
        with self._write_lock:
            if self._write_gen[hash(key) & 63] == gen:
                negative.add(key)

    # ----------------------------------------------------------- hot keys

    def _observe(self, key: str) -> int:
        """Count key (and the hits waiting in _recent); its estimated frequency."""
        with self._freq_lock:
            self._feed_recent()
            estimate = self._count(key)
            self._check_halving()
            return estimate

    def _feed_recent(self) -> None:
        times = self._hit_times
        if times:
            self._hit_latency.record_many([times.popleft() for _ in range(len(times))])
        recent = self._recent
        count = self._count
        for _ in range(len(recent)):
            try:
                key = recent.popleft()
            except IndexError:
                break
            if type(key) is not str:
                try:
                    key = _key_str(key)
                except ValueError:
                    continue
            count(key)  # type: ignore[arg-type]

    def _count(self, key: str) -> int:
        # TinyLFU's doorkeeper: a first sighting only marks the bloom filter, so
        # the long tail of one-off keys never reaches the sketch.
        if not self._doorkeeper.add(key):
            # The doorkeeper is cleared at each halving; the sketch remembers.
            return int(self._sketch.estimate(key))
        estimate: int = self._sketch.add(key)
        candidates = self._candidates
        # The heavy-hitter candidates: a newcomer enters when it beats the
        # weakest key kept at the last pruning; pruning at twice the size keeps
        # the top _candidates_max, so its sort is paid once per many admissions.
        if key in candidates or estimate > self._candidates_floor:
            candidates[key] = estimate
            if len(candidates) >= 2 * self._candidates_max:
                self._prune_candidates()
        return estimate

    def _prune_candidates(self) -> None:
        estimate = self._sketch.estimate
        fresh = {k: estimate(k) for k in self._candidates}
        ranked = sorted(fresh.items(), key=lambda item: item[1], reverse=True)
        kept = ranked[: self._candidates_max]
        self._candidates = dict(kept)
        self._candidates_floor = kept[-1][1] if len(kept) == self._candidates_max else 0

    def _check_halving(self) -> None:
        now = self._clock()
        if now >= self._next_halve:
            self._sketch.halve()
            self._next_halve = now + self._halve_seconds
        halvings = self._sketch.halvings
        if halvings == self._halvings_seen:
            return
        self._halvings_seen = halvings
        self._doorkeeper.clear()
        estimate = self._sketch.estimate
        self._candidates = {k: e for k in self._candidates if (e := estimate(k)) > 0}
        self._candidates_floor //= 2
        hot = self._hot
        if hot is None:
            return
        for key in list(self._hot_keys):
            if key not in hot:
                del self._hot_keys[key]  # evicted by the hot cache's LRU
            elif estimate(key) < self._demote_below:
                self._demote_locked(key)

    def _promote(self, key: str, value: bytes, gen: int) -> None:
        hot = self._hot
        if hot is None:
            return
        with self._write_lock:
            if self._write_gen[hash(key) & 63] != gen or not hot.set(key, value):
                return
        with self._freq_lock:
            self._hot_keys[key] = None
            if len(self._hot_keys) > 2 * len(hot) + 1024:
                self._hot_keys = {k: None for k in self._hot_keys if k in hot}
        with self._mu:
            self._counts["promotions"] += 1

    def _demote(self, key: str) -> None:
        with self._freq_lock:
            self._demote_locked(key)

    def _demote_locked(self, key: str) -> None:
        self._hot_keys.pop(key, None)
        if self._hot is not None and self._hot.delete(key):
            with self._mu:
                self._counts["demotions"] += 1

    def top_hot_keys(self, n: int = 10) -> list[tuple[str, int]]:
        """The n most frequently requested keys now, with their estimated counts."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, not {n!r}")
        with self._freq_lock:
            self._feed_recent()
            self._check_halving()
            estimate = self._sketch.estimate
            ranked = [(k, estimate(k)) for k in self._candidates]
        ranked.sort(key=lambda item: item[1], reverse=True)
        return [item for item in ranked[:n] if item[1] > 0]

    # --------------------------------------------------------------- writes

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store value under key in this node's cache (and forget that it was absent)."""
        key = _key_str(key)
        with self._write_lock:
            self._write_gen[hash(key) & 63] += 1
            self._main.set(key, value, ttl)
            if self._hot is not None:
                self._hot.delete(key)
        if self._negative is not None:
            self._negative.discard(key)

    def delete(self, key: str) -> bool:
        """Drop key from this node's caches (main, hot, negative); True if it was cached."""
        key = _key_str(key)
        with self._write_lock:
            self._write_gen[hash(key) & 63] += 1
            found: bool = self._main.delete(key)
            if self._hot is not None:
                found = self._hot.delete(key) or found
        if self._negative is not None:
            self._negative.discard(key)
        return found

    # ---------------------------------------------------------------- peers

    def register_peers(self, picker: PeerPicker) -> None:
        """Route keys owned by other nodes to them; called once, before serving.

        The hot cache (hot_fraction of max_bytes) is carved out of the main
        cache here, so the main cache is rebuilt and starts empty.
        """
        if not callable(getattr(picker, "pick_peer", None)):
            raise TypeError(f"picker must have a pick_peer method, not {type(picker).__name__}")
        with self._write_lock:
            if self._picker is not None:
                raise RuntimeError(f"register_peers called more than once for group {self.name!r}")
            if self._hot_bytes > 0:
                old = self._main
                self._main = self._new_main(self.max_bytes - self._hot_bytes)
                self._hot = self._core.LRUCache(self._hot_bytes, self._default_ttl)
                self._main_hits_base += old.stats()["hits"]
            self._picker = picker

    # ---------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Counters and gauges of this group, for the metrics and /stats."""
        with self._freq_lock:
            self._feed_recent()
            self._check_halving()
        main = self._main.stats()
        hot = self._hot.stats() if self._hot is not None else None
        with self._mu:
            counts = dict(self._counts)
        fast_hits = self._main_hits_base + main["hits"] - counts.pop("recheck_hits")
        gets = fast_hits + counts.pop("slow_gets")
        counts[LOCAL] += fast_hits
        hits = counts[LOCAL] + counts[HOT] + counts[REMOTE]
        out: dict[str, Any] = {"name": self.name, "gets": gets}
        out.update(counts)
        out["loads_deduplicated"] = self._flight.deduplicated
        out["hit_rate"] = hits / gets if gets else 0.0
        out["latency"] = self._latency_summary(fast_hits)
        out["main"] = main
        out["hot"] = hot
        out["nbytes"] = main["nbytes"] + (hot["nbytes"] if hot else 0)
        out["max_bytes"] = self.max_bytes
        out["negative"] = self._negative.stats() if self._negative is not None else None
        out["sketch"] = {
            "width": self._sketch.width,
            "depth": self._sketch.depth,
            "total": self._sketch.total,
            "halvings": self._sketch.halvings,
        }
        return out

    def _latency_summary(self, fast_hits: int) -> dict[str, float | int]:
        # Hits are sampled (one in _HIT_SAMPLE), misses all timed: scale the
        # hit samples up to the exact hit count before merging.
        hit_counts, hit_ns = self._hit_latency.snapshot()
        miss_counts, miss_ns = self._miss_latency.snapshot()
        sampled = sum(hit_counts)
        scale = fast_hits / sampled if sampled else 0.0
        merged = [h * scale + m for h, m in zip(hit_counts, miss_counts, strict=True)]
        n = sum(miss_counts) + (fast_hits if sampled else 0)
        p50, p95, p99 = percentiles(merged, (0.50, 0.95, 0.99))
        total_ns = hit_ns * scale + miss_ns
        return {
            "count": n,
            "mean": total_ns / n / 1e9 if n else 0.0,
            "p50": p50,
            "p95": p95,
            "p99": p99,
        }

    def close(self) -> None:
        """Unregister this group and empty its caches."""
        with _groups_lock:
            if _groups.get(self.name) is self:
                del _groups[self.name]
        self._main.clear()
        if self._hot is not None:
            self._hot.clear()
        if self._negative is not None:
            self._negative.clear()
