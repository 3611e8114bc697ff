"""The bloom filter: k positions by double hashing of one 64-bit hash, as csrc/bloom.h."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

from .. import _contract
from .coreobject import _CoreObject, _initialised
from .fnv import _MASK64, _double_hash
from .views import _key_bytes


class BloomFilter(_CoreObject):
    """Bloom filter sized for capacity keys at a target false-positive rate."""

    __slots__ = ("_lock", "_bits", "_bits_set", "_capacity", "_error_rate", "_nbits", "_nhashes")

    def __init__(self, capacity: int, error_rate: float = 0.01) -> None:
        if _initialised(self, "_lock"):
            _contract.already_initialised(self)
        nbits, nhashes, rate = _contract.bloom_geometry(capacity, error_rate)
        self._capacity = capacity
        self._error_rate = rate
        self._nbits = nbits
        self._nhashes = nhashes
        self._bits = bytearray(nbits // 8)
        self._bits_set = 0
        # Guards _bits and _bits_set.
        self._lock = threading.Lock()

    def _positions(self, key: bytes) -> list[int]:
        h1, h2 = _double_hash(key)
        nbits = self._nbits
        return [((h1 + i * h2) & _MASK64) % nbits for i in range(self._nhashes)]

    def _add(self, key: bytes) -> bool:
        bits = self._bits
        present = True
        for pos in self._positions(key):
            byte, bit = pos >> 3, 1 << (pos & 7)
            if not bits[byte] & bit:
                bits[byte] |= bit
                self._bits_set += 1
                present = False
        return present

    def add(self, key: str | bytes) -> bool:
        """Insert key; True when it was possibly present already."""
        k = _key_bytes(key)
        with self._lock:
            return self._add(k)

    def add_many(self, keys: Iterable[Any]) -> None:
        """Insert every key; nothing is added if any key is invalid."""
        data = [_key_bytes(key) for key in keys]
        with self._lock:
            for k in data:
                self._add(k)

    def __contains__(self, key: Any) -> bool:
        k = _key_bytes(key)
        bits = self._bits
        with self._lock:
            return all(bits[pos >> 3] & (1 << (pos & 7)) for pos in self._positions(k))

    def clear(self) -> None:
        """Unset every bit."""
        with self._lock:
            self._bits = bytearray(self._nbits // 8)
            self._bits_set = 0

    @property
    def capacity(self) -> int:
        """Number of keys the filter was sized for."""
        return self._capacity

    @property
    def error_rate(self) -> float:
        """Target false-positive rate at capacity keys."""
        return self._error_rate

    @property
    def nbits(self) -> int:
        """Size of the bit array."""
        return self._nbits

    @property
    def nhashes(self) -> int:
        """Bits set per key."""
        return self._nhashes

    @property
    def bits_set(self) -> int:
        """Number of bits set."""
        return self._bits_set

    @property
    def approx_count(self) -> int:
        """Estimate of the number of distinct keys added, from the bits set."""
        nbits, bits_set = self._nbits, self._bits_set
        if bits_set >= nbits:
            return nbits
        return round(-(nbits / self._nhashes) * math.log(1.0 - bits_set / nbits))

    @property
    def estimated_fp_rate(self) -> float:
        """False-positive rate implied by the bits set now."""
        return (self._bits_set / self._nbits) ** self._nhashes

    def __repr__(self) -> str:
        if not _initialised(self, "_lock"):
            return "<BloomFilter (not initialised)>"
        return f"<BloomFilter capacity={self.capacity} nbits={self.nbits} nhashes={self.nhashes}>"
