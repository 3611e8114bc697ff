"""Hot-key tracking: which keys are asked for most, and which promoted keys cooled.

A leaf module. It keeps no sketch of its own: the estimate is a callable
(a group passes its main cache's TinyLFU ``frequency``), and so is the count
of the sketch's halvings, after which the candidates age and promoted keys
whose estimate fell are handed back for demotion. What to do with a hot key
(copy it into a hot cache, drop it from there) is the caller's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

__all__ = ["HotKeys"]


class HotKeys:
    """Heavy-hitter candidates ranked by a frequency estimate, and the promoted keys."""

    def __init__(
        self,
        frequency: Callable[[str], int],
        halvings: Callable[[], int],
        is_hot: Callable[[str], bool],
        *,
        promote_at: int = 4,
        top_candidates: int = 256,
        check_every: int = 64,
    ) -> None:
        if promote_at < 1:
            raise ValueError("promote_at must be >= 1")
        self._frequency = frequency
        self._halvings = halvings
        self._is_hot = is_hot
        self.promote_at = promote_at
        """Estimate at which a key owned elsewhere is copied into the hot cache."""
        self.demote_below = max(1, promote_at // 2)
        """Estimate under which a promoted key is dropped from the hot cache."""
        # Reading the halvings builds a dict in the cache (too much for every
        # miss): they are looked at on one miss in check_every, and on top().
        self._check_every = check_every
        # Guards every field below.
        self._lock = threading.Lock()
        self._halvings_seen = 0
        self._misses_unchecked = 0
        self._hits_seen = 0
        # key -> sightings (misses, plus sampled hits weighted by the hits each
        # stands for), halved with the sketch. The sketch's counters saturate
        # at 255 (docs/internals.md): among keys tied there, sightings rank them.
        self._candidates: dict[str, float] = {}
        # A newcomer enters when its estimate beats the weakest key kept at the
        # last pruning; pruning at twice the size keeps the top max, so its
        # sort is paid once per many admissions.
        self._floor = 0
        self._max = max(16, top_candidates)
        self._promoted: dict[str, None] = {}

    def missed(self, key: str) -> tuple[int, list[str]]:
        """A miss of key: (its estimate, promoted keys that cooled since the last check)."""
        with self._lock:
            estimate = self._sighted(key, 1.0)
            self._misses_unchecked += 1
            cooled = self._check() if self._misses_unchecked >= self._check_every else []
        return estimate, cooled

    def hit_samples(self, keys: Iterable[str], hits: int) -> None:
        """Sampled keys of the hits since the last call; `hits` is the running hit count."""
        keys = list(keys)
        if not keys:
            return
        with self._lock:
            # Each sampled key stands for an equal share of the hits since the
            # last call (a ring keeps the newest keys when more hits arrive
            # than it holds).
            weight = max(1.0, (hits - self._hits_seen) / len(keys))
            self._hits_seen = hits
            for key in keys:
                self._sighted(key, weight)

    def top(self, n: int) -> tuple[list[tuple[str, int]], list[str]]:
        """(the n most frequent keys with their estimates, promoted keys that cooled)."""
        with self._lock:
            cooled = self._check()
            ranked = self._ranked()
        return [item for item in ranked[:n] if item[1] > 0], cooled

    def check(self) -> list[str]:
        """Promoted keys that cooled since the last check (after a halving)."""
        with self._lock:
            return self._check()

    def promoted(self, key: str, hot_len: int) -> None:
        """key was copied into the hot cache, which now holds hot_len entries."""
        with self._lock:
            self._promoted[key] = None
            if len(self._promoted) > 2 * hot_len + 1024:
                is_hot = self._is_hot
                self._promoted = {k: None for k in self._promoted if is_hot(k)}

    def forget(self, key: str) -> None:
        """key left the hot cache."""
        with self._lock:
            self._promoted.pop(key, None)

    def restart(self) -> None:
        """The estimate behind frequency() was replaced by a fresh one."""
        with self._lock:
            self._halvings_seen = 0

    # -- with the lock held --

    def _sighted(self, key: str, weight: float) -> int:
        estimate = self._frequency(key)
        candidates = self._candidates
        if key in candidates:
            candidates[key] += weight
        elif estimate > self._floor:
            candidates[key] = weight
            if len(candidates) >= 2 * self._max:
                kept = self._ranked()[: self._max]
                self._candidates = {k: candidates[k] for k, _ in kept}
                self._floor = kept[-1][1] if len(kept) == self._max else 0
        return estimate

    def _ranked(self) -> list[tuple[str, int]]:
        frequency = self._frequency
        ranked = [(k, frequency(k), s) for k, s in self._candidates.items()]
        ranked.sort(key=lambda item: (item[1], item[2]), reverse=True)
        return [(k, f) for k, f, _ in ranked]

    def _check(self) -> list[str]:
        """After a halving: age the candidates, return the promoted keys that cooled."""
        self._misses_unchecked = 0
        halvings = self._halvings()
        if halvings == self._halvings_seen:
            return []
        shift = min(halvings - self._halvings_seen, 64)
        self._halvings_seen = halvings
        frequency = self._frequency
        self._candidates = {
            k: s / (1 << shift) for k, s in self._candidates.items() if frequency(k) > 0
        }
        self._floor >>= shift
        cooled = []
        is_hot = self._is_hot
        for key in list(self._promoted):
            if not is_hot(key):
                del self._promoted[key]  # evicted by the hot cache's LRU
            elif frequency(key) < self.demote_below:
                del self._promoted[key]
                cooled.append(key)
        return cooled
