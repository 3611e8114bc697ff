"""Hit ratios of read-through caches on traces: distcache, an exact LRU, libCacheSim's policies.

- ExactLRU: the exact global LRU (an OrderedDict) that distcache's sharded LRU
  approximates; replay: the read-through loop (a miss stores the key).
- The libCacheSim side (``pip install libcachesim``, in the bench extra): its
  caches are byte-bounded; every object of a trace gets the size of a
  distcache entry (key + value + ENTRY_OVERHEAD), so a budget of N entries is
  N times that many bytes for every policy. A Zipf trace is written once as
  an oracleGeneral binary file and replayed by libCacheSim's own C loop
  (``process_trace``); the scan trace, which must look at the cache after
  the scan, goes through its Request objects one by one.
- run_zipf / run_scan: every policy on the same traces, in this one process.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from asv_bench.workload import KEY_LEN, VALUE_LEN, keys, shuffled, value, zipf_ranks

# libCacheSim's policies beside distcache: column name -> class of libcachesim.
SIM_POLICIES = {"LRU": "LRU", "W-TinyLFU": "WTinyLFU", "S3-FIFO": "S3FIFO"}
# The columns of the hit-ratio tables, in order; the sim: ones come from libCacheSim.
POLICIES = ("distcache", "distcache-tinylfu", "exact-lru", *(f"sim:{p}" for p in SIM_POLICIES))


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

    def __contains__(self, key: str | bytes) -> bool:
        """Whether key is stored (no recency change)."""
        return (key.encode() if isinstance(key, str) else bytes(key)) in self._entries

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


# --- libCacheSim ------------------------------------------------------------------


def load_libcachesim() -> Any | None:
    """The libcachesim module, or None when it is not installed."""
    try:
        return importlib.import_module("libcachesim")
    except ImportError:
        return None


def _hashpower(objects: int) -> int:
    """A hash table of about twice the objects (libCacheSim's default 2**24 costs 0.1 s a cache)."""
    return max(10, (2 * objects).bit_length())


def sim_cache(lcs: Any, policy: str, budget_entries: int, obj_size: int, objects: int) -> Any:
    """An empty libCacheSim cache of `policy` (a SIM_POLICIES key) for budget_entries objects."""
    cls = getattr(lcs, SIM_POLICIES[policy])
    return cls(budget_entries * obj_size, hashpower=_hashpower(objects))


def write_oracle_trace(path: str, ids: Sequence[int], obj_size: int) -> None:
    """ids as a libCacheSim oracleGeneral binary trace: one read of obj_size bytes each.

    A record is packed little-endian: uint32 time, uint64 object id, uint32
    size, int64 next access (-1: unknown; only Belady-like policies read it).
    """
    import numpy as np  # a dependency of libcachesim

    rec = np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    a = np.zeros(len(ids), dtype=rec)
    a["time"] = np.arange(len(ids), dtype=np.uint64) // 1000
    a["id"] = np.asarray(ids, dtype=np.uint64)
    a["size"] = obj_size
    a["next"] = -1
    a.tofile(path)


def sim_hit_ratio_bulk(lcs: Any, cache: Any, trace_path: str) -> float:
    """Hit ratio of a fresh cache over an oracleGeneral trace, replayed by libCacheSim's C loop."""
    reader = lcs.TraceReader(trace_path, lcs.TraceType.ORACLE_GENERAL_TRACE)
    miss_ratio, _byte_miss_ratio = cache.process_trace(reader)
    return 1.0 - miss_ratio


def sim_replay(lcs: Any, cache: Any, ids: Iterable[int], obj_size: int) -> tuple[int, int]:
    """Read-through replay through Request objects (get stores a miss); (hits, requests)."""
    req = lcs.Request(obj_size=obj_size, op=lcs.ReqOp.OP_READ)
    get = cache.get
    hits = requests = 0
    for i in ids:
        req.obj_id = i
        requests += 1
        if get(req):
            hits += 1
    return hits, requests


def sim_cached(lcs: Any, cache: Any, ids: Iterable[int], obj_size: int) -> int:
    """How many of ids the cache holds (a lookup that changes nothing)."""
    req = lcs.Request(obj_size=obj_size, op=lcs.ReqOp.OP_READ)
    n = 0
    for i in ids:
        req.obj_id = i
        n += cache.find(req, False) is not None
    return n


# --- the measurements ---------------------------------------------------------------


def entry_size(overhead: int) -> int:
    """Bytes one entry of the workload costs: key + value + ENTRY_OVERHEAD."""
    return KEY_LEN + VALUE_LEN + overhead


def run_zipf(
    dc: Any,
    lcs: Any | None,
    requests: int,
    n_keys: int,
    alphas: Sequence[float],
    budgets: Sequence[float],
    log: Callable[[str], object] = lambda _m: None,
) -> list[dict[str, Any]]:
    """Hit ratio of every policy on Zipf(alpha) traces, for each budget (a fraction of n_keys).

    Each trace is generated once (fixed seed) and replayed, read-through, on a
    fresh cache of every policy. distcache gets ``entries * entry_size``
    bytes with its default shard count; the libCacheSim columns are absent
    (None) when lcs is None.
    """
    overhead = dc.ENTRY_OVERHEAD
    size = entry_size(overhead)
    universe = keys(n_keys, prefix="z")
    v = value(0)
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="distcache-hitratio-") as tmp:
        for alpha in alphas:
            ranks = zipf_ranks(requests, n_keys, alpha)
            trace = [universe[r] for r in ranks]
            path = os.path.join(tmp, f"zipf-{alpha}.oracleGeneral")
            if lcs is not None:
                write_oracle_trace(path, ranks, size)
            for frac in budgets:
                entries = max(1, round(n_keys * frac))
                budget = entries * size
                ratios: dict[str, float | None] = {}
                extra: dict[str, Any] = {}
                for name, admission in (("distcache", None), ("distcache-tinylfu", "tinylfu")):
                    cache = dc.LRUCache(max_bytes=budget, admission=admission)
                    hits, n = replay(cache.get, cache.set, trace, v)
                    if cache.nbytes > budget:
                        raise RuntimeError(f"{name}: nbytes {cache.nbytes} > max_bytes {budget}")
                    ratios[name] = hits / n
                    extra["shards"] = cache.shards
                    if admission:
                        extra["admission_rejects"] = cache.stats()["admission_rejects"]
                exact = ExactLRU(budget, overhead)
                hits, n = replay(exact.get, exact.set, trace, v)
                ratios["exact-lru"] = hits / n
                for policy in SIM_POLICIES:
                    ratios[f"sim:{policy}"] = (
                        None
                        if lcs is None
                        else sim_hit_ratio_bulk(
                            lcs, sim_cache(lcs, policy, entries, size, n_keys), path
                        )
                    )
                out.append(
                    {
                        "alpha": alpha,
                        "budget_fraction": frac,
                        "budget_entries": entries,
                        "budget_bytes": budget,
                        "ratios": ratios,
                        **extra,
                    }
                )
                log(
                    f"  Zipf({alpha}), {entries:,} entries: "
                    + ", ".join(f"{k} {100 * r:.2f}%" for k, r in ratios.items() if r is not None)
                )
    return out


