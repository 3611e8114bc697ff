"""The count-min sketch of csrc/sketch.h, row i at the i-th double-hash position.

Conservative update (raise only the counters that hold the minimum) cuts
the overestimate of heavy hitters; halving every halve_every additions ages
the counts.
"""

from __future__ import annotations

import threading

from .. import _contract
from .coreobject import _CoreObject, _initialised
from .fnv import _MASK32, _MASK64, _double_hash
from .views import _key_bytes

_COUNTER_MAX = _MASK32  # counters saturate as the C core's uint32_t ones


class CountMinSketch(_CoreObject):
    """Count-min sketch with conservative update, saturating 32-bit counters and halving."""

    __slots__ = ("_lock", "_table", "_width", "_depth", "_total", "_halvings", "_halve_every")

    def __init__(self, width: int, depth: int = 4, *, halve_every: int = 0) -> None:
        if _initialised(self, "_lock"):
            _contract.already_initialised(self)
        self._width, self._depth, halve_every = _contract.sketch_geometry(
            width, depth, halve_every
        )
        self._halve_every = halve_every
        # Row i occupies _table[i * width : (i + 1) * width].
        self._table = [0] * (self._width * depth)
        self._total = 0
        self._halvings = 0
        # Guards _table, _total and _halvings.
        self._lock = threading.Lock()

    def _cells(self, key: bytes) -> list[int]:
        h1, h2 = _double_hash(key)
        width = self._width
        mask = width - 1
        return [row * width + (((h1 + row * h2) & _MASK64) & mask) for row in range(self._depth)]

    def _halve(self) -> None:
        self._table = [c >> 1 for c in self._table]
        self._total //= 2
        self._halvings += 1

    def add(self, key: str | bytes, count: int = 1) -> int:
        """Count key count more times; returns its new estimate."""
        lock = self._lock
        _contract.check_count(count)
        k = _key_bytes(key)
        cells = self._cells(k)
        with lock:
            table = self._table
            new = min(min(table[c] for c in cells) + count, _COUNTER_MAX)
            for c in cells:
                if table[c] < new:
                    table[c] = new
            self._total += count
            if self._halve_every and self._total >= self._halve_every:
                self._halve()
            table = self._table
            return min(table[c] for c in cells)

    def estimate(self, key: str | bytes) -> int:
        """Estimated count of key (never below the true count, halvings aside)."""
        cells = self._cells(_key_bytes(key))
        with self._lock:
            table = self._table
            return min(table[c] for c in cells)

    def halve(self) -> None:
        """Halve every counter and the total (ageing)."""
        with self._lock:
            self._halve()

    def clear(self) -> None:
        """Reset every counter and the total to 0."""
        with self._lock:
            self._table = [0] * (self._width * self._depth)
            self._total = 0

    @property
    def width(self) -> int:
        """Counters per row (a power of two)."""
        return self._width

    @property
    def depth(self) -> int:
        """Number of rows."""
        return self._depth

    @property
    def total(self) -> int:
        """Sum of counts added, halved with the counters."""
        return self._total

    @property
    def halvings(self) -> int:
        """How many times the sketch was halved."""
        return self._halvings

    @property
    def halve_every(self) -> int:
        """Total at which add halves the sketch (0 = never)."""
        return self._halve_every

    def __repr__(self) -> str:
        if not _initialised(self, "_lock"):
            return "<CountMinSketch (not initialised)>"
        return f"<CountMinSketch width={self.width} depth={self.depth} total={self.total}>"
