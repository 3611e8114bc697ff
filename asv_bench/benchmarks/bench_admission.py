"""distcache.LRUCache(admission="tinylfu") beside admission=None: cost per operation, hit ratio.

The time benchmarks take the admission policy as a parameter, so the two
figures of one commit come from the same harness: 1,000 gets or sets per
call (divide by 1,000 for one operation). The track benchmarks follow
TinyLFU's hit ratio across commits (docs/performance.md has the full table
beside libCacheSim's policies, from ``make bench``).
"""

import distcache
from asv_bench.hitratio import replay, scan_trace
from asv_bench.workload import KEY_LEN, VALUE_LEN, keys, value, values, zipf_ranks

N = 1000
ENTRY = KEY_LEN + VALUE_LEN + distcache.ENTRY_OVERHEAD


class Admission:
    """get hit and set with eviction, admission None ("none") or "tinylfu".

    number = 1: setup runs before every timed call, so each call sees the
    state it is meant to measure (asv runs setup once per sample).
    """

    params = ["none", "tinylfu"]
    param_names = ["admission"]
    number = 1

    def setup(self, admission: str) -> None:
        adm = None if admission == "none" else admission
        self.hot = keys(N)
        self.cache = distcache.LRUCache(max_bytes=2 * N * ENTRY, admission=adm)
        for k, v in zip(self.hot, values(N), strict=True):
            self.cache[k] = v
        get = self.cache.get
        for k in self.hot:  # the steady state: with TinyLFU, every hot key now protected
            get(k)
        # A full cache of 2,000 entries and 1,000 new keys, each missed twice
        # first (a read-through cache asks before it stores): TinyLFU admits
        # them over the entries of the fill, so every timed set evicts one.
        self.full = distcache.LRUCache(max_bytes=2 * N * ENTRY, admission=adm)
        for k, v in zip(keys(2 * N, prefix="f"), values(2 * N), strict=True):
            self.full[k] = v
        self.new = keys(N, prefix="n")
        self.vals = values(N)
        get = self.full.get
        for _ in range(2):
            for k in self.new:
                get(k)

    def time_get_hit(self, admission: str) -> None:
        get = self.cache.get
        for k in self.hot:
            get(k)

    def time_set_with_eviction(self, admission: str) -> None:
        full = self.full
        for k, v in zip(self.new, self.vals, strict=True):
            full[k] = v


def _zipf_hit_ratio(admission: str | None) -> float:
    n_keys = 20_000
    universe = keys(n_keys, prefix="z")
    trace = [universe[r] for r in zipf_ranks(200_000, n_keys)]
    cache = distcache.LRUCache(max_bytes=n_keys // 10 * ENTRY, admission=admission)
    hits, n = replay(cache.get, cache.set, trace, value(0))
    return 100.0 * hits / n


def track_zipf_hit_ratio_tinylfu() -> float:
    """Hit ratio of admission="tinylfu", Zipf(0.99), 200,000 requests, budget 10% of 20,000 keys."""
    return _zipf_hit_ratio("tinylfu")


track_zipf_hit_ratio_tinylfu.unit = "percent"


def track_zipf_tinylfu_gain() -> float:
    """TinyLFU's hit ratio minus plain LRU's on the same trace and budget, in points."""
    return _zipf_hit_ratio("tinylfu") - _zipf_hit_ratio(None)


track_zipf_tinylfu_gain.unit = "points"


def track_scan_hot_kept_tinylfu() -> float:
    """Share of a hot set (half of 2,000 entries) TinyLFU keeps after a scan of 20,000 cold keys."""
    entries = 2000
    hot, phase, cold = scan_trace(entries, passes=4)
    cache = distcache.LRUCache(max_bytes=entries * ENTRY, admission="tinylfu")
    v = value(0)
    replay(cache.get, cache.set, phase, v)
    replay(cache.get, cache.set, cold, v)
    return 100.0 * sum(k in cache for k in hot) / len(hot)


track_scan_hot_kept_tinylfu.unit = "percent"
