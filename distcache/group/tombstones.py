"""Tombstones: the versions of recent Deletes, so that an older write cannot undo one.

After a versioned Delete a replica remembers the key's version for a while:
a peer's versioned write that arrives later but is older than the Delete (a
push of a load queued before it) is refused, as a write older than a held
value is. A tombstone lives ``lifetime`` seconds, longer than a push or a
retried write takes to arrive; the table keeps at most ``capacity`` keys and
forgets the oldest past that (counted). A leaf: it knows nothing of groups.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["Tombstones"]


class Tombstones:
    """Deleted keys with the version of their Delete, each for a bounded time."""

    def __init__(self, capacity: int = 100_000, lifetime: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.lifetime = lifetime
        self._clock = clock
        # Guards _entries (key -> (version, expiry)), oldest first, and dropped.
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self.dropped = 0
        """Tombstones forgotten before their time because the table was full."""

    def record(self, key: str, version: int) -> None:
        """Remembers that key was deleted at version (a newer Delete replaces an older)."""
        expires = self._clock() + self.lifetime
        with self._lock:
            held = self._entries.pop(key, None)
            if held is not None and held[0] > version:
                version = held[0]
            self._entries[key] = (version, expires)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
                self.dropped += 1

    def version_of(self, key: str) -> int:
        """The version of key's Delete while its tombstone lives, else 0."""
        with self._lock:
            held = self._entries.get(key)
            if held is None:
                return 0
            if held[1] <= self._clock():
                del self._entries[key]
                return 0
            return held[0]

    def forget(self, key: str) -> None:
        """Drops key's tombstone (a newer write of it was stored)."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
