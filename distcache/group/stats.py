"""A group's counters, one field each, as groupcache's Stats struct.

A typo in a field name fails loudly (AttributeError at the first count),
where a dict of string keys let it pass. Hits of the main cache are counted
by the core's hit path, not here (see Group.stats).
"""

from __future__ import annotations

import dataclasses
import threading

__all__ = ["GroupCounters"]


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
    replica_pushes: int = 0  # loaded values sent to the key's other replica
    replica_push_failures: int = 0  # of those, the ones that failed
    replica_push_dropped: int = 0  # pushes dropped because the push queue was full
    broadcasts: int = 0  # client sets/deletes sent to the other nodes (one call each)
    broadcast_errors: int = 0  # calls of those broadcasts that failed
    get_many_calls: int = 0  # calls of get_many (their keys are counted as gets)
    sets: int = 0  # calls of set, from clients and peers
    set_errors: int = 0  # of those, the ones that raised (no replica took the value)
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
