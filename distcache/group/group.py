"""Groups: a named cache in front of a getter, the composition of groupcache.

A group answers ``get(key)`` from its main cache, then its hot cache, then the
peer that owns the key, then its getter (the source of truth) through
singleflight. It remembers absent keys for ``negative_ttl`` seconds, and keys
owned by another node that become hot are copied into the local hot cache.
See docs/usage.md.

A group is the core's ``HitPath`` handed the main cache and ``_get_slow`` as
its miss callback: the hit path does the main-cache lookup, the hit count and
the sampling of hit keys and durations in one C call and knows nothing of
groups (no slot list, no class per core: a group on the other core's cache,
``new_group(..., _core=...)``, reads it through its get method). Everything
after a miss is ``_get_slow`` here. The frequency estimate behind hot keys
is the main cache's own TinyLFU sketch (docs/internals.md), the one its
admission reads: a group keeps no second sketch.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from .._backend import core as _default_core  # the C core, or the twin
from .._contract import check_max_bytes, check_ttl, key_bytes, value_view
from ..peers import Getter, NotFound, Peer, PeerPicker, Placement
from ..singleflight import SingleFlight
from . import offload
from .functiontable import FunctionTable
from .hotkeys import HotKeys
from .latency import LatencyHistogram, summary_of
from .negative import NegativeCache
from .refresh import Refresher
from .replicapush import ReplicaPusher
from .stats import GroupCounters
from .writefence import WriteFence

__all__ = [
    "Getter",
    "Group",
    "NotFound",
    "Peer",
    "PeerPicker",
    "all_groups",
    "get_group",
    "new_group",
]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# The admission policy of a group's main cache unless new_group is told
# otherwise. On Zipf traces of 1M requests over 100k keys, TinyLFU hit
# 0.309 vs 0.204 (alpha 0.8, budget 1% of the keys), 0.547 vs 0.466 (0.8,
# 10%), 0.578 vs 0.488 (0.99, 1%), 0.767 vs 0.722 (0.99, 10%), for a hit
# 1.06-1.12x as costly as a plain one: asv_bench/experiments.py's
# admission_experiment() and measure_hit_path(), quoted in docs/usage.md.
DEFAULT_ADMISSION = "tinylfu"

# A halving of the main cache's sketch is looked for on every stats() and
# top_hot_keys() call and on one miss in this many (reading the cache's
# frequency_stats() builds a dict: too much for every hot hit).
_HALVING_CHECK_EVERY = 64

# Threads of one get_many that ask its keys' replicas side by side.
_MANY_LOADERS = 8

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


# Guards _groups.
_groups_lock = threading.Lock()
_groups: dict[str, Group] = {}


def new_group(
    name: str,
    max_bytes: int,
    getter: Getter | None = None,
    *,
    negative_ttl: float = 1.0,
    hot_fraction: float = 1 / 8,
    default_ttl: float | None = None,
    stale_ttl: float = 0.0,
    admission: str | None = DEFAULT_ADMISSION,
    _core: ModuleType | None = None,
    **tuning: Any,
) -> Group:
    """Create and register a group named name; ValueError if the name is taken.

    getter(key) -> bytes (a plain or an async def function) is the source of
    truth; without one, the group's values come from its @cached functions
    (group.functions). With default_ttl and stale_ttl, an entry is served
    stale for stale_ttl seconds after its ttl while one refresh replaces it.
    """
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
            stale_ttl=stale_ttl,
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


def all_groups() -> list[Group]:
    """Every registered group, in the order they were created."""
    with _groups_lock:
        return list(_groups.values())


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
    # The core's rules (type, C-contiguous, MAX_KEY_LEN), then UTF-8.
    return key_bytes(key).decode("utf-8")


def _check_write(key: str, value: Any, ttl: Any) -> None:
    """Raises what the core would for a bad key, value or ttl, before a set is
    counted or sent anywhere (a non-replica stores nothing, so its core never sees them)."""
    key_bytes(key)
    value_view(value)
    if ttl is not None:
        check_ttl(ttl, "ttl")


def _str_keys(keys: list[Any]) -> list[str]:
    """Sampled hit keys as str; a bytes key that is not UTF-8 is left out."""
    out = []
    for key in keys:
        if type(key) is not str:
            try:
                key = _key_str(key)
            except ValueError:
                continue
        out.append(key)
    return out


def _callable_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _is_async(fn: object) -> bool:
    """Whether calling fn gives a coroutine (an async def function or __call__)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 -- a callable object's method
    )


