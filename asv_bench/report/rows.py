"""The main table: one row per measurement, the median per library and the ratio to cachebox."""

from __future__ import annotations

import statistics
from typing import Any

from asv_bench.report.figures import half_iqr, per_round
from asv_bench.report.tables import mib

PEER = "cachebox"
"""The library of the ratio column."""


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The table: label, unit, median per library (None: does not apply), ratio to cachebox.

    A ratio is the median over rounds of the per-round ratio (the two figures
    of a round were measured moments apart), with half its interquartile range.
    """
    sizes = result["meta"]["sizes"]
    libs: list[str] = result["libraries"]
    smp: dict[str, dict[str, list[float]]] = result["samples"]
    out: list[dict[str, Any]] = []

    def add(
        rid: str,
        label: str,
        unit: str,
        rounds: dict[str, list[float]],
        ratio_rounds: list[float] | None = None,
    ) -> None:
        values = {lib: statistics.median(rounds[lib]) if lib in rounds else None for lib in libs}
        if ratio_rounds is None and "distcache" in rounds and PEER in rounds:
            ratio_rounds = per_round(rounds["distcache"], rounds[PEER])
        out.append(
            {
                "id": rid,
                "label": label,
                "unit": unit,
                "values": values,
                "spread": half_iqr(rounds["distcache"]),
                "ratio": statistics.median(ratio_rounds) if ratio_rounds else None,
                "ratio_spread": half_iqr(ratio_rounds) if ratio_rounds else None,
            }
        )

    def threaded(n: int) -> dict[str, list[float]]:
        return {lib: smp["threads"][f"{lib}@{n}"] for lib in libs if f"{lib}@{n}" in smp["threads"]}

    hot = sizes["hot_keys"]
    add("get_hit_hot", f"get hit, {hot:,} hot keys", "ns/op", smp["get_hit_hot"])
    add(
        "get_hit_fresh",
        f"get hit, {hot:,} hot keys, new key objects",
        "ns/op",
        smp["get_hit_fresh"],
    )
    add("get_hit_wide", f"get hit, {sizes['wide_keys']:,} keys", "ns/op", smp["get_hit_wide"])
    add("get_miss", "get miss", "ns/op", smp["get_miss"])
    add(
        "set_evict",
        f"set with eviction, {mib(sizes['set_budget'])} budget "
        f"({result['set_evict_entries']:,} entries)",
        "ns/op",
        smp["set_evict"],
    )
    one, two = threaded(1), threaded(2)
    add("threads_1", "get hit, 1 thread (threaded harness)", "ns/op", one)
    add("threads_2", "get hit, 2 threads, aggregate", "ns/op", two)
    scaling = {lib: per_round(one[lib], two[lib]) for lib in one}
    add(
        "threads_ratio",
        "get hit throughput, 2 threads / 1 thread",
        "x",
        scaling,
        per_round(scaling["distcache"], scaling[PEER]) if PEER in scaling else None,
    )
    for vlen, tag in ((100, "100 B"), (16 << 10, "16 KiB")):
        many = smp["get_many"]
        add(
            f"get_many_{vlen}",
            f"get_many(100) throughput, 2 threads / 1 thread, {tag} values",
            "x",
            {"distcache": per_round(many[f"{vlen}@1"], many[f"{vlen}@2"])},
        )
    rss = {lib: [r["bytes_per_entry"]] for lib, r in result["rss"].items()}
    add(
        "rss",
        f"RSS per entry, {sizes['rss_entries']:,} entries",
        "B/entry",
        rss,
        [rss["distcache"][0] / rss[PEER][0]] if PEER in rss else None,
    )
    return out
