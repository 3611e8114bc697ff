"""Hybrid logical clocks: the versions that order the writes of one key.

A version is one unsigned 64-bit integer, compared as an integer:

    bits 63..20  physical time, milliseconds since the Unix epoch (44 bits: to the year 2527)
    bits 19..12  a logical counter (8 bits) for versions made within one millisecond
    bits 11..0   the id of the node that made it (12 bits, from its ring name)

So a later write has a larger version even when the wall clocks of two nodes
differ by a little (a clock that has seen a version never makes a smaller
one), two nodes never make the same version (their ids differ), and the
order of two versions is the order of their (time, counter, node). The core
keeps a version with an entry (8 bytes) and applies a write only when its
version is newer (``LRUCache.set_if_newer``); docs/grpc.md, "Consistency",
says what that gives a client.

A leaf: it knows nothing of caches or groups. The node id is FNV-1a of the
node's ring name, so every process derives the same id for a node; two
nodes of one cluster whose ids collide (a chance of about n*n/8192 for n
nodes) still order their writes by time and counter, and tie only when both
make a version in the same millisecond with the same counter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ._backend import core

__all__ = ["MAX_AHEAD_MS", "HybridClock", "node_id", "pack", "unpack"]

_NODE_BITS = 12
_LOGICAL_BITS = 8
_LOW_BITS = _NODE_BITS + _LOGICAL_BITS
_NODE_MASK = (1 << _NODE_BITS) - 1
_LOGICAL_MASK = (1 << _LOGICAL_BITS) - 1
_MAX_MS = (1 << (64 - _LOW_BITS)) - 1

# A version from another node more than this far ahead of our wall clock is
# stored as it is but not followed: one node with a clock years ahead must
# not drag every other node's versions there (the HLC paper's bound on drift).
MAX_AHEAD_MS = 60_000


def pack(ms: int, logical: int, node: int) -> int:
    """The version of (milliseconds, counter, node id)."""
    if not 0 <= ms <= _MAX_MS or not 0 <= logical <= _LOGICAL_MASK or not 0 <= node <= _NODE_MASK:
        raise ValueError(f"version parts out of range: ms={ms}, logical={logical}, node={node}")
    return (ms << _LOW_BITS) | (logical << _NODE_BITS) | node


def unpack(version: int) -> tuple[int, int, int]:
    """(milliseconds since the epoch, counter, node id) of a version."""
    if not 0 <= version < 1 << 64:
        raise ValueError(f"a version is an unsigned 64-bit integer, not {version!r}")
    return version >> _LOW_BITS, (version >> _NODE_BITS) & _LOGICAL_MASK, version & _NODE_MASK


def node_id(name: str) -> int:
    """The 12-bit id of a node, from its ring name ("host:port"): the same in every process."""
    return core.fnv32a(name) & _NODE_MASK


class HybridClock:
    """One node's clock: each version it makes is larger than every version it made or saw."""

    def __init__(self, node: int, wall: Callable[[], float] = time.time) -> None:
        if not 0 <= node <= _NODE_MASK:
            raise ValueError(f"a node id is 0..{_NODE_MASK}, not {node!r}")
        self.node = node
        self._wall = wall
        # Guards _last, the (milliseconds, counter) of the newest version made
        # or seen, as one integer: bits 63..20 of a version shifted down.
        self._lock = threading.Lock()
        self._last = 0

    def _wall_ms(self) -> int:
        return int(self._wall() * 1000)

    def now(self) -> int:
        """A new version: after the wall clock's millisecond and after every version seen."""
        floor = self._wall_ms() << _LOGICAL_BITS
        with self._lock:
            # Within one millisecond the counter counts; past 255 it borrows
            # the next millisecond, which the wall clock soon catches up with.
            self._last = last = max(self._last + 1, floor)
        if last >> _LOGICAL_BITS > _MAX_MS:
            raise OverflowError("the clock has passed the last millisecond a version can hold")
        return (last << _NODE_BITS) | self.node

    def observe(self, version: int) -> None:
        """Takes in a version made elsewhere: the next now() is after it (within MAX_AHEAD_MS)."""
        seen = version >> _NODE_BITS
        if (seen >> _LOGICAL_BITS) - self._wall_ms() > MAX_AHEAD_MS:
            return
        with self._lock:
            if seen > self._last:
                self._last = seen
