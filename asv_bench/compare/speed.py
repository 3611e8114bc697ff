"""Single-thread speed of every library: get hits and misses, and set with eviction."""

from __future__ import annotations

from typing import Any

from asv_bench.compare.caches import cycle, entry_size, filled
from asv_bench.compare.sizes import Sizes
from asv_bench.compare.timing import Case, Samples, fresh_case, get_case, interleave, loop_set
from asv_bench.libraries import Library
from asv_bench.workload import keys, shuffled, values


def measure_gets(libs: list[Library], sizes: Sizes, overhead: int) -> dict[str, Samples]:
    """get hit (hot keys, new key objects, many keys) and get miss, per library."""
    out: dict[str, Samples] = {}
    hot = keys(sizes.hot_keys)
    hot_access = shuffled(cycle(hot, sizes.ops))
    applies = [lib for lib in libs if "get_hit_hot" in lib.applies]
    caches = {lib.name: filled(lib, hot, values(len(hot)), overhead) for lib in applies}
    cases = {lib.name: get_case(lib.getter(caches[lib.name]), hot_access) for lib in applies}
    # The loop-and-call floor: the same loop calling a C builtin that does nothing.
    cases["floor"] = get_case(id, hot_access)
    out["get_hit_hot"] = interleave(cases, sizes.rounds)

    cases = {lib.name: fresh_case(lib.getter(caches[lib.name]), hot_access) for lib in applies}
    out["get_hit_fresh"] = interleave(cases, sizes.rounds)

    miss_access = cycle(keys(sizes.miss_keys, prefix="m"), sizes.ops)
    cases = {
        lib.name: get_case(lib.getter(caches[lib.name]), miss_access)
        for lib in applies
        if "get_miss" in lib.applies
    }
    out["get_miss"] = interleave(cases, sizes.rounds)
    del caches, cases

    wide = keys(sizes.wide_keys, prefix="w")
    wide_access = shuffled(wide)
    caches = {
        lib.name: filled(lib, wide, cycle(values(1024), len(wide)), overhead) for lib in applies
    }
    if len(caches["distcache"]) != len(wide):
        raise RuntimeError(f"distcache holds {len(caches['distcache'])} of {len(wide)} keys")
    cases = {lib.name: get_case(lib.getter(caches[lib.name]), wide_access) for lib in applies}
    out["get_hit_wide"] = interleave(cases, sizes.rounds)
    return out


def measure_set_evict(libs: list[Library], sizes: Sizes, overhead: int) -> tuple[Samples, int]:
    """set of an absent key into a full cache (one eviction each); and the entry count.

    Keys cycle through a universe of twice the capacity, so a key comes back
    only after `capacity` other inserts: long evicted, in every shard.
    """
    capacity = sizes.set_budget // entry_size(overhead)
    universe = keys(2 * capacity, prefix="s")
    doubled = universe + universe
    pass_values = cycle(values(1024), sizes.set_ops)
    cases: dict[str, Case] = {}
    caches: dict[str, Any] = {}
    for lib in libs:
        if "set_evict" not in lib.applies:
            continue
        cache = lib.make(capacity, sizes.set_budget)
        lib.fill(cache, zip(universe[:capacity], cycle(pass_values, capacity), strict=True))
        caches[lib.name] = cache
        cursor = [capacity]

        def case(cache: Any = cache, cursor: list[int] = cursor) -> tuple[int, int]:
            c = cursor[0]
            ks = doubled[c : c + sizes.set_ops]
            cursor[0] = (c + sizes.set_ops) % len(universe)
            return loop_set(cache, ks, pass_values), len(ks)

        cases[lib.name] = case
    res = interleave(cases, sizes.rounds)
    for name, cache in caches.items():
        if len(cache) > capacity or len(cache) < capacity * 0.95:
            raise RuntimeError(f"{name} holds {len(cache)} entries, capacity {capacity}")
    return res, capacity
