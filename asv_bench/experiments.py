"""The measurements the docs quote, each a function run from the command line.

``loads_experiment()``: Zipf(1.0) over 1,000 keys, 10,000 requests, a getter
that sleeps 1 ms: how many requests reach the getter (docs/usage.md).
``admission_experiment()``: the hit ratio of groups with and without TinyLFU
admission on the same Zipf traces (docs/usage.md, docs/optimization.md).
``measure_hit_path()``: a ``Group.get`` hit timed against a bare
``LRUCache.get`` (docs/optimization.md; asv tracks it in bench_group.py).

    python -c "from asv_bench.experiments import measure_hit_path; measure_hit_path()"
"""

from __future__ import annotations

import bisect
import random
import sys
import timeit
from typing import Any, TextIO

import distcache
from distcache.cli.demo import DemoConfig, print_report, run_demo, zipf_cum_weights
from distcache.group import new_group

__all__ = ["admission_experiment", "loads_experiment", "measure_hit_path", "zipf_trace"]


def loads_experiment(
    *, threads: int = 8, seed: int = 1, progress: bool = False, out: TextIO | None = None
) -> dict[str, Any]:
    """Getter calls / requests for 10,000 Zipf(1.0) gets over 1,000 keys (a 1 ms getter)."""
    cfg = DemoConfig(
        rows=1000,
        zipf=1.0,
        threads=threads,
        requests=10_000,
        delay=0.001,
        absent=0.0,
        seed=seed,
        progress=progress,
        group_name="loads_experiment",
    )
    out = sys.stdout if out is None else out
    report = run_demo(cfg)
    print_report(report, out)
    st = report["stats"]
    out.write(
        f"getter calls / requests = {st['getter_loads']:,} / {report['requests']:,} = "
        f"{st['getter_loads'] / report['requests']:.4f}\n"
    )
    return report


def zipf_trace(n_keys: int, alpha: float, n: int, seed: int = 1) -> list[int]:
    """n key ranks drawn from Zipf(alpha) over n_keys, shuffled so rank is not key order."""
    rng = random.Random(seed)
    cum = zipf_cum_weights(n_keys, alpha)
    total = cum[-1]
    perm = list(range(n_keys))
    rng.shuffle(perm)
    return [perm[bisect.bisect_left(cum, rng.random() * total)] for _ in range(n)]


def admission_experiment(
    *,
    keys: int = 100_000,
    requests: int = 1_000_000,
    alphas: tuple[float, ...] = (0.8, 0.99),
    budgets: tuple[float, ...] = (0.01, 0.1),
    value_bytes: int = 100,
    out: TextIO | None = None,
) -> list[dict[str, Any]]:
    """Hit ratio of a group with admission="tinylfu" and with None on the same Zipf traces.

    The budget is a share of the keys: budget * keys entries of a 16-byte key,
    the value and ENTRY_OVERHEAD. Each miss is one getter load; the hit ratio
    is the share of requests that no load answered.
    """
    out = sys.stdout if out is None else out
    value = b"v" * value_bytes
    names = [f"key-{k:012d}" for k in range(keys)]
    entry = 16 + value_bytes + distcache.ENTRY_OVERHEAD
    rows: list[dict[str, Any]] = []
    for alpha in alphas:
        trace = [names[k] for k in zipf_trace(keys, alpha, requests)]
        for budget in budgets:
            row: dict[str, Any] = {"alpha": alpha, "budget": budget}
            for admission in (None, "tinylfu"):
                group = new_group(
                    "admission_experiment",
                    int(budget * keys) * entry,
                    lambda key: value,
                    admission=admission,
                    negative_ttl=0,
                )
                try:
                    get = group.get
                    for key in trace:
                        get(key)
                    st = group.stats()
                finally:
                    group.close()
                row[admission or "plain"] = st["hit_rate"]
            rows.append(row)
            out.write(
                f"alpha {alpha:g}, budget {budget:.0%} of {keys:,} keys: "
                f"plain {row['plain']:.3f}, tinylfu {row['tinylfu']:.3f}\n"
            )
            out.flush()
    return rows


def measure_hit_path(
    *, rounds: int = 31, number: int = 200_000, out: TextIO | None = None
) -> dict[str, float]:
    """Time a hit of Group.get against a bare LRUCache.get of the same core, interleaved.

    Each round times, in a rotating order, `number` hits of a plain LRUCache,
    of an LRUCache with the group's admission policy, and of a group. The
    ratio is taken per round (the three ran within the same ~50 ms, so they
    shared the machine's load) and its median reported, beside the ratio of
    the per-call minima over all rounds. Returns ns per call and the ratios.
    """
    out = sys.stdout if out is None else out
    value = b"v" * 100
    plain = distcache.LRUCache(1 << 20)
    group = new_group("hit_path_benchmark", 1 << 20, bytes)
    same = distcache.LRUCache(1 << 20, admission=group.admission, track_frequency=True)
    try:
        for target in (plain, same, group):
            target.set("user:42", value)
        statements = {
            "plain": "plain.get(key)",
            "same": "same.get(key)",
            "group": "group.get(key)",
        }
        env = {"plain": plain, "same": same, "group": group, "key": "user:42"}
        times: dict[str, list[float]] = {name: [] for name in statements}
        order = list(statements)
        for r in range(rounds):
            for name in order[r % 3 :] + order[: r % 3]:
                seconds = timeit.timeit(statements[name], globals=env, number=number)
                times[name].append(seconds / number * 1e9)
    finally:
        group.close()
    paired = sorted(g / p for g, p in zip(times["group"], times["plain"], strict=True))
    paired_same = sorted(g / s for g, s in zip(times["group"], times["same"], strict=True))
    result = {
        "lru_ns": min(times["plain"]),
        "lru_admission_ns": min(times["same"]),
        "group_ns": min(times["group"]),
        "ratio": paired[len(paired) // 2],
        "ratio_of_minima": min(times["group"]) / min(times["plain"]),
        "ratio_same_policy": paired_same[len(paired_same) // 2],
    }
    out.write(
        f"core {distcache.IMPLEMENTATION}, {rounds} rounds of {number:,} hits (min ns per call): "
        f"LRUCache.get {result['lru_ns']:.1f} ns, "
        f"LRUCache(admission={group.admission!r}).get {result['lru_admission_ns']:.1f} ns, "
        f"Group.get {result['group_ns']:.1f} ns\n"
        f"Group.get / LRUCache.get: median of paired rounds {result['ratio']:.2f} "
        f"(spread {paired[0]:.2f}-{paired[-1]:.2f}), ratio of minima "
        f"{result['ratio_of_minima']:.2f}; "
        f"over the same policy {result['ratio_same_policy']:.2f}\n"
    )
    return result
