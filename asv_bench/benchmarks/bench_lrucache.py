"""distcache.LRUCache: get hit, get miss, set with eviction, get_many(100).

The single-key benchmarks loop over 1,000 keys per call: divide by 1,000 for
the time of one operation. Workload of asv_bench/workload.py: 16-byte str
keys, 100-byte values.
"""

import distcache
from asv_bench.workload import KEY_LEN, VALUE_LEN, keys, values

N = 1000


class SingleKey:
    """1,000 gets or sets per call."""

    def setup(self) -> None:
        self.hot = keys(N)
        self.absent = keys(N, prefix="m")
        self.cache = distcache.LRUCache(max_bytes=4 << 20)
        for k, v in zip(self.hot, values(N), strict=True):
            self.cache[k] = v
        # A full cache of 500 entries and two disjoint sets of 1,000 new keys,
        # used in turn: every set is a new key and evicts one entry.
        entry = KEY_LEN + VALUE_LEN + distcache.ENTRY_OVERHEAD
        self.full = distcache.LRUCache(max_bytes=500 * entry)
        self.streams = [keys(N, prefix="a"), keys(N, prefix="b")]
        self.turn = 0
        self.vals = values(N)
        for k, v in zip(self.streams[1], self.vals, strict=True):
            self.full[k] = v

    def time_get_hit(self) -> None:
        get = self.cache.get
        for k in self.hot:
            get(k)

    def time_get_miss(self) -> None:
        get = self.cache.get
        for k in self.absent:
            get(k)

    def time_set_with_eviction(self) -> None:
        self.turn ^= 1
        full = self.full
        for k, v in zip(self.streams[self.turn], self.vals, strict=True):
            full[k] = v


class GetMany:
    """One get_many of 100 cached keys, by value size."""

    params = [VALUE_LEN, 16 << 10]
    param_names = ["value_bytes"]

    def setup(self, value_bytes: int) -> None:
        hot = keys(N)
        self.cache = distcache.LRUCache(max_bytes=2 * N * (value_bytes + 256))
        for k, v in zip(hot, values(N, value_bytes), strict=True):
            self.cache[k] = v
        self.batch = hot[::10]

    def time_get_many_100(self, value_bytes: int) -> None:
        self.cache.get_many(self.batch)
