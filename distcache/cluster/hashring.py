"""Consistent hashing: which nodes own a key, the same in every process.

A leaf module, as groupcache's consistenthash. Each node is placed on a ring
of 32-bit points at `vnodes` virtual positions, hashed from "node#i"; a key
belongs to the first point clockwise from its hash, and its n replicas to the
first n distinct nodes met from there. Points are FNV-1a (never Python's
hash(), which differs between processes) followed by murmur3's fmix32
finalizer: FNV-1a alone leaves near-identical names like "host:8001#17" in
clusters, and with the finalizer 100k keys over 3 nodes land
within a few percent of a third each (tests/cluster/test_hashring.py).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable

from .._backend import core

_fnv32a = core.fnv32a  # C or twin: the same points either way

__all__ = ["HashRing", "ring_point"]


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def ring_point(data: str | bytes) -> int:
    """The ring position of a key or of a virtual node name."""
    return _fmix32(_fnv32a(data))


class HashRing:
    """Nodes on a ring of 32-bit points; get(key) and get_n(key, n) are its owners."""

    def __init__(self, nodes: Iterable[str] = (), *, vnodes: int = 160) -> None:
        if isinstance(vnodes, bool) or not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be an int >= 1, not {vnodes!r}")
        self.vnodes = vnodes
        # Serialises add and remove. Lookups take no lock: they read _ring, one
        # tuple (points, their nodes, the node set) replaced whole, never edited.
        self._lock = threading.Lock()
        self._ring: tuple[list[int], list[str], frozenset[str]] = ([], [], frozenset())
        self.add(*nodes)

    def _rebuild(self, nodes: frozenset[str]) -> None:
        pairs = sorted(
            (ring_point(f"{node}#{i}"), node) for node in nodes for i in range(self.vnodes)
        )
        self._ring = ([p for p, _ in pairs], [n for _, n in pairs], nodes)

    def add(self, *nodes: str) -> None:
        """Places nodes on the ring (a node already there stays where it is)."""
        for node in nodes:
            if not isinstance(node, str) or not node:
                raise ValueError(f"a node is a non-empty str, not {node!r}")
        with self._lock:
            self._rebuild(self._ring[2] | frozenset(nodes))

    def remove(self, *nodes: str) -> None:
        """Takes nodes off the ring; their keys move to the next nodes clockwise."""
        with self._lock:
            self._rebuild(self._ring[2] - frozenset(nodes))

    @property
    def nodes(self) -> frozenset[str]:
        """The nodes on the ring."""
        return self._ring[2]

    def __len__(self) -> int:
        return len(self._ring[2])

    def get(self, key: str | bytes) -> str | None:
        """The node that owns key, or None on an empty ring."""
        owners = self.get_n(key, 1)
        return owners[0] if owners else None

    def get_n(self, key: str | bytes, n: int) -> list[str]:
        """The first n distinct nodes clockwise from key: its replicas, in order."""
        points, owners, nodes = self._ring
        if not points or n <= 0:
            return []
        want = min(n, len(nodes))
        start = bisect.bisect_left(points, ring_point(key)) % len(points)
        found: list[str] = []
        i = start
        for _ in range(len(points)):
            node = owners[i]
            if node not in found:
                found.append(node)
                if len(found) == want:
                    break
            i = (i + 1) % len(points)
        return found
