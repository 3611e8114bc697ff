"""Pure-Python twin of the C core: LRUCache, BloomFilter, CountMinSketch, FNV hashes.

Every algorithm here is the one docs/internals.md specifies, down to eviction
order, counters and bit positions, so that driving this module and
``distcache._core`` with the same operations gives the same answers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _contract

__all__ = [
    "ENTRY_OVERHEAD",
    "IMPLEMENTATION",
    "MAX_KEY_LEN",
    "BloomFilter",
    "CountMinSketch",
    "HitPath",
    "LRUCache",
    "fnv32",
    "fnv32a",
    "fnv64a",
]

IMPLEMENTATION = "python"
"""Which implementation of the core this module is."""

ENTRY_OVERHEAD = 64
"""Bytes charged per cache entry on top of its key and value."""

MAX_KEY_LEN = _contract.MAX_KEY_LEN
"""Longest key, in bytes, that a cache accepts."""

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_HALF32 = 0x80000000
_COUNTER_MAX = _MASK32
_NO_EXPIRY = math.inf

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3

_monotonic = time.monotonic
_perf_ns = time.perf_counter_ns


# --- bytes views (the rules live in _contract, shared with the group) -----------

_as_bytes = _contract.as_bytes
_buffer_view = _contract.buffer_view
_buffer_bytes = _contract.buffer_bytes
_key_bytes = _contract.key_bytes
_value_view = _contract.value_view
_value_bytes = _contract.value_bytes


def _initialised(obj: object, slot: str) -> bool:
    """Whether __init__ has set obj's slot (without calling __getattr__)."""
    try:
        object.__getattribute__(obj, slot)
    except AttributeError:
        return False
    return True


class _CoreObject:
    """What every core class shares: no copies, no pickling, clear errors before __init__."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute that is not set: a slot of ours means
        # __init__ never ran (the C core raises the same).
        for cls in type(self).__mro__:
            if name in getattr(cls, "__slots__", ()):
                _contract.not_initialised(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __copy__(self) -> Any:
        _contract.refuse_copy(self)

    def __deepcopy__(self, memo: Any) -> Any:
        _contract.refuse_copy(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        _contract.refuse_copy(self)


# --- hashes ------------------------------------------------------------------


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


# --- TinyLFU -----------------------------------------------------------------

_ROW_COUNTERS = 14
_SAT_TAGS = 16383  # tags of a sample period, csrc/tinylfu.h's DC_SAT_TAGS
_PROTECTED_PCT = 80
_GOLDEN64 = 0x9E3779B97F4A7C15


def _freq_hash(fnv: int, klen: int) -> int:
    """The 64-bit frequency hash of a key, from its FNV-1a 32."""
    return _fmix64((klen << 32) | fnv)


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


_default_shards = _contract.default_shards


class _TinyLFU:
    """Doorkeeper + count-min sketch in 64-byte blocks (docs/internals.md)."""

    __slots__ = ("blocks", "nblocks", "sample", "additions", "halvings", "sat_tag")

    def __init__(self, entries: int) -> None:
        entries = max(entries, 64)
        self.nblocks = _pow2_at_least(entries) // 8
        self.sample = 10 * entries
        self.additions = 0
        self.halvings = 0
        # Names the sample period, 1.._SAT_TAGS (csrc/tinylfu.h's sat_tag).
        self.sat_tag = 1
        self.blocks = bytearray(self.nblocks * 64)

    def _where(self, fh: int) -> tuple[int, list[int], int]:
        """(block offset, the 4 counter offsets, doorkeeper bits)."""
        base = (fh & (self.nblocks - 1)) * 64
        cells = [
            base + _ROW_COUNTERS * r + ((((fh >> (32 + 8 * r)) & 0xFF) * _ROW_COUNTERS) >> 8)
            for r in range(4)
        ]
        g = (fh * _GOLDEN64) & _MASK64
        bits = (1 << (g >> 58)) | (1 << ((g >> 52) & 63)) | (1 << ((g >> 46) & 63))
        return base, cells, bits

    def _door(self, base: int) -> int:
        return int.from_bytes(self.blocks[base + 56 : base + 64], "little")

    def estimate(self, fh: int) -> int:
        base, cells, bits = self._where(fh)
        blocks = self.blocks
        m = min(blocks[c] for c in cells)
        return m + (1 if self._door(base) & bits == bits else 0)

    def touch(self, fh: int) -> int:
        """The sketch's half of a record: sat_tag if the key is now saturated, else 0."""
        base, cells, bits = self._where(fh)
        blocks = self.blocks
        word = self._door(base)
        if word & bits != bits:
            blocks[base + 56 : base + 64] = (word | bits).to_bytes(8, "little")
            return 0
        m = min(blocks[c] for c in cells)
        if m < 255:
            for c in cells:
                if blocks[c] == m:
                    blocks[c] = m + 1
        return self.sat_tag if m >= 254 else 0

    def record(self, fh: int) -> None:
        self.touch(fh)
        self.count()

    def count(self) -> None:
        """The count's half: one more access in the period, halving at its end."""
        blocks = self.blocks
        self.additions += 1
        if self.additions >= self.sample:
            for b in range(self.nblocks):
                base = b * 64
                for i in range(base, base + 4 * _ROW_COUNTERS):
                    blocks[i] >>= 1
                blocks[base + 56 : base + 64] = bytes(8)
            self.additions = 0
            self.halvings += 1
            self.sat_tag = self.sat_tag % _SAT_TAGS + 1


