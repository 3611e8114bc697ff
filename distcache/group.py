"""Groups: a named cache in front of a getter, the composition of groupcache.

A group answers ``get(key)`` from its main cache, then its hot cache, then the
peer that owns the key, then its getter (the source of truth) through
singleflight. It remembers absent keys for ``negative_ttl`` seconds, and keys
owned by another node that become hot are copied into the local hot cache.
See docs/usage.md.

The hit path is the core's ``GroupCore``: the main-cache lookup, the hit count
and the sampling of hit keys and durations in one C call. Everything after a
miss is ``_GroupLogic._get_slow`` here. The frequency estimate behind hot keys
is the main cache's own TinyLFU sketch (docs/internals.md), the one its
admission reads: a group keeps no second sketch.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import _impl as _default_core  # the core distcache/__init__.py picked
from ._contract import check_max_bytes, refuse_copy
from .latency import LatencyHistogram, percentiles
from .negative import NegativeCache
from .peers import Getter, NotFound, Peer, PeerPicker
from .singleflight import SingleFlight
from .writefence import WriteFence

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

# The admission policy of a group's main cache unless new_group is told
# otherwise. On Zipf traces of 1M requests over 100k keys, TinyLFU hit
# 0.309 vs 0.204 (alpha 0.8, budget 1% of the keys), 0.547 vs 0.466 (0.8,
# 10%), 0.578 vs 0.488 (0.99, 1%), 0.767 vs 0.722 (0.99, 10%), for a hit
# 1.06-1.12x as costly as a plain one: distcache.demo.admission_experiment()
# and measure_hit_path(), quoted in docs/usage.md.
DEFAULT_ADMISSION = "tinylfu"

# A halving of the main cache's sketch is looked for on every stats() and
# top_hot_keys() call and on one miss in this many (reading the cache's
# frequency_stats() builds a dict: too much for every hot hit).
_HALVING_CHECK_EVERY = 64

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


class _RememberedAbsent(NotFound):
    """NotFound answered by the negative cache, without asking the source."""


# Guards _groups and _classes.
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
    admission: str | None = DEFAULT_ADMISSION,
    _core: ModuleType | None = None,
    **tuning: Any,
) -> Group:
    """Create and register a group named name; ValueError if the name is taken."""
    _check_name(name)
    cls = _group_class(_core if _core is not None else _default_core)
    with _groups_lock:
        if name in _groups:
            raise ValueError(f"group {name!r} already exists")
        group = cls(
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




class _GroupLogic:
    """Everything of a group but its hit path, which the core's GroupCore supplies."""

    # The instance layout is the concrete class's (_GROUP_SLOTS): a mixin
    # with slots of its own could not sit beside the C GroupCore.
    __slots__ = ()

    # Set by GroupCore (the C extension type or the twin) and by __init__.
    _main: Any
    _local_hits: int
    _drain_hit_keys: Callable[[], list[Any]]
    _drain_hit_times: Callable[[], list[int]]

    def __init__(
        self,
        name: str,
        max_bytes: int,
        getter: Getter,
        *,
        negative_ttl: float = 1.0,
        hot_fraction: float = 1 / 8,
        default_ttl: float | None = None,
        admission: str | None = DEFAULT_ADMISSION,
        _core: ModuleType | None = None,
        _promote_at: int = 4,
        _top_candidates: int = 256,
        _negative_capacity: int = 10_000,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_name(name)
        check_max_bytes(max_bytes)
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
        core = _core if _core is not None else _default_core
        if not isinstance(self, core.GroupCore):
            raise TypeError(f"a group on {core.__name__} is made by new_group(..., _core=...)")
        self.name = name
        self.max_bytes = max_bytes
        self.hot_fraction = float(hot_fraction)
        self.negative_ttl = float(negative_ttl)
        self.admission = admission
        self._core = core
        self._getter = getter
        self._getter_name = _callable_name(getter)
        self._default_ttl = default_ttl
        self._clock = _clock
        # Without peers there is nothing to promote, so the main cache has the
        # whole budget; register_peers() carves the hot cache out of it.
        self._hot_bytes = int(max_bytes * self.hot_fraction)
        self._main = self._new_main(max_bytes)  # raises ValueError for a bad admission
        self._hot: Any = None
        self._picker: PeerPicker | None = None
        self._flight: SingleFlight[tuple[bytes, str]] = SingleFlight()
        self._negative = (
            NegativeCache(core, self.negative_ttl, _negative_capacity, _clock)
            if self.negative_ttl > 0
            else None
        )
        self._hit_latency = LatencyHistogram()
        self._miss_latency = LatencyHistogram()

        # Hot keys: estimates are the main cache's frequency(), halved by the
        # cache every frequency_stats()["sample"] recordings; a key is promoted at _promote_at and
        # demoted below _demote_below.
        self._promote_at = _promote_at
        self._demote_below = max(1, _promote_at // 2)
        # Guards _candidates, _candidates_floor, _hot_keys, _halvings_seen,
        # _hits_drained and _misses_unchecked, and the draining of the
        # hit-path rings.
        self._freq_lock = threading.Lock()
        self._halvings_seen = 0
        self._misses_unchecked = 0
        self._hits_drained = 0
        # Heavy-hitter candidates for top_hot_keys: key -> sightings (misses,
        # plus sampled hits weighted by the hits each stands for), halved with
        # the sketch. The sketch's counters saturate at 255 (docs/internals.md):
        # among keys tied there, the sightings rank them.
        self._candidates: dict[str, float] = {}
        self._candidates_floor = 0
        self._candidates_max = max(16, _top_candidates)
        self._hot_keys: dict[str, None] = {}

        # Orders set()/delete() against the population of the caches by a load
        # that started before them (the load then stores nothing: its value
        # may be older than the write).
        self._fence = WriteFence()
        # Guards _picker and the rebuild of _main and _hot by register_peers.
        self._peers_lock = threading.Lock()
        # Guards _counts.
        self._mu = threading.Lock()
        self._counts = dict.fromkeys(
            (
                "slow_gets",
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
                "admission_rejects",
                "promotions",
                "demotions",
            ),
            0,
        )

    def _new_main(self, max_bytes: int) -> Any:
        # Frequency is tracked even without admission: hot keys read it.
        return self._core.LRUCache(
            max_bytes, self._default_ttl, admission=self.admission, track_frequency=True
        )

    def __copy__(self) -> Any:
        refuse_copy(self)

    def __deepcopy__(self, memo: Any) -> Any:
        refuse_copy(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        refuse_copy(self)

    def __repr__(self) -> str:
        return f"<Group {self.name!r} max_bytes={self.max_bytes}>"

    # ---------------------------------------------------------------- reads

    # get(key) and get_local(key) are GroupCore's: a main-cache hit returns
    # there; a miss calls _get_slow(key, forward) with forward=False for
    # get_local, so that a forwarded request is never forwarded again and two
    # nodes that disagree about who owns a key cannot wait for each other.

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
        gen = self._fence.ticket(key)
        # A flight for this key may have finished between our miss and do().
        # `in` first: a get would count this one request twice in the sketch.
        if key in self._main:
            value = self._main.get(key)
            if value is not None:
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
        with self._fence.current(key, gen) as current:
            if current:
                # Refused by admission or not, the caller gets the value.
                self._store(key, value, None, force=False)
        return value, LOADED

    def _store(self, key: str, value: Any, ttl: float | None, *, force: bool) -> None:
        """Set key in the main cache, counting a refusal by its admission policy.

        A load faces admission (force=False); an explicit write does not: after
        set(k, v) returns, get(k) is v until evicted or expired.
        """
        if self._main.set(key, value, ttl, force=force) or self.admission is None or force:
            return
        # set() also says False for an entry larger than the cache: not a refusal.
        size = len(key.encode("utf-8")) + memoryview(value).nbytes + self._core.ENTRY_OVERHEAD
        if size <= self._main.max_bytes:
            with self._mu:
                self._counts["admission_rejects"] += 1

    def _call_getter(self, key: str) -> bytes:
        with self._mu:
            self._counts["getter_loads"] += 1
        value = self._getter(key)
        if type(value) is bytes:
            return value
        # The rule of every entry point: a C-contiguous bytes-like object.
        try:
            with memoryview(value) as view:
                if view.c_contiguous:
                    return view.tobytes()
        except TypeError:
            pass
        raise TypeError(
            f"getter {self._getter_name} returned {type(value).__name__}, "
            f"not a (C-contiguous) bytes-like object"
        )

    def _remember_absent(self, key: str, gen: int) -> None:
        negative = self._negative
        if negative is None:
            return
        with self._fence.current(key, gen) as current:
            if current:
                negative.add(key)

    # ----------------------------------------------------------- hot keys

    def _observe(self, key: str) -> int:
        """Note a miss of key (and the sampled hits since the last one); its estimate."""
        with self._freq_lock:
            self._drain_hits()
            estimate = self._sighted(key, 1.0)
            self._misses_unchecked += 1
            if self._misses_unchecked >= _HALVING_CHECK_EVERY:
                self._check_halving()
            return estimate

    def _drain_hits(self) -> None:
        """Move the hit path's samples into the latency record and the candidates."""
        times = self._drain_hit_times()
        if times:
            self._hit_latency.record_many(times)
        keys = self._drain_hit_keys()
        if not keys:
            return
        # Each sampled key stands for an equal share of the hits since the last
        # drain (the ring keeps the newest keys when more hits than it holds
        # arrive between two drains).
        hits = self._local_hits
        weight = max(1.0, (hits - self._hits_drained) / len(keys))
        self._hits_drained = hits
        sighted = self._sighted
        for key in keys:
            if type(key) is not str:
                try:
                    key = _key_str(key)
                except ValueError:
                    continue
            sighted(key, weight)

    def _sighted(self, key: str, weight: float) -> int:
        estimate: int = self._main.frequency(key)
        candidates = self._candidates
        # A newcomer enters when its estimate beats the weakest key kept at the
        # last pruning; pruning at twice the size keeps the top
        # _candidates_max, so its sort is paid once per many admissions.
        if key in candidates:
            candidates[key] += weight
        elif estimate > self._candidates_floor:
            candidates[key] = weight
            if len(candidates) >= 2 * self._candidates_max:
                self._prune_candidates()
        return estimate

    def _ranked(self) -> list[tuple[str, int]]:
        """The candidates with their estimates, most frequent first."""
        frequency = self._main.frequency
        candidates = self._candidates
        ranked = [(k, frequency(k), s) for k, s in candidates.items()]
        ranked.sort(key=lambda item: (item[1], item[2]), reverse=True)
        return [(k, f) for k, f, _ in ranked]

    def _prune_candidates(self) -> None:
        kept = self._ranked()[: self._candidates_max]
        candidates = self._candidates
        self._candidates = {k: candidates[k] for k, _ in kept}
        self._candidates_floor = kept[-1][1] if len(kept) == self._candidates_max else 0

    def _check_halving(self) -> None:
        """After the main cache's sketch halved: age the candidates, demote cooled keys."""
        self._misses_unchecked = 0
        halvings = self._main.frequency_stats()["halvings"]
        if halvings == self._halvings_seen:
            return
        shift = min(halvings - self._halvings_seen, 64)
        self._halvings_seen = halvings
        frequency = self._main.frequency
        self._candidates = {
            k: s / (1 << shift) for k, s in self._candidates.items() if frequency(k) > 0
        }
        self._candidates_floor >>= shift
        hot = self._hot
        if hot is None:
            return
        for key in list(self._hot_keys):
            if key not in hot:
                del self._hot_keys[key]  # evicted by the hot cache's LRU
            elif frequency(key) < self._demote_below:
                self._demote_locked(key)

    def _promote(self, key: str, value: bytes, gen: int) -> None:
        hot = self._hot
        if hot is None:
            return
        with self._fence.current(key, gen) as current:
            if not current or not hot.set(key, value):
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
            self._drain_hits()
            self._check_halving()
            ranked = self._ranked()
        return [item for item in ranked[:n] if item[1] > 0]

    # --------------------------------------------------------------- writes

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store value under key in this node's cache (and forget that it was absent)."""
        key = _key_str(key)
        with self._fence.write(key):
            self._store(key, value, ttl, force=True)
            if self._hot is not None:
                self._hot.delete(key)
        if self._negative is not None:
            self._negative.discard(key)

    def delete(self, key: str) -> bool:
        """Drop key from this node's caches (main, hot, negative); True if it was cached."""
        key = _key_str(key)
        with self._fence.write(key):
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
        cache here, so the main cache is rebuilt and starts empty, its
        frequency estimate too.
        """
        if not callable(getattr(picker, "pick_peer", None)):
            raise TypeError(f"picker must have a pick_peer method, not {type(picker).__name__}")
        with self._peers_lock:
            if self._picker is not None:
                raise RuntimeError(f"register_peers called more than once for group {self.name!r}")
            if self._hot_bytes > 0:
                main_bytes = self.max_bytes - self._hot_bytes
                with self._freq_lock:
                    self._drain_hits()
                    self._main = self._new_main(main_bytes)
                    self._halvings_seen = 0
                # Plain LRU: promotion already admits by the main cache's
                # estimate, and a hot cache with TinyLFU would keep a second sketch.
                self._hot = self._core.LRUCache(self._hot_bytes, self._default_ttl)
            self._picker = picker

    # ---------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Counters and gauges of this group, for the metrics and /stats."""
        with self._freq_lock:
            self._drain_hits()
            self._check_halving()
            sketch = self._main.frequency_stats()
        fast_hits = self._local_hits
        main = self._main.stats()
        hot = self._hot.stats() if self._hot is not None else None
        with self._mu:
            counts = dict(self._counts)
        gets = fast_hits + counts.pop("slow_gets")
        counts[LOCAL] += fast_hits
        hits = counts[LOCAL] + counts[HOT] + counts[REMOTE]
        out: dict[str, Any] = {"name": self.name, "gets": gets}
        out.update(counts)
        out["loads_deduplicated"] = self._flight.deduplicated
        out["hit_rate"] = hits / gets if gets else 0.0
        out["latency"] = self._latency_summary(fast_hits)
        out["admission"] = self.admission
        out["main"] = main
        out["hot"] = hot
        out["nbytes"] = main["nbytes"] + (hot["nbytes"] if hot else 0)
        out["max_bytes"] = self.max_bytes
        out["negative"] = self._negative.stats() if self._negative is not None else None
        out["sketch"] = sketch
        return out

    def _latency_summary(self, fast_hits: int) -> dict[str, float | int]:
        # Hits are sampled (one in 64 by the hit path), misses all timed: scale
        # the hit samples up to the exact hit count before merging.
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


# Every attribute a group sets; _main and the hit-path state are GroupCore's.
_GROUP_SLOTS = (
    "_candidates",
    "_candidates_floor",
    "_candidates_max",
    "_clock",
    "_core",
    "_counts",
    "_default_ttl",
    "_demote_below",
    "_flight",
    "_freq_lock",
    "_getter",
    "_getter_name",
    "_halvings_seen",
    "_hit_latency",
    "_hits_drained",
    "_hot",
    "_hot_bytes",
    "_hot_keys",
    "_miss_latency",
    "_misses_unchecked",
    "_mu",
    "_fence",
    "_peers_lock",
    "_negative",
    "_picker",
    "_promote_at",
    "admission",
    "hot_fraction",
    "max_bytes",
    "name",
    "negative_ttl",
)


def _slots_over(base: type) -> tuple[str, ...]:
    # The C GroupCore has no weakref slot; the twin, a plain class, has one.
    return _GROUP_SLOTS + (() if base.__weakrefoffset__ else ("__weakref__",))


class Group(_GroupLogic, _default_core.GroupCore):  # type: ignore[misc, name-defined]
    """A named cache in front of a getter; create one with new_group()."""

    __slots__ = _slots_over(_default_core.GroupCore)


# One group class per core module (GroupCore of the C core or of the twin),
# Group being the default core's. Guarded by _groups_lock.
_classes: dict[type, type[Group]] = {_default_core.GroupCore: Group}


def _group_class(core: ModuleType) -> type[Group]:
    """The group class whose hit path is core's GroupCore."""
    base = getattr(core, "GroupCore", None)
    if base is None:
        raise TypeError(f"core {getattr(core, '__name__', core)!r} has no GroupCore")
    with _groups_lock:
        cls = _classes.get(base)
        if cls is None:
            cls = type(
                "Group",
                (_GroupLogic, base),
                {"__slots__": _slots_over(base), "__doc__": Group.__doc__, "__module__": __name__},
            )
            _classes[base] = cls
    return cls
