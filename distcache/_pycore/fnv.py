"""FNV hashes and the murmur3 finalizer, computed as csrc/fnv.h computes them.

FNV-1a 32 picks a key's shard and, in a cluster, its ring position: it is
stable across processes and machines, unlike hash(). fmix64 after FNV-1a 64
feeds the bloom filter and the sketch: FNV's high bits are weak for short
keys, and double hashing needs two good 32-bit halves.
"""

from __future__ import annotations

from .views import _as_bytes

# Python ints do not wrap: every product is masked back to the C width.
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3


def _fnv32a(data: bytes) -> int:
    h = _FNV32_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & _MASK32
    return h


def _fnv64a(data: bytes) -> int:
    h = _FNV64_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV64_PRIME) & _MASK64
    return h


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    h ^= h >> 33
    return h


def _double_hash(data: bytes) -> tuple[int, int]:
    """(h1, h2) of the double hashing shared by the bloom filter and the sketch."""
    h = _fmix64(_fnv64a(data))
    return h & _MASK32, (h >> 32) | 1


def fnv32(data: str | bytes) -> int:
    """FNV-1 32-bit hash of str (UTF-8) or bytes-like data."""
    h = _FNV32_OFFSET
    for byte in _as_bytes(data, "data"):
        h = ((h * _FNV32_PRIME) & _MASK32) ^ byte
    return h


def fnv32a(data: str | bytes) -> int:
    """FNV-1a 32-bit hash of str (UTF-8) or bytes-like data."""
    return _fnv32a(_as_bytes(data, "data"))


def fnv64a(data: str | bytes) -> int:
    """FNV-1a 64-bit hash of str (UTF-8) or bytes-like data."""
    return _fnv64a(_as_bytes(data, "data"))
