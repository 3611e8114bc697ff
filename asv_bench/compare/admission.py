"""What admission="tinylfu" costs: distcache with and without it, in the same rounds."""

from __future__ import annotations

from typing import Any

from asv_bench.compare.caches import cycle, entry_size
from asv_bench.compare.sizes import Sizes
from asv_bench.compare.timing import Case, Samples, get_case, interleave, loop_set
from asv_bench.libraries import LIBRARIES
from asv_bench.workload import keys, shuffled, values

WARM_GETS = 2  # untimed misses of each new key before the admission set pass


def measure_admission(sizes: Sizes, overhead: int) -> dict[str, Any]:
    """distcache with admission="tinylfu" against admission=None, in the same rounds.

    get hit: the hot-key and many-key gets of speed.measure_gets, on a cache
    with room to spare. set with eviction: every pass builds a full cache of
    capacity entries (untimed), reads each of the pass's new keys twice (two
    misses, untimed: a read-through cache asks before it stores, and this
    gives a newcomer more history than the entries it must replace, so
    TinyLFU admits it), then times one set of each new key; a new key is
    absent, so a stored one evicts one entry. The pass has half as many new
    keys as the cache has entries, so the victims are entries of the fill
    (a victim that is itself a newcomer of the pass would tie and be refused).
    The counts of sets stored and entries evicted say how many of the timed
    sets took the eviction path.
    """
    dc = LIBRARIES["distcache"].load()
    modes = (("plain", None), ("tinylfu", "tinylfu"))
    samples: dict[str, Samples] = {}
    hot = keys(sizes.hot_keys)
    wide = keys(sizes.wide_keys, prefix="w")
    for group, ks, access in (
        ("get_hit_hot", hot, shuffled(cycle(hot, sizes.ops))),
        ("get_hit_wide", wide, shuffled(wide)),
    ):
        vs = cycle(values(1024), len(ks))
        cases: dict[str, Case] = {}
        for name, admission in modes:
            cache = dc.LRUCache(max_bytes=2 * len(ks) * entry_size(overhead), admission=admission)
            for k, v in zip(ks, vs, strict=True):
                cache[k] = v
            if len(cache) != len(ks):
                raise RuntimeError(f"distcache ({name}) holds {len(cache)} of {len(ks)} keys")
            cases[name] = get_case(cache.get, access)
        samples[group] = interleave(cases, sizes.rounds)
        del cases

    capacity = sizes.set_budget // entry_size(overhead)
    fill = keys(capacity, prefix="f")
    fill_values = cycle(values(1024), capacity)
    ops = max(1, min(sizes.set_ops, capacity // 2))
    newcomers = keys(ops, prefix="n")
    pass_values = cycle(values(1024), ops)
    tally = {name: {"sets": 0, "stored": 0, "evictions": 0} for name, _ in modes}

    def set_case(name: str, admission: str | None) -> Case:
        def case() -> tuple[int, int]:
            cache = dc.LRUCache(max_bytes=sizes.set_budget, admission=admission)
            for k, v in zip(fill, fill_values, strict=True):
                cache[k] = v
            get = cache.get
            for _ in range(WARM_GETS):
                for k in newcomers:
                    get(k)
            before = cache.stats()
            ns = loop_set(cache, newcomers, pass_values)
            after = cache.stats()
            t = tally[name]
            t["sets"] += ops
            t["stored"] += after["sets"] - before["sets"]
            t["evictions"] += after["evictions"] - before["evictions"]
            return ns, ops

        return case

    samples["set_evict"] = interleave(
        {name: set_case(name, admission) for name, admission in modes}, sizes.rounds
    )
    return {
        "samples": samples,
        "set_evict_entries": capacity,
        "set_evict_ops": ops,
        "set_evict_tally": tally,
        "warm_gets": WARM_GETS,
    }