async def _ask(peer: Any, method: str, *args: Any, **kw: Any) -> Any:
    """peer.a<method>(...) awaited, or a peer without it called in the pool."""
    native = getattr(peer, "a" + method, None)
    if native is not None:
        return await native(*args, **kw)
    return await offload.in_pool(functools.partial(getattr(peer, method), *args, **kw))




class Group(_default_core.HitPath):  # type: ignore[misc, name-defined]
    """A named cache in front of a getter; create one with new_group()."""

    def __init__(
        self,
        name: str,
        max_bytes: int,
        getter: Getter | None = None,
        *,
        negative_ttl: float = 1.0,
        hot_fraction: float = 1 / 8,
        default_ttl: float | None = None,
        stale_ttl: float = 0.0,
        admission: str | None = DEFAULT_ADMISSION,
        _core: ModuleType | None = None,
        _promote_at: int = 4,
        _top_candidates: int = 256,
        _negative_capacity: int = 10_000,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_name(name)
        check_max_bytes(max_bytes)
        functions = FunctionTable(name) if getter is None else None
        if functions is not None:
            getter = functions
        elif not callable(getter):
            raise TypeError(f"getter must be callable or None, not {type(getter).__name__}")
        if (
            isinstance(stale_ttl, bool)
            or not isinstance(stale_ttl, (int, float))
            or not 0.0 <= stale_ttl < math.inf
        ):
            raise ValueError(f"stale_ttl must be a finite number >= 0, not {stale_ttl!r}")
        if stale_ttl and default_ttl is None:
            raise ValueError(
                "stale_ttl needs a default_ttl: an entry without a ttl never goes stale"
            )
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
        core = _core if _core is not None else _default_core
        self.name = name
        self.max_bytes = max_bytes
        self.hot_fraction = float(hot_fraction)
        self.negative_ttl = float(negative_ttl)
        self.admission = admission
        self._core = core
        self._getter = getter
        self._getter_name = _callable_name(getter)
        # The @cached functions' table when the group has no getter of its own.
        self._functions = functions
        self._getter_async = functions is None and _is_async(getter)
        # Checked here, before stale_ttl is added to it for the main cache.
        self._default_ttl = None if default_ttl is None else check_ttl(default_ttl, "default_ttl")
        # An entry lives ttl + stale_ttl in the main cache; its last stale_ttl
        # seconds are stale (answered, and refreshed once in the background).
        self._stale_ttl = float(stale_ttl)
        self._clock = _clock
        # Without peers there is nothing to promote, so the main cache has the
        # whole budget; register_peers() carves the hot cache out of it.
        self._hot_bytes = int(max_bytes * self.hot_fraction)
        # The core's hit path answers main-cache hits in one C call and hands
        # misses to _get_slow; it knows nothing of groups.
        super().__init__(self._new_main(max_bytes), self._get_slow)
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
        # cache every frequency_stats()["sample"] recordings; the tracker reads
        # self._main at each call, so it follows register_peers' rebuild.
        self._hot_keys = HotKeys(
            lambda key: self._main.frequency(key),
            lambda: self._main.frequency_stats()["halvings"],
            lambda key: self._hot is not None and key in self._hot,
            promote_at=_promote_at,
            top_candidates=_top_candidates,
            check_every=_HALVING_CHECK_EVERY,
        )

        # Orders set()/delete() against the population of the caches by a load
        # that started before them (the load then stores nothing: its value
        # may be older than the write).
        self._fence = WriteFence()
        # Guards _picker and the rebuild of _main and _hot by register_peers.
        self._peers_lock = threading.Lock()
        self._counts = GroupCounters()
        self._pusher = ReplicaPusher(name, self._counts.add)
        self._refresher = Refresher()
        if self._stale_ttl:
            self._set_stale(self._stale_ttl, self._on_stale)

    def _new_main(self, max_bytes: int) -> Any:
        # Frequency is tracked even without admission: hot keys read it.
        ttl = None if self._default_ttl is None else self._default_ttl + self._stale_ttl
        return self._core.LRUCache(max_bytes, ttl, admission=self.admission, track_frequency=True)

    @property
    def functions(self) -> FunctionTable | None:
        """The table of @cached functions that is this group's getter, or None."""
        return self._functions

    def __repr__(self) -> str:
        return f"<Group {self.name!r} max_bytes={self.max_bytes}>"

    # ---------------------------------------------------------------- reads

    # get(key) and get_local(key) are the hit path's: a main-cache hit is
    # answered there in one C call, a miss comes to _get_slow(key, forward)
    # with forward=False for get_local, so that a forwarded request is never
    # forwarded again and two nodes that disagree about who owns a key cannot
    # wait for each other. A Group that held its hit path as an attribute and
    # bound its get to it measured 1.4x LRUCache.get instead of 1.05x: Python
    # dispatches a method found on an instance's dict ~20 ns slower than one
    # of a C type (asv_bench/experiments.py's measure_hit_path). For the same reason a group keeps
    # fewer than 30 attributes of its own: past CPython's 30 shared keys an
    # instance dict is materialised and a hit measured 1.4x again (the
    # hot-key tracker and the counters are one attribute each).

    def _get_slow(self, key: Any, forward: bool = True) -> bytes:
        """Everything after a main-cache miss: hot cache, negative cache, owner, getter."""
        start = time.perf_counter_ns()
        key = _key_str(key)
        outcome = ERROR
        try:
            estimate, value = self._before_load(key)
            if value is not None:
                outcome = HOT
                return value
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
            self._counts.add("slow_gets", outcome)
            self._miss_latency.record(time.perf_counter_ns() - start)

    async def aget(self, key: str) -> bytes:
        """get for asyncio: a hit is answered at once; a miss awaits the owner or the getter.

        Threads calling get and tasks calling aget for one cold key share one
        load. Cancelling a caller stops its wait only; the load goes on.
        """
        value = self._peek(key)
        if value is not None:
            return value  # type: ignore[no-any-return]
        return await self._aget_slow(key, True)

    async def _aget_slow(self, key: Any, forward: bool) -> bytes:
        """_get_slow for a task: the network and the getter are awaited, never waited on."""
        start = time.perf_counter_ns()
        key = _key_str(key)
        outcome = ERROR
        try:
            estimate, value = self._before_load(key)
            if value is not None:
                outcome = HOT
                return value
            (value, outcome), _ = await self._flight.ado(
                key if forward else (key,), lambda: self._aload(key, estimate, forward)
            )
            return value
        except NotFound as exc:
            outcome = NEGATIVE if isinstance(exc, _RememberedAbsent) else NOT_FOUND
            raise
        finally:
            self._counts.add("slow_gets", outcome)
            self._miss_latency.record(time.perf_counter_ns() - start)

    def _before_load(self, key: str) -> tuple[int, bytes | None]:
        """A miss's steps before any load: its estimate, and the hot copy or None.

        Raises _RememberedAbsent when the negative cache knows key is absent.
        """
        estimate = self._observe(key)
        hot = self._hot
        if hot is not None:
            value = hot.get(key)
            if value is not None:
                if estimate < self._hot_keys.demote_below:
                    self._demote(key)
                return estimate, value
        negative = self._negative
        if negative is not None and key in negative:
            raise _RememberedAbsent(key)
        return estimate, None

    def _load(
        self, key: str, estimate: int, forward: bool, *, refresh: int | None = None
    ) -> tuple[bytes, str]:
        """The singleflight leader's work for key: (value, outcome).

        refresh: the write ticket taken when key was found stale; its entry
        is then replaced, not answered.
        """
        gen, cached, placement = self._load_start(key, refresh)
        if cached is not None:
            return cached, LOCAL
        if forward and placement is not None and not placement.local:
            return self._load_from_replicas(key, placement.others, estimate, gen)
        try:
            value, ttl = self._call_getter(key)
        except NotFound:
            self._remember_absent(key, gen)
            raise
        self._loaded_here(key, value, ttl, gen, placement)
        return value, LOADED

    async def _aload(self, key: str, estimate: int, forward: bool) -> tuple[bytes, str]:
        """_load for a task."""
        gen, cached, placement = self._load_start(key, None)
        if cached is not None:
            return cached, LOCAL
        if forward and placement is not None and not placement.local:
            return await self._aload_from_replicas(key, placement.others, estimate, gen)
        try:
            value, ttl = await self._acall_getter(key)
        except NotFound:
            self._remember_absent(key, gen)
            raise
        self._loaded_here(key, value, ttl, gen, placement)
        return value, LOADED

    def _load_start(
        self, key: str, refresh: int | None
    ) -> tuple[int, bytes | None, Placement | None]:
        """(write ticket, the value a finished flight left, placement) of a load of key."""
        # Taken before the recheck: a set() after it makes this load too old
        # to store; a set() before it is what the recheck finds. A refresh
        # took its ticket at the stale hit: a set() since then wins.
        gen = self._fence.ticket(key) if refresh is None else refresh
        # A flight for this key may have finished between our miss and do().
        # `in` first: a get would count this one request twice in the sketch.
        if refresh is None and key in self._main:
            value = self._main.get(key)
            if value is not None:
                return gen, value, None
        if self._negative is not None and key in self._negative:
            raise _RememberedAbsent(key)
        picker = self._picker
        return gen, None, picker.placement(key) if picker is not None else None

    def _loaded_here(
        self, key: str, value: bytes, ttl: float | None, gen: int, placement: Placement | None
    ) -> None:
        """Store what the getter gave (unless a write came since) and push it to the replica."""
        # This node is a replica of the key (or has no peers, or was asked by
        # a peer, which never forwards twice): the source of truth answered.
        with self._fence.current(key, gen) as current:
            if current:
                # Refused by admission or not, the caller gets the value.
                self._store(key, value, ttl, force=False)
        if current and placement is not None and placement.local:
            for peer in placement.others:
                self._pusher.offer(peer, key, value)

    def _load_from_replicas(
        self, key: str, replicas: tuple[Peer, ...], estimate: int, gen: int
    ) -> tuple[bytes, str]:
        """Asks the key's replicas in ring order; loads here (degraded) if none answers."""
        for i, peer in enumerate(replicas):
            self._counts.add("peer_loads")
            try:
                value = peer.get(self.name, key, forwarded=True)
            except NotFound:
                self._remember_absent(key, gen)
                raise
            except Exception:
                self._replica_failed(i, len(replicas))
                continue
            return self._replica_answered(key, value, estimate, gen), REMOTE
        # No replica answered: load here so that the reader does not fail, but
        # cache nothing, so no copy outlives the replicas' return.
        self._counts.add("degraded_loads")
        return self._call_getter(key)[0], LOADED

    async def _aload_from_replicas(
        self, key: str, replicas: tuple[Peer, ...], estimate: int, gen: int
    ) -> tuple[bytes, str]:
        """_load_from_replicas for a task: each replica awaited (grpc.aio for gRPC peers)."""
        for i, peer in enumerate(replicas):
            self._counts.add("peer_loads")
            try:
                value = await _ask(peer, "get", self.name, key, forwarded=True)
            except NotFound:
                self._remember_absent(key, gen)
                raise
            except Exception:
                self._replica_failed(i, len(replicas))
                continue
            return self._replica_answered(key, value, estimate, gen), REMOTE
        self._counts.add("degraded_loads")
        return (await self._acall_getter(key))[0], LOADED

    def _replica_failed(self, i: int, n: int) -> None:
        self._counts.add("peer_errors")
        if i + 1 < n:
            self._counts.add("failovers")

    def _replica_answered(self, key: str, value: Any, estimate: int, gen: int) -> bytes:
        value = bytes(value)
        if estimate >= self._hot_keys.promote_at:
            self._promote(key, value, gen)
        return value

    def _store(self, key: str, value: Any, ttl: float | None, *, force: bool) -> None:
        """Set key in the main cache, counting a refusal by its admission policy.

        A load faces admission (force=False); an explicit write does not: after
        set(k, v) returns, get(k) is v until evicted or expired. With a
        stale_ttl the entry lives that much longer (stale at the end).
        """
        if ttl is not None and self._stale_ttl:
            ttl += self._stale_ttl
        if self._main.set(key, value, ttl, force=force) or self.admission is None or force:
            return
        # set() also says False for an entry larger than the cache: not a refusal.
        size = len(key.encode("utf-8")) + memoryview(value).nbytes + self._core.ENTRY_OVERHEAD
        if size <= self._main.max_bytes:
            self._counts.add("admission_rejects")

    def _call_getter(self, key: str) -> tuple[bytes, float | None]:
        """(value, ttl) from the getter; an async getter runs on the background loop."""
        self._counts.add("getter_loads")
        value = self._getter(key)
        if inspect.isawaitable(value):
            value = offload.on_loop_thread(value)
        return self._checked(key, value)

    async def _acall_getter(self, key: str) -> tuple[bytes, float | None]:
        """(value, ttl) from the getter: an async one awaited here, a plain one in the pool."""
        self._counts.add("getter_loads")
        functions = self._functions
        if self._getter_async or (functions is not None and functions.is_async(key)):
            value = await self._getter(key)
        else:
            value = await offload.in_pool(self._getter, key)
            if inspect.isawaitable(value):
                value = await value
        return self._checked(key, value)

    def _checked(self, key: str, value: Any) -> tuple[bytes, float | None]:
        """The getter's value as bytes, and the ttl its @cached function declared."""
        ttl = self._functions.ttl(key) if self._functions is not None else None
        if type(value) is bytes:
            return value, ttl
        # The rule of every entry point: a C-contiguous bytes-like object.
        try:
            with memoryview(value) as view:
                if view.c_contiguous:
                    return view.tobytes(), ttl
        except TypeError:
            pass
        raise TypeError(
            f"getter {self._getter_name} returned {type(value).__name__}, "
            f"not a (C-contiguous) bytes-like object"
        )

    # ------------------------------------------------ stale-while-revalidate

    def _on_stale(self, key: Any, value: bytes, mode: int) -> bytes:
        """A hit on an entry past its ttl: answered now, refreshed once in the background."""
        self._counts.add("stale_hits")
        name = _key_str(key)
        gen = self._fence.ticket(name)
        self._refresher.start(name, lambda: self._refresh(name, gen))
        return value

    def _refresh(self, key: str, gen: int) -> None:
        """Replace key's stale entry from its source; on an error the stale entry stays."""
        try:
            self._flight.do(key, lambda: self._load(key, 0, True, refresh=gen))
        except NotFound:
            # The source no longer has it: the stale copy must not outlive that.
            with self._fence.current(key, gen) as current:
                if current:  # else a set() since the stale hit holds a newer value
                    self._main.delete(key)
            self._counts.add("refreshes")
        except Exception:  # counted; the stale value is served until it expires
            self._counts.add("refresh_errors")
        else:
            self._counts.add("refreshes")

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
        self._drain_hits()
        estimate, cooled = self._hot_keys.missed(key)
        self._demote_all(cooled)
        return estimate

    def _drain_hits(self) -> None:
        """Move the hit path's samples into the latency record and the hot-key tracker."""
        times = self._drain_hit_times()
        if times:
            self._hit_latency.record_many(times)
        keys = self._drain_hit_keys()
        if keys:
            self._hot_keys.hit_samples(_str_keys(keys), self._hits)

    def _promote(self, key: str, value: bytes, gen: int) -> None:
        hot = self._hot
        if hot is None:
            return
        with self._fence.current(key, gen) as current:
            if not current or not hot.set(key, value):
                return
        self._hot_keys.promoted(key, len(hot))
        self._counts.add("promotions")

    def _demote(self, key: str) -> None:
        self._hot_keys.forget(key)
        self._demote_all([key])

    def _demote_all(self, keys: list[str]) -> None:
        hot = self._hot
        for key in keys:
            if hot is not None and hot.delete(key):
                self._counts.add("demotions")

    def top_hot_keys(self, n: int = 10) -> list[tuple[str, int]]:
        """The n most frequently requested keys now, with their estimated counts."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, not {n!r}")
        self._drain_hits()
        ranked, cooled = self._hot_keys.top(n)
        self._demote_all(cooled)
        return ranked

    def get_many(self, keys: Iterable[str], *, forwarded: bool = False) -> dict[str, bytes]:
        """The values of keys, in their order; keys the source lacks are left out.

        Main-cache hits are answered at once; the keys this node is not a
        replica of go to their first replica, one GetMany per replica, all
        replicas asked in parallel; a replica that fails leaves its keys to
        get()'s own failover. forwarded=True (a peer's call) never forwards.
        An error of the getter raises, as get() does.
        """
        names, found, local, by_peer = self._split_many(keys, forwarded)
        if by_peer:
            with ThreadPoolExecutor(max_workers=min(_MANY_LOADERS, len(by_peer))) as pool:
                asked = [pool.submit(peer.get_many, self.name, ks, forwarded=True)
                         for peer, ks in by_peer.items()]
            for ks, future in zip(by_peer.values(), asked, strict=True):
                try:
                    answer: Any = future.result()
                except Exception as exc:
                    answer = exc
                self._merge_batch(found, local, ks, answer)
        get = self.get_local if forwarded else self.get

        # One after another: loading them side by side took a thread pool per
        # call, and a getter holding a connection per thread (SQLiteGetter)
        # then opened one per call (the node soak saw 300 fds a second).
        for key in local:
            try:
                found[key] = get(key)
            except NotFound:
                pass
        return {key: found[key] for key in names if key in found}

    async def aget_many(self, keys: Iterable[str], *, forwarded: bool = False) -> dict[str, bytes]:
        """get_many for asyncio: replicas asked together on the loop, local keys as tasks."""
        names, found, local, by_peer = self._split_many(keys, forwarded)
        if by_peer:
            answers = await asyncio.gather(
                *(_ask(peer, "get_many", self.name, ks, forwarded=True)
                  for peer, ks in by_peer.items()),
                return_exceptions=True,
            )
            for ks, answer in zip(by_peer.values(), answers, strict=True):
                if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                    raise answer  # a cancellation, not a peer's failure
                self._merge_batch(found, local, ks, answer)

        async def one(key: str) -> bytes | None:
            value = self._peek(key)
            if value is not None:
                return value  # type: ignore[no-any-return]
            try:
                return await self._aget_slow(key, not forwarded)
            except NotFound:
                return None

        for key, value in zip(local, await asyncio.gather(*(one(k) for k in local)), strict=True):
            if value is not None:
                found[key] = value
        return {key: found[key] for key in names if key in found}

    def _split_many(
        self, keys: Iterable[str], forwarded: bool
    ) -> tuple[list[str], dict[str, bytes], list[str], dict[Any, list[str]]]:
        """(names, main-cache hits, keys to load here, keys by the replica to ask)."""
        names = [_key_str(k) for k in keys]
        found: dict[str, bytes] = self._main.get_many(names)
        self._counts.add("get_many_calls")
        self._counts.add_n("batch_hits", len(found))
        by_peer: dict[Any, list[str]] = {}
        local = []
        for key in names:
            if key in found:
                continue
            placement = None if forwarded else self._placement(key)
            if placement is None or placement.local:
                local.append(key)
            else:
                by_peer.setdefault(placement.others[0], []).append(key)
        return names, found, local, by_peer

    def _merge_batch(
        self, found: dict[str, bytes], local: list[str], keys: list[str], answer: Any
    ) -> None:
        """A replica's GetMany answer into found; on its failure its keys are loaded here."""
        self._counts.add("peer_loads")
        if isinstance(answer, Exception):
            self._counts.add("peer_errors")
            local.extend(keys)  # get() fails over, then loads
        else:
            found.update(answer)

    # --------------------------------------------------------------- writes

    def set(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False
    ) -> None:
        """Store value under key in the cache of every replica (never in the source).

        The other nodes get one call each: the replicas a set, the rest a
        delete of any hot copy, both marked forwarded so that none of them
        passes it on (no storms). forwarded=True (a peer's call) acts here only.
        """
        key = _key_str(key)
        placement = self._set_here(key, value, ttl, forwarded)
        if not forwarded and placement is not None:
            value = bytes(value)
            replicas = placement.others
            failed = self._broadcast(
                lambda peer: peer.set(self.name, key, value, ttl, forwarded=True)
                if peer in replicas
                else peer.delete(self.name, key, forwarded=True)
            )
            self._check_set(placement, failed)

    async def aset(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False
    ) -> None:
        """set for asyncio: the other nodes are told concurrently, on the loop."""
        key = _key_str(key)
        placement = self._set_here(key, value, ttl, forwarded)
        if not forwarded and placement is not None:
            value = bytes(value)
            replicas = placement.others
            failed = await self._abroadcast(
                lambda peer: _ask(peer, "set", self.name, key, value, ttl, forwarded=True)
                if peer in replicas
                else _ask(peer, "delete", self.name, key, forwarded=True)
            )
            self._check_set(placement, failed)

    def _set_here(
        self, key: str, value: Any, ttl: float | None, forwarded: bool
    ) -> Placement | None:
        """set's work on this node; the key's placement (None without peers)."""
        _check_write(key, value, ttl)
        self._counts.add("sets")
        placement = self._placement(key)
        with self._fence.write(key):
            if placement is None or placement.local or forwarded:
                self._store(key, value, ttl, force=True)
            else:
                self._main.delete(key)  # a non-replica keeps no main copy
            if self._hot is not None:
                self._hot.delete(key)
        if self._negative is not None:
            self._negative.discard(key)
        return placement

    def _check_set(self, placement: Placement, failed: dict[Peer, Exception]) -> None:
        """Raises when no replica took a set made on a node that is not one."""
        replicas = placement.others
        if not placement.local and replicas and all(p in failed for p in replicas):
            self._counts.add("set_errors")
            raise failed[replicas[0]]

    def delete(self, key: str, *, forwarded: bool = False) -> bool:
        """Drop key from every node's caches (main, hot, negative); True if it was cached here.

        The source of truth is not touched: the next get loads the key again.
        forwarded=True (a peer's call) acts here only.
        """
        key = _key_str(key)
        found = self._delete_here(key)
        if not forwarded and self._picker is not None:
            self._broadcast(lambda peer: peer.delete(self.name, key, forwarded=True))
        return found

    async def adelete(self, key: str, *, forwarded: bool = False) -> bool:
        """delete for asyncio: the other nodes are told concurrently, on the loop."""
        key = _key_str(key)
        found = self._delete_here(key)
        if not forwarded and self._picker is not None:
            await self._abroadcast(
                lambda peer: _ask(peer, "delete", self.name, key, forwarded=True)
            )
        return found

    def _delete_here(self, key: str) -> bool:
        key_bytes(key)  # a key the core refuses is not counted
        self._counts.add("deletes")
        with self._fence.write(key):
            found: bool = self._main.delete(key)
            if self._hot is not None:
                found = self._hot.delete(key) or found
        if self._negative is not None:
            self._negative.discard(key)
        return found

    @property
    def picker(self) -> PeerPicker | None:
        """The peer picker given to register_peers, or None."""
        return self._picker

    def _placement(self, key: str) -> Placement | None:
        picker = self._picker
        return picker.placement(key) if picker is not None else None

    def _broadcast(self, call: Callable[[Peer], Any]) -> dict[Peer, Exception]:
        """call(peer) for every other node; the failures, by peer (counted)."""
        assert self._picker is not None
        failed: dict[Peer, Exception] = {}
        self._counts.add("broadcasts")
        for peer in self._picker.peers():
            try:
                call(peer)
            except Exception as exc:  # counted; that node's copy ages out by its ttl
                self._counts.add("broadcast_errors")
                failed[peer] = exc
        return failed

    async def _abroadcast(self, call: Callable[[Peer], Any]) -> dict[Peer, Exception]:
        """_broadcast for a task: every other node's call awaited together."""
        assert self._picker is not None
        self._counts.add("broadcasts")
        peers = self._picker.peers()
        answers = await asyncio.gather(*(call(peer) for peer in peers), return_exceptions=True)
        failed: dict[Peer, Exception] = {}
        for peer, answer in zip(peers, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                self._counts.add("broadcast_errors")
                failed[peer] = answer
        return failed

    # ---------------------------------------------------------------- peers

    def register_peers(self, picker: PeerPicker) -> None:
        """Route keys owned by other nodes to them; called once, before serving.

        The hot cache (hot_fraction of max_bytes) is carved out of the main
        cache here, so the main cache is rebuilt and starts empty, its
        frequency estimate too.
        """
        if not callable(getattr(picker, "placement", None)) or not callable(
            getattr(picker, "peers", None)
        ):
            raise TypeError(
                f"picker must have placement and peers methods, not {type(picker).__name__}"
            )
        with self._peers_lock:
            if self._picker is not None:
                raise RuntimeError(f"register_peers called more than once for group {self.name!r}")
            if self._hot_bytes > 0:
                main_bytes = self.max_bytes - self._hot_bytes
                self._drain_hits()
                self._main = self._new_main(main_bytes)
                self._hot_keys.restart()
                # Plain LRU: promotion already admits by the main cache's
                # estimate, and a hot cache with TinyLFU would keep a second sketch.
                self._hot = self._core.LRUCache(self._hot_bytes, self._default_ttl)
            self._picker = picker

    # ---------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Counters and gauges of this group, for the metrics and /stats."""
        self._drain_hits()
        self._demote_all(self._hot_keys.check())
        sketch = self._main.frequency_stats()
        fast_hits = self._hits
        main = self._main.stats()
        hot = self._hot.stats() if self._hot is not None else None
        counts = self._counts.snapshot()
        batch_hits = counts.pop("batch_hits")
        hot_hits = self._hot_hits
        gets = fast_hits + hot_hits + batch_hits + counts.pop("slow_gets")
        counts[LOCAL] += fast_hits + batch_hits
        counts[HOT] += hot_hits
        hits = counts[LOCAL] + counts[HOT] + counts[REMOTE]
        out: dict[str, Any] = {"name": self.name, "gets": gets}
        out.update(counts)
        out["batch_hits"] = batch_hits  # of get_many's keys, the ones its batch lookup found
        out["loads_deduplicated"] = self._flight.deduplicated
        out["hit_rate"] = hits / gets if gets else 0.0
        out["latency"] = self._latency_summary()
        out["admission"] = self.admission
        out["main"] = main
        out["hot"] = hot
        out["nbytes"] = main["nbytes"] + (hot["nbytes"] if hot else 0)
        out["max_bytes"] = self.max_bytes
        out["negative"] = self._negative.stats() if self._negative is not None else None
        out["sketch"] = sketch
        return out

    def latency_buckets(self) -> tuple[list[float], int, int]:
        """(counts per latency.bucket_bounds bucket, sum in ns, count) of every get so far.

        Hits are sampled (one in 64 by the hit path), misses all timed: the hit
        samples are scaled up to the exact hit count before merging, so a
        count may be fractional.
        """
        self._drain_hits()
        fast_hits = self._hits
        hit_counts, hit_ns = self._hit_latency.snapshot()
        miss_counts, miss_ns = self._miss_latency.snapshot()
        sampled = sum(hit_counts)
        scale = fast_hits / sampled if sampled else 0.0
        merged = [h * scale + m for h, m in zip(hit_counts, miss_counts, strict=True)]
        n = sum(miss_counts) + (fast_hits if sampled else 0)
        return merged, int(hit_ns * scale + miss_ns), n

    def _latency_summary(self) -> dict[str, float | int]:
        merged, total_ns, n = self.latency_buckets()
        return summary_of(merged, total_ns, n)

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
        self._pusher.close()
