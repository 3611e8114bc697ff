"""One whole run of the comparison, returned as plain data (asv_bench.report renders it)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from asv_bench import hitratio
from asv_bench.compare.admission import measure_admission
from asv_bench.compare.hit_ratios import measure_hit_ratios, zipf_099_at_10_percent
from asv_bench.compare.memory import measure_rss
from asv_bench.compare.provenance import describe
from asv_bench.compare.sizes import FULL, QUICK, Sizes
from asv_bench.compare.speed import measure_gets, measure_set_evict
from asv_bench.compare.threads import measure_get_many, measure_gil, measure_threads
from asv_bench.compare.timing import Samples
from asv_bench.libraries import LIBRARIES
from asv_bench.report.rows import rows
from asv_bench.report.targets import admission_targets, peer_targets

DEFAULT_LIBRARIES = ("distcache", "dict", "lru_cache", "cachebox", "lru-dict", "cachetools")
"""The columns of ``make bench``, in order."""


def run(
    quick: bool = False,
    libraries: Sequence[str] = DEFAULT_LIBRARIES,
    sizes: Sizes | None = None,
    log: Callable[[str], object] | None = None,
    require_libcachesim: bool | None = None,
) -> dict[str, Any]:
    """Measure everything; return the results as plain data (report.markdown.render prints them).

    `libraries` must include "distcache"; a library that is not installed is
    an error (``pip install -e '.[bench]'``), never a silently empty column.
    libcachesim (the hit-ratio peers) is required too unless
    `require_libcachesim` is False (default: required except with `quick`);
    when it is missing and not required, its columns are skipped with a note.
    """
    say = log or (lambda _msg: None)
    sizes = sizes or (QUICK if quick else FULL)
    unknown = [n for n in libraries if n not in LIBRARIES]
    if unknown or "distcache" not in libraries:
        raise ValueError(f"libraries must include distcache and be among {sorted(LIBRARIES)}")
    libs = [LIBRARIES[n] for n in libraries]
    missing = [lib.name for lib in libs if not lib.available()]
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)} (pip install -e '.[bench]')")
    lcs = hitratio.load_libcachesim()
    if require_libcachesim is None:
        require_libcachesim = not quick
    lcs_skipped = None
    if lcs is None:
        if require_libcachesim:
            raise RuntimeError(
                "not installed: libcachesim, which the hit-ratio table compares against "
                "(pip install -e '.[bench]'; only --quick runs without it)"
            )
        lcs_skipped = (
            "libcachesim is not installed: its LRU, W-TinyLFU and S3-FIFO columns are skipped"
        )
        say(f"note: {lcs_skipped}")
    dc = LIBRARIES["distcache"].load()
    overhead = dc.ENTRY_OVERHEAD
    started = time.perf_counter()
    result: dict[str, Any] = {
        "meta": describe(libs, dc, lcs is not None, quick, sizes),
        "libraries": [lib.name for lib in libs],
    }

    def step(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        say(f"{name} ...")
        value_ = fn()
        say(f"{name}: {time.perf_counter() - t0:.1f} s")
        return value_

    samples: dict[str, Samples] = step(
        "single-key gets", lambda: measure_gets(libs, sizes, overhead)
    )
    samples["set_evict"], capacity = step(
        "set with eviction", lambda: measure_set_evict(libs, sizes, overhead)
    )
    samples["threads"] = step("threads", lambda: measure_threads(libs, sizes, overhead))
    samples["get_many"] = step("get_many threads", lambda: measure_get_many(sizes, overhead))
    gil = step("GIL study", lambda: measure_gil(dc, sizes, overhead))
    if gil is not None:
        samples["gil"] = gil
    result.update(
        samples=samples,
        gil_skipped=None
        if gil is not None
        else "distcache.LRUCache has no _get_nogil method in this build",
        set_evict_entries=capacity,
        rss=step("RSS", lambda: measure_rss(libs, sizes)),
        admission=step("admission cost", lambda: measure_admission(sizes, overhead)),
        hitratio=step("hit ratios", lambda: measure_hit_ratios(dc, lcs, sizes, say)),
    )
    result["hitratio"]["libcachesim_skipped"] = lcs_skipped
    result["zipf"] = zipf_099_at_10_percent(result["hitratio"])
    result["rows"] = rows(result)
    result["peer_targets"] = peer_targets(result)
    result["admission_targets"] = admission_targets(result)
    result["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    result["meta"]["load_after"] = os.getloadavg()[0]
    return result
