"""The report's charts: docs/performance.png (times and memory) and docs/hitratio.png."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from asv_bench.report.columns import COLUMNS, POLICY_LABELS
from asv_bench.report.figures import budget_label, row


def write_chart(result: dict[str, Any], path: Path) -> None:
    """A PNG bar chart: ns/op per measurement and library, and RSS per entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    libs: list[str] = result["libraries"]
    timed = [r for r in result["rows"] if r["unit"] == "ns/op" and r["id"] != "threads_1"]
    rss = row(result, "rss")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        xs = [j + i * width for j, r in enumerate(timed) if r["values"][lib] is not None]
        ys = [r["values"][lib] for r in timed if r["values"][lib] is not None]
        ax.bar(xs, ys, width, label=COLUMNS[lib])
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(timed))])
    ax.set_xticklabels([textwrap.fill(r["label"], 20) for r in timed], fontsize=7)
    ax.set_yscale("log")  # equal heights mean equal ratios, the figures this page compares
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel("ns per operation, log scale (lower is better)")
    ax.legend(fontsize=8)
    have = [lib for lib in libs if rss["values"][lib] is not None]
    ax2.bar(
        [COLUMNS[lib] for lib in have],
        [rss["values"][lib] for lib in have],
        color=[f"C{libs.index(lib)}" for lib in have],
    )
    ax2.set_ylabel("RSS bytes per entry (lower is better)")
    ax2.set_title(rss["label"], fontsize=9)
    ax2.tick_params(axis="x", labelsize=7, rotation=30)
    meta = result["meta"]
    fig.suptitle(f"distcache vs peers, {meta['date']}, {meta['python']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_hitratio_chart(result: dict[str, Any], path: Path) -> None:
    """A PNG: hit ratio per trace and policy, and the hot set kept after the scan."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hr = result["hitratio"]
    policies = [p for p in POLICY_LABELS if any(t["ratios"][p] is not None for t in hr["zipf"])]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(policies)
    for i, p in enumerate(policies):
        ax.bar(
            [j + i * width for j in range(len(hr["zipf"]))],
            [100 * t["ratios"][p] for t in hr["zipf"]],
            width,
            label=POLICY_LABELS[p],
            color=f"C{i}",
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(hr["zipf"]))])
    ax.set_xticklabels(
        [f"Zipf({t['alpha']})\n{budget_label(t, hr)} budget" for t in hr["zipf"]], fontsize=8
    )
    ax.set_ylabel("hit ratio, % (higher is better)")
    ax.set_title(f"read-through, {hr['requests']:,} requests over {hr['keys']:,} keys", fontsize=9)
    ax.legend(fontsize=8)
    for i, p in enumerate(policies):
        ax2.bar(
            [j + i * width for j in range(len(hr["scan"]))],
            [100 * (s["kept"][p] or 0.0) for s in hr["scan"]],
            width,
            color=f"C{i}",
        )
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(hr["scan"]))])
    ax2.set_xticklabels([f"{s['budget_entries']:,} entries" for s in hr["scan"]], fontsize=8)
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("% of the hot set cached after the scan")
    ax2.set_title("one pass over 10x the budget of cold keys", fontsize=9)
    meta = result["meta"]
    fig.suptitle(
        f"distcache plain and TinyLFU beside libCacheSim, {meta['date']}, {meta['python']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
