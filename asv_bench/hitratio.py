"""Hit ratio of a read-through cache on a trace, and the exact global LRU it is judged against."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable


class ExactLRU:
    """A global LRU of a byte budget: the reference that distcache's sharded LRU approximates.

    An entry costs ``len(key) + len(value) + overhead`` bytes, as in distcache
    (``overhead`` = ``distcache.ENTRY_OVERHEAD``); an entry larger than the
    whole budget is not stored.
    """

    def __init__(self, max_bytes: int, overhead: int) -> None:
        self.max_bytes = max_bytes
        self.overhead = overhead
        self.nbytes = 0
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()  # least recent first

    def _size(self, k: bytes, v: bytes) -> int:
        return len(k) + len(v) + self.overhead

    def get(self, key: str | bytes) -> bytes | None:
        """The value of key (now the most recent), or None."""
        k = key.encode() if isinstance(key, str) else bytes(key)
        v = self._entries.get(k)
        if v is not None:
            self._entries.move_to_end(k)
        return v

    def set(self, key: str | bytes, value: bytes) -> bool:
        """Store key, evicting least recent entries until it fits; False if it never fits."""
        k = key.encode() if isinstance(key, str) else bytes(key)
        old = self._entries.pop(k, None)
        if old is not None:
            self.nbytes -= self._size(k, old)
        size = self._size(k, value)
        if size > self.max_bytes:
            return False
        while self.nbytes + size > self.max_bytes:
            ek, ev = self._entries.popitem(last=False)
            self.nbytes -= self._size(ek, ev)
        self._entries[k] = value
        self.nbytes += size
        return True

    def __len__(self) -> int:
        return len(self._entries)


def replay(
    get: Callable[[str], bytes | None],
    set: Callable[[str, bytes], object],
    trace: Iterable[str],
    value: bytes,
) -> tuple[int, int]:
    """Run trace through a read-through cache (a miss stores value); return (hits, requests)."""
    hits = requests = 0
    for k in trace:
        requests += 1
        if get(k) is None:
            set(k, value)
        else:
            hits += 1
    return hits, requests