def scan_trace(budget_entries: int, passes: int) -> tuple[list[str], list[str], list[str]]:
    """(hot keys, the hot phase, the cold scan) of the scan-resistance trace.

    The hot set is half the budget's entries; the hot phase reads each of its
    keys `passes` times (each pass in a fixed shuffled order); the scan then
    reads 10x the budget's entries of cold keys, each once.
    """
    hot = keys(max(1, budget_entries // 2), prefix="h")
    phase = [k for p in range(passes) for k in shuffled(hot, seed=p)]
    cold = keys(10 * budget_entries, prefix="c")
    return hot, phase, cold


def run_scan(
    dc: Any,
    lcs: Any | None,
    budget_entries_list: Sequence[int],
    passes: int,
) -> list[dict[str, Any]]:
    """Fraction of the hot set each policy still holds after a one-pass scan of cold keys.

    Read-through throughout (a miss stores the key); "before" is the fraction
    held after the hot phase, "kept" the fraction held after the scan.
    """
    overhead = dc.ENTRY_OVERHEAD
    size = entry_size(overhead)
    v = value(0)
    out: list[dict[str, Any]] = []
    for entries in budget_entries_list:
        budget = entries * size
        hot, phase, cold = scan_trace(entries, passes)
        before: dict[str, float | None] = {}
        kept: dict[str, float | None] = {}
        for name, admission in (("distcache", None), ("distcache-tinylfu", "tinylfu")):
            cache = dc.LRUCache(max_bytes=budget, admission=admission)
            replay(cache.get, cache.set, phase, v)
            before[name] = sum(k in cache for k in hot) / len(hot)
            replay(cache.get, cache.set, cold, v)
            kept[name] = sum(k in cache for k in hot) / len(hot)
        exact = ExactLRU(budget, overhead)
        replay(exact.get, exact.set, phase, v)
        before["exact-lru"] = sum(k in exact for k in hot) / len(hot)
        replay(exact.get, exact.set, cold, v)
        kept["exact-lru"] = sum(k in exact for k in hot) / len(hot)
        ids = {k: i for i, k in enumerate(hot + cold)}
        hot_ids = [ids[k] for k in hot]
        for policy in SIM_POLICIES:
            col = f"sim:{policy}"
            if lcs is None:
                before[col] = kept[col] = None
                continue
            cache = sim_cache(lcs, policy, entries, size, len(ids))
            sim_replay(lcs, cache, (ids[k] for k in phase), size)
            before[col] = sim_cached(lcs, cache, hot_ids, size) / len(hot)
            sim_replay(lcs, cache, (ids[k] for k in cold), size)
            kept[col] = sim_cached(lcs, cache, hot_ids, size) / len(hot)
        out.append(
            {
                "budget_entries": entries,
                "budget_bytes": budget,
                "hot": len(hot),
                "passes": passes,
                "cold": len(cold),
                "before": before,
                "kept": kept,
            }
        )
    return out
