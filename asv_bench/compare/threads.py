"""What a second thread gains: single-key gets, distcache's get_many, and get vs _get_nogil."""

from __future__ import annotations

import hashlib
from typing import Any

from asv_bench.compare.caches import cycle, filled
from asv_bench.compare.sizes import Sizes
from asv_bench.compare.timing import Case, Samples, interleave, loop_get, threaded_case
from asv_bench.libraries import LIBRARIES, Library
from asv_bench.workload import VALUE_LEN, keys, shuffled, values

LARGE_VALUE = 16 << 10  # bytes of the large values, beside the workload's 100
BATCH = 100  # keys of one get_many call
GIL_METHODS = ("get", "_get_nogil")  # the GIL study: holding the GIL, and releasing it


def measure_threads(libs: list[Library], sizes: Sizes, overhead: int) -> Samples:
    """Single-key get hits, a fixed count split over 1 and 2 threads (cases "LIB@THREADS")."""
    hot = keys(sizes.hot_keys)
    access = shuffled(cycle(hot, sizes.thread_ops))
    cases: dict[str, Case] = {}
    for lib in libs:
        if "threads" not in lib.applies:
            continue
        get = lib.getter(filled(lib, hot, values(len(hot)), overhead))
        for n in (1, 2):
            cases[f"{lib.name}@{n}"] = threaded_case(loop_get, get, access, n, len(access))
    return interleave(cases, sizes.rounds)


def measure_get_many(sizes: Sizes, overhead: int) -> Samples:
    """distcache get_many(100) over 1 and 2 threads, ns per key (cases "VALUE_BYTES@THREADS").

    Beside it, the same split of a GIL-free reference ("sha256@THREADS":
    hashlib.sha256 of 16 KiB buffers, hashed with the GIL released): how much
    two threads can gain on this machine at this moment, whatever else runs.
    """
    hot = keys(sizes.hot_keys)
    cases: dict[str, Case] = {}
    # ~10 us per buffer (OpenSSL, no SHA extensions): a tenth of the 16 KiB passes' keys.
    buffers = cycle(values(64, LARGE_VALUE), sizes.many_batches_large * BATCH // 10)
    for n in (1, 2):
        cases[f"sha256@{n}"] = threaded_case(loop_get, hashlib.sha256, buffers, n, len(buffers))
    plan = ((VALUE_LEN, sizes.many_batches), (LARGE_VALUE, sizes.many_batches_large))
    for vlen, nbatches in plan:
        cache = filled(LIBRARIES["distcache"], hot, values(len(hot), vlen), overhead)
        access = shuffled(cycle(hot, nbatches * BATCH))
        batches = [access[i : i + BATCH] for i in range(0, len(access), BATCH)]
        if len(cache.get_many(batches[0])) != len(set(batches[0])):
            raise RuntimeError("get_many missed keys that are cached")
        for n in (1, 2):
            cases[f"{vlen}@{n}"] = threaded_case(
                loop_get, cache.get_many, batches, n, len(access)
            )
    return interleave(cases, sizes.rounds)


def measure_gil(dc: Any, sizes: Sizes, overhead: int) -> Samples | None:
    """get vs _get_nogil, 1 and 2 threads (cases "METHOD@VALUE_BYTES@THREADS"); None if absent."""
    if not hasattr(dc.LRUCache, "_get_nogil"):
        return None
    hot = keys(sizes.hot_keys)
    cases: dict[str, Case] = {}
    # A 16 KiB copy costs ~10x a 100-byte one: fewer gets keep the passes alike in length.
    plan = ((VALUE_LEN, sizes.thread_ops), (LARGE_VALUE, max(sizes.thread_ops // 8, 1000)))
    for vlen, ops in plan:
        cache = filled(LIBRARIES["distcache"], hot, values(len(hot), vlen), overhead)
        access = shuffled(cycle(hot, ops))
        for method in GIL_METHODS:
            for n in (1, 2):
                cases[f"{method}@{vlen}@{n}"] = threaded_case(
                    loop_get, getattr(cache, method), access, n, len(access)
                )
    return interleave(cases, sizes.rounds)
