"""The byte-budgeted, sharded LRU of csrc/lru.h: its state and its algorithms.

The cache is split into a power-of-two number of shards chosen by FNV-1a,
with one byte budget over all of them. Eviction takes the victim of the
key's own shard (its least recent entry, probation's before protected's)
or, when that shard is empty, the oldest victim among the next 8 non-empty
shards. With TinyLFU admission each shard is a segmented LRU (probation and
protected), and a new key enters a full cache only if it is estimated to be
asked for more often than its victim.
docs/internals.md is the contract; LRUCache (lrucache.py) puts the C core's
API on top.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Any

from .. import _contract
from .coreobject import _CoreObject, _initialised
from .entry import ENTRY_OVERHEAD, _Entry
from .fnv import _MASK32, _fnv32a
from .tinylfu import _freq_hash, _TinyLFU

# Recency stamps are 32-bit ticks that wrap, as in C: stamp a is older than
# b when (a - b) mod 2**32 is at least half the range.
_HALF32 = 0x80000000
_NO_EXPIRY = math.inf
# The protected segment's share of a shard's budget, in percent (DC_PROTECTED_PCT).
_PROTECTED_PCT = 80

# The C core's clock (csrc/clock.h reads CLOCK_MONOTONIC, as this does on Linux).
_monotonic = time.monotonic

_MISSING: Any = object()


class _ShardedLRU(_CoreObject):
    """The shards, their segments and counters, and what lru.h does with them."""

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

    def _holds_newer(self, key: bytes, version: int) -> bool:
        """A live entry of key holds version or a newer one; an expired one is left in place."""
        entry = self._find(self._index(key), key)
        return (
            entry is not None
            and entry.version >= version
            and (entry.expires == _NO_EXPIRY or _monotonic() < entry.expires)
        )

    def _store(
        self, key: bytes, value: bytes | memoryview, expires: float, force: bool, version: int = 0
    ) -> bool:
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
        self._shards[index][key] = _Entry(value, expires, tick, size, version)
        self._nbytes += size
        self._items += 1
        self._sets += 1
        return True

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
                    if not 0 <= entry.version <= _contract.MAX_VERSION:
                        raise AssertionError(f"key {key!r} has version {entry.version}")
                    items += 1
                    nbytes += entry.size
            if items != self._items:
                raise AssertionError(f"items is {self._items}, shards hold {items}")
            if nbytes != self._nbytes:
                raise AssertionError(f"nbytes is {self._nbytes}, entries sum to {nbytes}")
            if self._nbytes > self._max_bytes:
                raise AssertionError(f"nbytes {self._nbytes} > max_bytes {self._max_bytes}")
