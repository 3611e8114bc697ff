"""The negative cache: keys the source of truth reported absent, for a while.

A leaf module: it knows the core's BloomFilter (handed in as a module, the C
core or its twin) and nothing of groups.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from types import ModuleType

__all__ = ["NegativeCache"]


class NegativeCache:
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
        """Remember key as absent for ttl seconds."""
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
        """Forget that key was absent (it was set)."""
        with self._lock:
            self._expiry.pop(key, None)

    def clear(self) -> None:
        """Forget every absent key."""
        with self._lock:
            self._expiry.clear()
            self._current.clear()
            self._previous.clear()

    def stats(self) -> dict[str, int]:
        """Remembered keys and the bloom filters' answers by result."""
        with self._lock:
            return {
                "entries": len(self._expiry),
                "bloom_negative": self.bloom_negative,
                "bloom_positive": self.bloom_positive,
                "bloom_false_positive": self.bloom_false_positive,
            }
