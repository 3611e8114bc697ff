"""What the report reads from a run: paired-round arithmetic, and the figure each target checks.

A reader in FIGURES takes the run's result, the target's `of` and the item
the target is judged on (one Zipf trace, one scan, or the run itself), and
gives (measured, spread, why it is missing); NOTES add to a target's status.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

Reading = tuple[float | None, float | None, str]  # measured, spread, why it is missing


def per_round(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a / b round by round (both measured in the same interleaved round)."""
    return [x / y for x, y in zip(a, b, strict=True)]


def half_iqr(xs: Sequence[float]) -> float | None:
    """Half the interquartile range: the +/- printed beside a median."""
    if len(xs) < 4:
        return None
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / 2


def row(result: dict[str, Any], rid: str) -> dict[str, Any]:
    """The row of the main table with id rid (report/rows.py)."""
    return next(r for r in result["rows"] if r["id"] == rid)


def gap_closure(ratios: dict[str, float | None], base: str) -> float | None:
    """(tinylfu - base) / (W-TinyLFU - base); None without libCacheSim or without a gap."""
    w, b, t = ratios.get("sim:W-TinyLFU"), ratios.get(base), ratios["distcache-tinylfu"]
    if w is None or b is None or w <= b:
        return None
    return (t - b) / (w - b)


def budget_label(t: dict[str, Any], hr: dict[str, Any]) -> str:
    """A Zipf trace's budget as a share of its keys ("1%")."""
    return f"{100 * t['budget_entries'] / hr['keys']:g}%"


def scan_evicted(s: dict[str, Any], policy: str) -> float | None:
    """Fraction of the hot set cached before the scan that the scan evicted."""
    before, kept = s["before"][policy], s["kept"][policy]
    if before is None or kept is None or before == 0:
        return None
    return max(0.0, (before - kept) / before)


def admission_ratio(result: dict[str, Any], group: str) -> tuple[float, float | None]:
    """tinylfu / plain, the median of the per-round ratios, and half their IQR."""
    g = result["admission"]["samples"][group]
    per = per_round(g["tinylfu"], g["plain"])
    return statistics.median(per), half_iqr(per)


# --- the figures the targets check (report/targets.py names them) ---------------------


def _over_cachebox(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    r = row(result, of)
    return r["ratio"], r["ratio_spread"], "not measured (cachebox not in this run)"


def _distcache(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    r = row(result, of)
    return r["values"]["distcache"], r["spread"], "not measured in this run"


def _zipf_099_points(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    points = (result.get("zipf") or {}).get("difference_points")
    return points, None, "not measured in this run"


def _gap_closed(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    ratios = item["t"]["ratios"]
    closure = gap_closure(ratios, item["base"])
    missing = "not measured (libCacheSim not in this run)"
    if closure is None and ratios["sim:W-TinyLFU"] is not None:
        missing = f"no gap: W-TinyLFU does not beat {item['lru']} on this trace"
    return closure, None, missing


def _plain_off_exact(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    r = item["t"]["ratios"]
    return 100.0 * abs(r["distcache"] - r["exact-lru"]), None, ""


def _scan_evicted(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    return scan_evicted(item["s"], of), None, "not measured"


def _tinylfu_over_plain(result: dict[str, Any], of: str, item: dict[str, Any]) -> Reading:
    measured, spread = admission_ratio(result, of)
    return measured, spread, ""


FIGURES: dict[str, Callable[[dict[str, Any], str, dict[str, Any]], Reading]] = {
    # a row's distcache / cachebox, the median of per-round ratios (of: the row's id)
    "over_cachebox": _over_cachebox,
    # a row's distcache figure (of: the row's id)
    "distcache": _distcache,
    # distcache's hit ratio minus the exact LRU's, Zipf(0.99), 10% budget, in points
    "zipf_099_points": _zipf_099_points,
    # TinyLFU's share of the gap from an LRU (the item's) to libCacheSim's W-TinyLFU
    "gap_closed": _gap_closed,
    # |distcache plain - exact LRU| on the item's trace, in points
    "plain_off_exact": _plain_off_exact,
    # the share of the hot set the item's scan evicted (of: the policy)
    "scan_evicted": _scan_evicted,
    # admission="tinylfu" / admission=None, paired rounds (of: the sample group)
    "tinylfu_over_plain": _tinylfu_over_plain,
}
"""The figures a target can check, by name."""


def _gil_free_reference(result: dict[str, Any], judged: dict[str, Any]) -> str:
    if judged["measured"] is None or judged["met"]:
        return ""
    many = result["samples"]["get_many"]
    ref = statistics.median(per_round(many["sha256@1"], many["sha256@2"]))
    return f"; the GIL-free reference scaled {ref:.2f}x in this run"


def _tinylfu_evicted(result: dict[str, Any], judged: dict[str, Any]) -> str:
    tally = result["admission"]["set_evict_tally"]["tinylfu"]
    return f" ({100 * tally['evictions'] / tally['sets']:.1f}% of tinylfu's timed sets evicted)"


NOTES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    # a missed thread scaling beside what the GIL-free reference reached in the same run
    "gil_free_reference": _gil_free_reference,
    # how many of TinyLFU's timed sets took the eviction path the target times
    "tinylfu_evicted": _tinylfu_evicted,
}
"""What a target can add to its status, by name."""
