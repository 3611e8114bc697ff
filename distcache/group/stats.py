"""A group's counters, one field each, as groupcache's Stats struct, and their read-outs.

A typo in a field name fails loudly (AttributeError at the first count),
where a dict of string keys let it pass. Hits of the main cache are counted
by the core's hit path, not here: ``Stats.stats`` adds them in. ``Stats`` is
the Group's mixin of what it reports: ``stats()``, ``latency_buckets()`` and
``top_hot_keys()``.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from .latency import summary_of

if TYPE_CHECKING:
    from .state import GroupState
else:
    GroupState = object

__all__ = ["GroupCounters", "Stats"]

# Outcomes of one get; each get ends in exactly one of them (the
# GroupCounters field it counts).
LOCAL, HOT, REMOTE, LOADED, NEGATIVE, NOT_FOUND, ERROR = (
    "local_hits",
    "hot_hits",
    "remote_hits",
    "loaded",
    "negative_hits",
    "not_found",
    "errors",
)


@dataclasses.dataclass
class GroupCounters:
    """Counts of what a group's gets, loads and writes did; add() is thread-safe."""

    slow_gets: int = 0  # gets that missed the main cache (each ends in one outcome below)
    batch_hits: int = 0  # keys of get_many found in the main cache
    local_hits: int = 0  # misses answered by the main cache after all (a flight finished)
    hot_hits: int = 0  # answered by the hot cache (a copy of a key owned elsewhere)
    remote_hits: int = 0  # answered by the key's owner, another node
    loaded: int = 0  # answered by the getter, here
    negative_hits: int = 0  # NotFound from the negative cache, the source not asked
    not_found: int = 0  # NotFound from the getter or the owner
    errors: int = 0  # gets that raised anything else
    getter_loads: int = 0  # calls of the getter
    peer_loads: int = 0  # requests to another node
    peer_errors: int = 0  # of those, the ones that failed
    degraded_loads: int = 0  # getter calls made because no replica could answer
    failovers: int = 0  # a replica failed and the next one in ring order was asked
    # A push ends in one of these three (none is a subset of another).
    replica_pushes: int = 0  # loaded values the key's other replica took
    replica_push_failures: int = 0  # pushes whose call to the other replica failed
    replica_push_dropped: int = 0  # pushes dropped because the push queue was full
    broadcasts: int = 0  # client sets/deletes sent to the other nodes (one call each)
    broadcast_calls_ok: int = 0  # calls of those broadcasts that another node took
    broadcast_errors: int = 0  # calls of those broadcasts that failed
    get_many_calls: int = 0  # calls of get_many (their keys are counted as gets)
    sets: int = 0  # calls of set, from clients and peers (counted as they start)
    sets_ok: int = 0  # of those, the ones that returned
    set_errors: int = 0  # of those, the ones that raised (no replica took the value)
    superseded_writes: int = 0  # peers' versioned writes not applied: a newer one was held
    ordering_failures: int = 0  # client writes the key's first replica failed to order
    hints: int = 0  # writes a peer missed, kept for it (hinted handoff)
    hints_replayed: int = 0  # of those, the ones it took once seen up again
    hints_dropped: int = 0  # hints given up: queue full, peer left the ring, ttl over
    handoffs: int = 0  # held keys sent to a replica back up or added by a ring change
    co_replica_hits: int = 0  # misses of a replica answered by another replica's cached copy
    deletes: int = 0  # calls of delete, from clients and peers
    admission_rejects: int = 0  # loaded values the main cache's TinyLFU refused
    stale_hits: int = 0  # hits on an entry past its ttl, answered stale (counted as hits too)
    refreshes: int = 0  # background refreshes of stale entries the source answered
    refresh_errors: int = 0  # background refreshes that failed (the stale entry kept)
    promotions: int = 0  # keys copied into the hot cache
    demotions: int = 0  # keys dropped from the hot cache as they cooled

    def __post_init__(self) -> None:
        # Guards every field.
        self._lock = threading.Lock()

    def add(self, *fields: str) -> None:
        """Counts one more of each named field."""
        with self._lock:
            for name in fields:
                setattr(self, name, getattr(self, name) + 1)

    def add_n(self, name: str, n: int) -> None:
        """Counts n more of the named field."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        """Every field's value, read at one instant."""
        with self._lock:
            return dataclasses.asdict(self)


class Stats(GroupState):
    """A Group's read-outs: its counters and gauges, latency and hottest keys (a mixin)."""

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
        out["hints_pending"] = self._hints.pending()
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

    def top_hot_keys(self, n: int = 10) -> list[tuple[str, int]]:
        """The n most frequently requested keys now, with their estimated counts."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, not {n!r}")
        self._drain_hits()
        ranked, cooled = self._hot_keys.top(n)
        self._demote_all(cooled)
        return ranked