# --- LRUCache ----------------------------------------------------------------


class _Entry:
    """One stored value with its expiry, recency stamp and charged size."""

    __slots__ = ("value", "expires", "stamp", "size", "sat")

    def __init__(self, value: bytes, expires: float, stamp: int, size: int) -> None:
        self.value = value
        self.expires = expires
        self.stamp = stamp
        self.size = size
        self.sat = 0  # the sketch's sat_tag when this key was seen saturated, 0: never


_MISSING: Any = object()


class LRUCache(_CoreObject):
    """Byte-budgeted, sharded LRU cache of bytes values with optional TTLs."""

    __slots__ = (
        "_lock",
        "_shards",
        "_mask",
        "_max_bytes",
        "_default_ttl",
        "_default_ttl_given",
        "_nbytes",
        "_items",
        "_tick",
        "_hits",
        "_misses",
        "_sets",
        "_deletes",
        "_evictions",
        "_expirations",
        "_rejected",
        "_admission_rejects",
        "_protected",
        "_pbytes",
        "_freq",
        "_admit",
        "_admission",
    )

    def __init__(
        self,
        max_bytes: int,
        default_ttl: float | None = None,
        *,
        shards: int | None = None,
        admission: str | None = None,
        track_frequency: bool = False,
    ) -> None:
        if _initialised(self, "_lock"):
            _contract.already_initialised(self)
        max_bytes = _contract.check_max_bytes(max_bytes)
        shards = _contract.check_shards(shards, max_bytes)
        self._default_ttl = (
            None if default_ttl is None else _contract.check_ttl(default_ttl, "default_ttl")
        )
        self._default_ttl_given = default_ttl
        self._max_bytes = max_bytes
        self._mask = shards - 1
        # Per shard: key bytes -> _Entry, least recent first (the LRU tail is the
        # first item, the head the last), so move_to_end is "make most recent".
        self._shards: list[OrderedDict[bytes, _Entry]] = [OrderedDict() for _ in range(shards)]
        self._admission = _contract.check_admission(admission)
        self._admit = admission is not None
        # Admission mode segments each shard: _shards holds probation, this the
        # protected entries (same order convention), _pbytes their bytes.
        self._protected: list[OrderedDict[bytes, _Entry]] = [OrderedDict() for _ in range(shards)]
        self._pbytes = [0] * shards
        self._freq = (
            _TinyLFU(_contract.tracked_entries(self._max_bytes))
            if admission is not None or track_frequency
            else None
        )
        self._admission_rejects = 0
        self._nbytes = 0
        self._items = 0
        self._tick = 0
        self._hits = 0
        self._misses = 0
        self._sets = 0
        self._deletes = 0
        self._evictions = 0
        self._expirations = 0
        self._rejected = 0
        # Guards every field above: shards, byte and item sums, tick, counters.
        # One lock for the whole cache (the C core has one per shard).
        self._lock = threading.Lock()

    # -- internals (call with the lock held) --

    def _index(self, key: bytes) -> int:
        return 0 if self._mask == 0 else _fnv32a(key) & self._mask

    def _shard(self, key: bytes) -> OrderedDict[bytes, _Entry]:
        return self._shards[self._index(key)]

    def _expires(self, ttl: Any) -> float:
        """Absolute monotonic expiry for a validated ttl argument (None = default)."""
        seconds = self._default_ttl if ttl is None else ttl
        if seconds is None or seconds == _NO_EXPIRY:
            return _NO_EXPIRY
        return _monotonic() + seconds

    def _find(self, index: int, key: bytes) -> _Entry | None:
        entry = self._shards[index].get(key)
        if entry is None:
            entry = self._protected[index].get(key)
        return entry

    def _unlink_at(self, index: int, key: bytes) -> _Entry | None:
        entry = self._shards[index].pop(key, None)
        if entry is None:
            entry = self._protected[index].pop(key, None)
            if entry is not None:
                self._pbytes[index] -= entry.size
        if entry is not None:
            self._nbytes -= entry.size
            self._items -= 1
        return entry

    def _unlink(self, shard: OrderedDict[bytes, _Entry], key: bytes) -> _Entry | None:
        return self._unlink_at(self._index(key), key)

    def _lookup(self, key: bytes) -> _Entry | None:
        """The live entry of key or None; an expired one is reclaimed and counted."""
        index = self._index(key)
        entry = self._find(index, key)
        if entry is None:
            return None
        if entry.expires != _NO_EXPIRY and _monotonic() >= entry.expires:
            self._unlink_at(index, key)
            self._expirations += 1
            return None
        return entry

    def _record(self, key: bytes) -> None:
        if self._freq is not None:
            self._freq.record(_freq_hash(_fnv32a(key), len(key)))

    def _touch(self, index: int, key: bytes, entry: _Entry) -> None:
        """Make key the most recent entry of its shard (or of its protected segment)."""
        probation = self._shards[index]
        if not self._admit:
            probation.move_to_end(key)
        else:
            protected = self._protected[index]
            if key in protected:
                protected.move_to_end(key)
            else:
                del probation[key]
                protected[key] = entry
                self._pbytes[index] += entry.size
                cap = (self._max_bytes // (self._mask + 1)) * _PROTECTED_PCT
                while self._pbytes[index] * 100 > cap:
                    demoted_key, demoted = protected.popitem(last=False)
                    self._pbytes[index] -= demoted.size
                    probation[demoted_key] = demoted
        self._tick = tick = (self._tick + 1) & _MASK32
        entry.stamp = tick

    def _get(self, key: bytes, *, tagged: bool = True) -> Any:
        """What get does for one key: the value, or _MISSING.

        tagged: a hit records the key as the C read path does (skipping the
        sketch while the entry's tag matches); get_many's C path does not
        tag, so it passes False.
        """
        index = self._index(key)
        entry = self._find(index, key)
        if entry is not None and entry.expires != _NO_EXPIRY and _monotonic() >= entry.expires:
            self._unlink_at(index, key)
            self._expirations += 1
            entry = None
        freq = self._freq
        if entry is None:
            self._record(key)
            self._misses += 1
            return _MISSING
        if freq is not None:
            if not tagged:
                self._record(key)
            else:
                if entry.sat != freq.sat_tag:
                    entry.sat = freq.touch(_freq_hash(_fnv32a(key), len(key)))
                freq.count()
        self._hits += 1
        self._touch(index, key, entry)
        return entry.value

    def _victim_of(self, index: int) -> tuple[bytes, _Entry] | None:
        """The shard's eviction candidate: probation's tail, else protected's."""
        for segment in (self._shards[index], self._protected[index]):
            if segment:
                key = next(iter(segment))
                return key, segment[key]
        return None

    def _victim_shard(self, own: int) -> int:
        """Among the first 8 non-empty shards after own, the one with the oldest victim."""
        mask = self._mask
        best = -1
        best_stamp = 0
        seen = 0
        for step in range(1, mask + 1):
            index = (own + step) & mask
            victim = self._victim_of(index)
            if victim is None:
                continue
            stamp = victim[1].stamp
            if best < 0 or ((stamp - best_stamp) & _MASK32) >= _HALF32:
                best, best_stamp = index, stamp
            seen += 1
            if seen == 8:
                break
        if best < 0:  # only when nbytes > 0 with every entry gone: a bug
            raise AssertionError("eviction found no entry to evict")
        return best

    def _admits(self, key: bytes, victim_key: bytes) -> bool:
        """TinyLFU: the newcomer is estimated to be asked for more often than the victim."""
        freq = self._freq
        assert freq is not None
        new = freq.estimate(_freq_hash(_fnv32a(key), len(key)))
        old = freq.estimate(_freq_hash(_fnv32a(victim_key), len(victim_key)))
        return new > old

    def _store(self, key: bytes, value: bytes | memoryview, expires: float, force: bool) -> bool:
        size = len(key) + len(value) + ENTRY_OVERHEAD
        index = self._index(key)
        if size > self._max_bytes:
            self._unlink_at(index, key)
            self._rejected += 1
            return False
        # Copied only now: a value that can never fit costs no copy (as in C).
        if type(value) is not bytes:
            value = value.tobytes()
        self._record(key)
        newcomer = self._unlink_at(index, key) is None and self._admit and not force
        while self._nbytes + size > self._max_bytes:
            where = index if self._victim_of(index) is not None else self._victim_shard(index)
            victim = self._victim_of(where)
            assert victim is not None
            if newcomer and not self._admits(key, victim[0]):
                self._admission_rejects += 1
                return False
            newcomer = False
            self._unlink_at(where, victim[0])
            self._evictions += 1
        self._tick = tick = (self._tick + 1) & _MASK32
        self._shards[index][key] = _Entry(value, expires, tick, size)
        self._nbytes += size
        self._items += 1
        self._sets += 1
        return True

    # -- public API --

    def set(
        self, key: str | bytes, value: bytes, ttl: float | None = None, *, force: bool = False
    ) -> bool:
        """Store value under key; False when not stored.

        False when the entry is larger than the whole budget, or when TinyLFU
        admission refused a new key; force=True stores past admission.
        """
        lock = self._lock
        k = _key_bytes(key)
        v = _value_view(value)
        if ttl is not None:
            ttl = _contract.check_ttl(ttl, "ttl")
        with lock:
            return self._store(k, v, self._expires(ttl), force)

    def get(self, key: str | bytes, default: Any = None, /) -> Any:
        """The value stored under key (bytes), or default."""
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            value = self._get(k)
        return default if value is _MISSING else value

    def _get_aged(self, key: str | bytes, window: float) -> tuple[bytes, bool] | None:
        """(value, stale) of key, or None; stale: it expires within window seconds.

        What a stale-while-revalidate hit path reads: the entry of a group
        with stale_ttl lives ttl + stale_ttl, and its last window is stale.
        """
        if not window > 0.0:
            raise ValueError(f"window must be > 0, not {window!r}")
        k = _key_bytes(key)
        with self._lock:
            value = self._get(k)
            if value is _MISSING:
                return None
            expires = self._find(self._index(k), k).expires  # type: ignore[union-attr]
        return value, expires != _NO_EXPIRY and _monotonic() >= expires - window

    def delete(self, key: str | bytes) -> bool:
        """Remove key; True when a live entry was removed."""
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            if self._lookup(k) is None:
                return False
            self._unlink_at(self._index(k), k)
            self._deletes += 1
            return True

    def get_many(self, keys: Iterable[Any]) -> dict[Any, bytes]:
        """Dict of the keys found, keyed by the key objects as given."""
        lock = self._lock
        given = list(keys)
        data = []
        # Every key is checked before any is looked up: a key that cannot key
        # the result dict (a bytearray) must not count a hit first. Each key
        # is checked whole before the next, as in C: the first bad key decides
        # the error.
        for key in given:
            data.append(_key_bytes(key))
            if type(key) is not str and type(key) is not bytes:
                try:
                    hash(key)
                except (TypeError, ValueError):  # ValueError: a writable memoryview
                    _contract.unhashable_key(key)
        with lock:
            values = [self._get(k, tagged=False) for k in data]
        pairs = zip(given, values, strict=True)
        return {key: value for key, value in pairs if value is not _MISSING}

    def set_many(
        self, mapping: Mapping[Any, Any], ttl: float | None = None, *, force: bool = False
    ) -> None:
        """Store every item of mapping; nothing is stored if any key or value is invalid."""
        lock = self._lock
        items = [(_key_bytes(k), _value_view(v)) for k, v in _contract.items_of(mapping)]
        if ttl is not None:
            ttl = _contract.check_ttl(ttl, "ttl")
        with lock:
            expires = self._expires(ttl)
            for k, v in items:
                self._store(k, v, expires, force)

    def clear(self) -> None:
        """Remove every entry (counters are kept)."""
        with self._lock:
            for shard in self._shards:
                shard.clear()
            for shard in self._protected:
                shard.clear()
            self._pbytes = [0] * len(self._pbytes)
            self._nbytes = 0
            self._items = 0

    def stats(self) -> dict[str, int]:
        """Counters and sizes: hits, misses, sets, deletes, evictions, expirations, ..."""
        with self._lock:
            return {
                "hits": self._hits,
                "misses": self._misses,
                "sets": self._sets,
                "deletes": self._deletes,
                "evictions": self._evictions,
                "expirations": self._expirations,
                "rejected": self._rejected,
                "admission_rejects": self._admission_rejects,
                "items": self._items,
                "nbytes": self._nbytes,
                "max_bytes": self._max_bytes,
            }

    @property
    def nbytes(self) -> int:
        """Bytes charged for the stored entries."""
        return self._nbytes

    @property
    def max_bytes(self) -> int:
        """The byte budget."""
        return self._max_bytes

    @property
    def default_ttl(self) -> float | None:
        """TTL in seconds used when set gets ttl=None (None = no expiry), as given."""
        return self._default_ttl_given

    @property
    def shards(self) -> int:
        """Number of shards."""
        return self._mask + 1

    @property
    def admission(self) -> str | None:
        """The admission policy: None or "tinylfu"."""
        return self._admission

    @property
    def tracks_frequency(self) -> bool:
        """Whether every get and set feeds a frequency estimate."""
        return self._freq is not None

    def frequency_stats(self) -> dict[str, int] | None:
        """The frequency estimate's figures (sample, additions, halvings), or None."""
        if self._freq is None:
            return None
        with self._lock:
            freq = self._freq
            return {"sample": freq.sample, "additions": freq.additions, "halvings": freq.halvings}

    def frequency(self, key: Any) -> int:
        """The estimated recent access count of key (TinyLFU's estimate)."""
        if self._freq is None:
            raise ValueError(
                "this cache tracks no frequencies: create it with "
                "admission='tinylfu' or track_frequency=True"
            )
        k = _key_bytes(key)
        with self._lock:
            return self._freq.estimate(_freq_hash(_fnv32a(k), len(k)))

    def __len__(self) -> int:
        return self._items

    def __iter__(self) -> Any:
        _contract.refuse_iter(self)

    def __repr__(self) -> str:
        if not _initialised(self, "_lock"):
            return "<LRUCache (not initialised)>"
        return (
            f"<LRUCache items={len(self)} nbytes={self.nbytes} "
            f"max_bytes={self.max_bytes} shards={self.shards}>"
        )

    def __contains__(self, key: Any) -> bool:
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            return self._lookup(k) is not None

    def __getitem__(self, key: Any) -> bytes:
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            value = self._get(k)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def _check_invariants(self) -> None:
        """Raise AssertionError if shards, sums or the budget disagree."""
        with self._lock:
            items = 0
            nbytes = 0
            for index, shard in enumerate(self._shards):
                protected = self._protected[index]
                if protected and not self._admit:
                    raise AssertionError(f"shard {index} has protected entries in plain mode")
                if sum(e.size for e in protected.values()) != self._pbytes[index]:
                    raise AssertionError(f"shard {index} protected bytes are wrong")
                if shard.keys() & protected.keys():
                    raise AssertionError(f"shard {index} has a key in both segments")
                for key, entry in list(shard.items()) + list(protected.items()):
                    if type(key) is not bytes or type(entry.value) is not bytes:
                        raise AssertionError(f"entry {key!r} holds a non-bytes key or value")
                    if _fnv32a(key) & self._mask != index:
                        raise AssertionError(f"key {key!r} is in shard {index}")
                    if entry.size != len(key) + len(entry.value) + ENTRY_OVERHEAD:
                        raise AssertionError(f"key {key!r} is charged {entry.size} bytes")
                    if not 0 <= entry.stamp <= _MASK32:
                        raise AssertionError(f"key {key!r} has stamp {entry.stamp}")
                    items += 1
                    nbytes += entry.size
            if items != self._items:
                raise AssertionError(f"items is {self._items}, shards hold {items}")
            if nbytes != self._nbytes:
                raise AssertionError(f"nbytes is {self._nbytes}, entries sum to {nbytes}")
            if self._nbytes > self._max_bytes:
                raise AssertionError(f"nbytes {self._nbytes} > max_bytes {self._max_bytes}")


# --- BloomFilter -------------------------------------------------------------


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


# --- CountMinSketch ----------------------------------------------------------


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


# --- HitPath -----------------------------------------------------------------

_HIT_SAMPLE = 64  # hits timed and keys sampled, as the C core's HIT_SAMPLE (its comment says why)
_RING = 1024


def _check_cache(cache: Any) -> Any:
    """cache if it has a get method, else TypeError."""
    if cache is None or not callable(getattr(cache, "get", None)):
        raise TypeError(f"cache must have a get method, not {type(cache).__name__}")
    return cache


class HitPath(_CoreObject):
    """A cache's hit path for a composer: the lookup, hit counting and sampling.

    get(key) answers a hit from the cache; a miss returns miss(key, True)
    (get_local: miss(key, False)). A bytes-like key must be UTF-8, else
    UnicodeDecodeError before any lookup. It knows nothing of groups. The cache is
    any object with get(key) -> value or None.
    """

    __slots__ = ("_cache", "_miss", "_calls", "_nhits", "_keys", "_times", "_hot_c", "_nhot",
                 "_window", "_stale_call")

    def __init__(self, cache: Any, miss: Callable[[Any, bool], Any]) -> None:
        if _initialised(self, "_cache"):
            _contract.already_initialised(self)
        _check_cache(cache)
        if not callable(miss):
            raise TypeError(f"miss must be callable, not {type(miss).__name__}")
        self._miss = miss
        self._calls = 0
        self._nhits = 0
        # A second cache looked in after a main-cache miss (a group's hot cache).
        self._hot_c: Any = None
        self._nhot = 0
        # Sampled keys and durations of recent hits; bounded, oldest dropped.
        self._keys: deque[Any] = deque(maxlen=_RING)
        self._times: deque[int] = deque(maxlen=_RING)
        # Stale-while-revalidate: see _set_stale.
        self._window = 0.0
        self._stale_call: Any = None
        self._cache = cache

    @property
    def _main(self) -> Any:
        """The main cache: hits are answered from it (settable)."""
        return self._cache

    @_main.setter
    def _main(self, cache: Any) -> None:
        self._cache  # noqa: B018 -- raises when not initialised
        self._cache = _check_cache(cache)

    def _hit(self, key: Any, mode: int) -> Any:
        # mode: 1 get (a miss goes to miss(key, True)), 0 get_local (miss(key,
        # False)), 2 _peek (a miss returns None).
        cache = self._cache
        if type(key) is not str:
            # A bytes key must be UTF-8 (the miss path is given text): refused
            # before the lookup, so that nothing is counted.
            _key_bytes(key).decode("utf-8")
        n = self._calls
        self._calls = n + 1
        start = _perf_ns() if n % _HIT_SAMPLE == 0 else 0
        stale = False
        if self._window > 0.0:
            aged = cache._get_aged(key, self._window)
            value, stale = (None, False) if aged is None else aged
        else:
            value = cache.get(key)
        if value is None:
            hot = self._hot_c
            if hot is not None:
                value = hot.get(key)
                if value is not None:
                    self._nhot += 1
                    return value
            return None if mode == 2 else self._miss(key, mode == 1)
        self._nhits += 1
        if start:
            self._times.append(min(_perf_ns() - start, 4_000_000_000))
        if n % _HIT_SAMPLE == 0:
            self._keys.append(key)
        if stale:
            return self._stale_call(key, value, mode)
        return value

    def _set_stale(self, window: float, on_stale: Callable[[Any, Any, int], Any] | None) -> None:
        """Serve entries in their last window seconds as stale, through on_stale(key, value, mode).

        mode is 1 for get, 0 for get_local, 2 for _peek. window 0 turns it off.
        """
        self._cache  # noqa: B018 -- raises when not initialised
        if not window >= 0.0 or (window > 0.0 and not callable(on_stale)):
            raise ValueError(f"a stale window needs window >= 0 and a callable, not {window!r}")
        self._stale_call = on_stale
        self._window = float(window)

    def get(self, key: Any, /) -> Any:
        """The cached value of key, else what miss(key, True) returns."""
        return self._hit(key, True)

    def get_local(self, key: Any, /) -> Any:
        """The cached value of key, else what miss(key, False) returns."""
        return self._hit(key, False)

    def _peek(self, key: Any, /) -> Any:
        """The cached value of key, counted as a hit, or None (miss not called)."""
        return self._hit(key, 2)

    @property
    def _hot(self) -> Any:
        """The second cache (an LRUCache, or None), looked in after a main-cache miss."""
        return self._hot_c

    @_hot.setter
    def _hot(self, cache: Any) -> None:
        if cache is not None and not callable(getattr(cache, "get", None)):
            raise TypeError(f"the hot cache must have a get method, not {type(cache).__name__}")
        self._hot_c = cache

    @property
    def _hot_hits(self) -> int:
        """Hits answered by the hot cache."""
        return self._nhot

    @property
    def _hits(self) -> int:
        """Hits answered here."""
        return self._nhits

    def _drain_hit_keys(self) -> list[Any]:
        """The sampled keys of recent hits, oldest first; empties the ring."""
        out = list(self._keys)
        self._keys.clear()
        return out

    def _drain_hit_times(self) -> list[int]:
        """The sampled hit durations in ns, oldest first; empties the ring."""
        out = list(self._times)
        self._times.clear()
        return out
