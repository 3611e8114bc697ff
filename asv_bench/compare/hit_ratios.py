"""The hit-ratio tables of a run: Zipf traces and a scan, every policy (asv_bench/hitratio.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asv_bench import hitratio
from asv_bench.compare.provenance import distribution_version
from asv_bench.compare.sizes import Sizes


def measure_hit_ratios(
    dc: Any, lcs: Any | None, sizes: Sizes, say: Callable[[str], object]
) -> dict[str, Any]:
    """Zipf hit ratios and scan resistance of every policy (asv_bench/hitratio.py)."""
    zipf = hitratio.run_zipf(
        dc, lcs, sizes.zipf_requests, sizes.zipf_keys, sizes.zipf_alphas, sizes.zipf_budgets, say
    )
    budgets = sorted({t["budget_entries"] for t in zipf})
    scan = hitratio.run_scan(dc, lcs, budgets, sizes.scan_passes)
    return {
        "requests": sizes.zipf_requests,
        "keys": sizes.zipf_keys,
        "entry_size": hitratio.entry_size(dc.ENTRY_OVERHEAD),
        "libcachesim": None if lcs is None else distribution_version("libcachesim"),
        "zipf": zipf,
        "scan": scan,
    }


def zipf_099_at_10_percent(hr: dict[str, Any]) -> dict[str, Any] | None:
    """The Zipf(0.99), 10%-budget figures (distcache plain vs exact LRU), from the table.

    The one hit ratio among the peer targets (asv_bench/report/targets.py);
    None when the run has no such trace.
    """
    for t in hr["zipf"]:
        if t["alpha"] == 0.99 and t["budget_fraction"] == 0.10:
            r = t["ratios"]
            return {
                "requests": hr["requests"],
                "keys": hr["keys"],
                "s": 0.99,
                "budget_bytes": t["budget_bytes"],
                "budget_entries": t["budget_entries"],
                "shards": t["shards"],
                "distcache": r["distcache"],
                "exact_lru": r["exact-lru"],
                "difference_points": 100.0 * (r["distcache"] - r["exact-lru"]),
            }
    return None
