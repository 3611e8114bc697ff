"""LRUCache: the C core's cache API over the sharded LRU of lru.py.

Each method checks its arguments through _contract (so that the twin and the
C core refuse the same inputs with the same errors) before it takes the lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import _contract
from .coreobject import _initialised
from .fnv import _fnv32a
from .lru import _MISSING, _NO_EXPIRY, _monotonic, _ShardedLRU
from .tinylfu import _freq_hash
from .views import _key_bytes, _value_view


class LRUCache(_ShardedLRU):
    """Byte-budgeted, sharded LRU cache of bytes values with optional TTLs."""

    __slots__ = ()

    def set(
        self,
        key: str | bytes,
        value: bytes,
        ttl: float | None = None,
        *,
        force: bool = False,
        version: int = 0,
    ) -> bool:
        """Store value under key, with version (0: unversioned); False when not stored.

        False when the entry is larger than the whole budget, or when TinyLFU
        admission refused a new key; force=True stores past admission. The
        version held before is replaced, whatever it was.
        """
        lock = self._lock
        k = _key_bytes(key)
        v = _value_view(value)
        if ttl is not None:
            ttl = _contract.check_ttl(ttl, "ttl")
        version = _contract.check_version(version, 0)
        with lock:
            return self._store(k, v, self._expires(ttl), force, version)

    def set_if_newer(
        self, key: str | bytes, value: bytes, version: int, ttl: float | None = None
    ) -> bool:
        """Store value under key with version unless the key holds that or a newer one.

        True when stored: the key held no live entry, or an older version
        (unversioned is older than any); stored past admission, as
        set(force=True). False, changing nothing, when the key holds version or
        a newer one; False also when the entry is larger than the whole budget
        (then, as set does, an older entry is dropped and counted in rejected).
        version: an int in 1..2**64-1.
        """
        lock = self._lock
        k = _key_bytes(key)
        v = _value_view(value)
        version = _contract.check_version(version, 1)
        if ttl is not None:
            ttl = _contract.check_ttl(ttl, "ttl")
        with lock:
            # A refusal changes nothing: _store, which records the key in the
            # frequency estimate, is not reached.
            if self._holds_newer(k, version):
                return False
            return self._store(k, v, self._expires(ttl), True, version)

    def get(self, key: str | bytes, default: Any = None, /) -> Any:
        """The value stored under key (bytes), or default."""
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            value = self._get(k)
        return default if value is _MISSING else value

    def get_versioned(self, key: str | bytes, default: Any = None, /) -> Any:
        """(value, version) of key as get reads it (version 0: unversioned), or default."""
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            value = self._get(k)
            if value is _MISSING:
                return default
            version = self._find(self._index(k), k).version  # type: ignore[union-attr]
        return value, version

    def keys(self, limit: int | None = None) -> list[bytes]:
        """The keys of the live entries as UTF-8 bytes, at most limit of them, in no
        promised order; not an access (nothing moves, nothing is counted)."""
        cap = _contract.check_limit(limit)
        out: list[bytes] = []
        now = _monotonic()
        with self._lock:
            for segments in (self._shards, self._protected):
                for shard in segments:
                    for key, entry in shard.items():
                        if 0 <= cap <= len(out):
                            return out
                        if entry.expires == _NO_EXPIRY or now < entry.expires:
                            out.append(key)
        return out

    def version_of(self, key: str | bytes) -> int | None:
        """The version key holds (0: unversioned), or None; looks as `in` does."""
        lock = self._lock
        k = _key_bytes(key)
        with lock:
            entry = self._lookup(k)
            return None if entry is None else entry.version

    def ttl_of(self, key: str | bytes) -> float | None:
        """Seconds key has left (inf: no ttl), or None; looks as `in` does."""
        k = _key_bytes(key)
        with self._lock:
            entry = self._lookup(k)
            if entry is None:
                return None
            if entry.expires == _NO_EXPIRY:
                return _NO_EXPIRY
            # A live entry: its expiry is still ahead, by however little.
            return max(entry.expires - _monotonic(), 1e-9)

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
