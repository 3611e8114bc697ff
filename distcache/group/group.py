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
after a miss is ``_get_slow`` in reads.py. The frequency estimate behind hot
keys is the main cache's own TinyLFU sketch (docs/internals.md), the one its
admission reads: a group keeps no second sketch.

This module assembles the class from its concerns (reads.py, batch.py,
writes.py, stats.py) and holds what makes, wires and ends a group:
``new_group``, ``__init__``, ``register_peers``, ``close``. The registry of
names is registry.py's.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._backend import core as _default_core  # the C core, or the twin
from .._contract import check_max_bytes, check_ttl
from ..peers import Getter, NotFound, Peer, PeerPicker, Placement
from ..singleflight import SingleFlight
from . import registry
from .batch import BatchReads
from .functiontable import FunctionTable
from .handoff import Handoff
from .hints import Hints
from .hotkeys import HotKeys
from .latency import LatencyHistogram
from .negative import NegativeCache
from .reads import Reads
from .refresh import Refresher
from .registry import all_groups, get_group
from .replicapush import ReplicaPusher
from .stats import GroupCounters, Stats
from .tombstones import Tombstones
from .writefence import WriteFence
from .writes import Writes

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
    return registry.register(
        name,
        lambda: Group(
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
        ),
    )


def _callable_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _is_async(fn: object) -> bool:
    """Whether calling fn gives a coroutine (an async def function or __call__)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 -- a callable object's method
    )


class Group(  # type: ignore[misc]
    _default_core.HitPath,  # type: ignore[name-defined]
    Reads,
    BatchReads,
    Writes,
    Stats,
):
    """A named cache in front of a getter; create one with new_group().

    Where its methods live: get(key) and get_local(key) are the core's
    HitPath (the C hit path, first in the MRO so that a hit costs one C
    call); a miss and aget in reads.py; get_many and aget_many in batch.py;
    set, aset, delete and adelete in writes.py; stats, latency_buckets and
    top_hot_keys in stats.py; __init__, register_peers, picker, functions
    and close here.
    """

    # A Group that held its hit path as an attribute and bound its get to it
    # measured 1.4x LRUCache.get instead of 1.05x: Python dispatches a method
    # found on an instance's dict ~20 ns slower than one of a C type
    # (asv_bench/experiments.py's measure_hit_path). For the same reason a
    # group keeps fewer than 30 attributes of its own: past CPython's 30
    # shared keys an instance dict is materialised and a hit measured 1.4x
    # again (the hot-key tracker and the counters are one attribute each).
    # The mixins add methods only: every attribute is set in __init__ here.

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
        registry.check_name(name)
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
        # The pool's clock (a HybridClock) once peers are registered: it versions
        # this group's loads and writes; None without peers (no versions).
        self._clock: Any = None
        # Versions of recent Deletes: an older peer's write cannot undo one.
        self._tombstones = Tombstones()
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
        # Writes the peers missed (a replica down, stopped or cut off), replayed
        # to each when it is seen up again.
        self._hints = Hints(name, self._counts.add, self._peers_now)
        self._pusher = ReplicaPusher(name, self._counts.add, self._hints.add)
        # Sends held keys to a replica back up or added (handoff.py); started
        # by register_peers.
        self._handoff: Handoff | None = None
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

    @property
    def picker(self) -> PeerPicker | None:
        """The peer picker given to register_peers, or None."""
        return self._picker

    def _peers_now(self) -> tuple[Any, ...]:
        """Every other node (none without peers)."""
        picker = self._picker
        return picker.peers() if picker is not None else ()

    def _placement(self, key: str) -> Placement | None:
        picker = self._picker
        return picker.placement(key) if picker is not None else None

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
            self._clock = getattr(picker, "clock", None)
            self._picker = picker
            self._handoff = Handoff(self.name, lambda: self._main, picker, self._counts.add,
                                    self._stale_ttl)

    def close(self) -> None:
        """Unregister this group and empty its caches."""
        registry.unregister(self)
        self._main.clear()
        if self._hot is not None:
            self._hot.clear()
        if self._negative is not None:
            self._negative.clear()
        self._pusher.close()
        self._hints.close()
        if self._handoff is not None:
            self._handoff.close()
