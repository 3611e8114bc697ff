"""A fence between writes and the loads they overtake.

A load reads the source, then stores what it read. If a set() or delete() of
the same key lands in between, the load's value is older than the write and
must not be stored over it (nor remembered as absent, nor copied into the hot
cache). A load takes a ticket before it reads; a write advances its key's
generation; the load stores only while its ticket is still current, checked
and stored under one lock so that no write slips between the two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["WriteFence"]


class WriteFence:
    """Write generations of keys, striped: a load stores only if no write overtook it."""

    __slots__ = ("_lock", "_gens", "_mask")

    def __init__(self, stripes: int = 64) -> None:
        if stripes <= 0 or stripes & (stripes - 1):
            raise ValueError(f"stripes must be a power of two, not {stripes!r}")
        # Guards _gens, and makes a check-and-store or a write atomic against
        # each other. Keys that share a stripe only make a load more cautious.
        self._lock = threading.Lock()
        self._gens = [0] * stripes
        self._mask = stripes - 1

    def ticket(self, key: str) -> int:
        """The key's generation now: take it before reading the source."""
        with self._lock:
            return self._gens[hash(key) & self._mask]

    @contextmanager
    def current(self, key: str, ticket: int) -> Iterator[bool]:
        """Holds the fence and yields whether no write to key came after ticket."""
        with self._lock:
            yield self._gens[hash(key) & self._mask] == ticket

    @contextmanager
    def write(self, key: str) -> Iterator[None]:
        """Holds the fence around a write to key; loads that began earlier will not store."""
        with self._lock:
            self._gens[hash(key) & self._mask] += 1
            yield
