"""The targets the report judges, as data: what each checks, its bound, and the judging.

A target names a figure (report/figures.py FIGURES) and the bound it must
keep; one with `over` is judged once per Zipf trace (and LRU) or per scan,
its name filled from that item and from the run's sizes. The tables are in
the order the report prints them. docs/performance.md says what each target
is for and reads one run against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asv_bench.report.figures import FIGURES, NOTES, budget_label


@dataclass(frozen=True)
class Target:
    """A named bound on one figure of a run."""

    name: str  # the report's label; {fields}: the run's sizes and the item's (trace, lru, ...)
    figure: str  # what it checks: a key of figures.FIGURES
    of: str  # the row, sample group or policy the figure is read from ("" if none)
    op: str  # "<=" or ">="
    bound: float
    unit: str  # "x" (a ratio), "%" (a fraction, printed in percent) or " points"
    over: str = ""  # "": the run; "trace", "trace and LRU" or "scan": each of those
    note: str = ""  # a key of figures.NOTES, added to the status


PEER_TARGETS: tuple[Target, ...] = (
    Target("get hit, 1k hot keys: distcache / cachebox", "over_cachebox", "get_hit_hot",
           "<=", 1.7, "x"),
    Target("get miss: distcache / cachebox", "over_cachebox", "get_miss", "<=", 1.7, "x"),
    Target("set with eviction, ~10 MiB: distcache / cachebox", "over_cachebox", "set_evict",
           "<=", 0.8, "x"),
    Target("RSS per entry: distcache / cachebox", "over_cachebox", "rss", "<=", 0.6, "x"),
    Target("Zipf(0.99) hit ratio: distcache - exact LRU", "zipf_099_points", "",
           ">=", -1.0, " points"),
    Target("single-key gets: 2 threads / 1 thread", "distcache", "threads_ratio",
           ">=", 0.9, "x"),
    Target("get_many(100), 100 B values: 2 threads / 1 thread", "distcache", "get_many_100",
           ">=", 1.0, "x"),
    Target("get_many(100), 16 KiB values: 2 threads / 1 thread", "distcache",
           f"get_many_{16 << 10}", ">=", 1.6, "x", note="gil_free_reference"),
)
"""distcache beside the peers: speed and memory against cachebox, the hit ratio against an
exact LRU, and what a second thread gains."""

ADMISSION_TARGETS: tuple[Target, ...] = (
    Target("{trace}: TinyLFU's share of the gap {lru} -> W-TinyLFU", "gap_closed", "",
           ">=", 0.80, "%", over="trace and LRU"),
    Target("{trace}: plain vs exact LRU, absolute", "plain_off_exact", "",
           "<=", 1.0, " points", over="trace"),
    Target("scan, {budget_entries:,}-entry budget: hot set evicted, TinyLFU", "scan_evicted",
           "distcache-tinylfu", "<=", 0.10, "%", over="scan"),
    Target("get hit, {hot_keys:,} hot keys: tinylfu / plain", "tinylfu_over_plain",
           "get_hit_hot", "<=", 1.10, "x"),
    Target("set with eviction: tinylfu / plain", "tinylfu_over_plain", "set_evict",
           "<=", 1.20, "x", note="tinylfu_evicted"),
)
"""admission="tinylfu": hit ratios beside libCacheSim's W-TinyLFU, plain mode beside an
exact LRU, scan resistance, and what admission costs a hit and a set."""

# The LRUs a gap is measured from: policy key (asv_bench/hitratio.py) -> name in a target.
_LRUS = (("sim:LRU", "libCacheSim LRU"), ("exact-lru", "exact LRU"))


def judge(
    name: str,
    op: str,
    bound: float,
    unit: str,
    measured: float | None,
    spread: float | None,
    missing: str,
) -> dict[str, Any]:
    """One target line: the bound, the figure measured, met or missed (None: not measured)."""
    if measured is None:
        met, status = None, missing
    else:
        met = measured <= bound if op == "<=" else measured >= bound
        gap = abs(measured - bound)
        if met:
            status = "met"
        elif unit == "x":
            status = f"missed by {gap:.3f}x ({100 * gap / bound:.1f}% of the bound)"
        elif unit == "%":
            status = f"missed by {100 * gap:.1f} percentage points"
        else:
            status = f"missed by {gap:.2f}{unit}"
    return {
        "target": name,
        "op": op,
        "bound": bound,
        "unit": unit,
        "measured": measured,
        "spread": spread,
        "met": met,
        "status": status,
    }


def _items(result: dict[str, Any], over: str) -> list[dict[str, Any]]:
    """What a target is judged on, each with the fields its name may use."""
    run = dict(result["meta"]["sizes"])
    if not over:
        return [run]
    hr = result["hitratio"]
    if over == "scan":
        return [{**run, "s": s, "budget_entries": s["budget_entries"]} for s in hr["scan"]]
    traces = [
        {**run, "t": t, "trace": f"Zipf({t['alpha']}), {budget_label(t, hr)} budget"}
        for t in hr["zipf"]
    ]
    if over == "trace":
        return traces
    return [{**t, "base": base, "lru": lru} for t in traces for base, lru in _LRUS]


def evaluate(result: dict[str, Any], table: Sequence[Target]) -> list[dict[str, Any]]:
    """Each target of table judged on this run, in order (see judge)."""
    out = []
    for target in table:
        for item in _items(result, target.over):
            measured, spread, missing = FIGURES[target.figure](result, target.of, item)
            judged = judge(
                target.name.format(**item),
                target.op,
                target.bound,
                target.unit,
                measured,
                spread,
                missing,
            )
            if target.note:
                judged["status"] += NOTES[target.note](result, judged)
            out.append(judged)
    return out


def peer_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """PEER_TARGETS judged on this run."""
    return evaluate(result, PEER_TARGETS)


def admission_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """ADMISSION_TARGETS judged on this run."""
    return evaluate(result, ADMISSION_TARGETS)
