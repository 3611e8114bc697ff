"""What each hot-path decision of the C core buys, measured in one run.

    python -m asv_bench.ablation

Each row times one LRUCache operation two ways that differ in one decision
and prints both and their ratio; rounds interleave the two variants and the
figure is the minimum over rounds (the least disturbed pass on a shared
machine). docs/optimization.md quotes its output.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import distcache
from distcache import _core

from .hitratio import ExactLRU, replay
from .workload import zipf_ranks

KEY_COUNT = 1_000
VALUE = b"v" * 100


def _keys(n: int, prefix: str = "k") -> list[str]:
    return [f"{prefix}{i:015d}" for i in range(n)]


def _time_pass(fn: Callable[[str], object], keys: list[str], repeat: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(repeat):
        for k in keys:
            fn(k)
    return (time.perf_counter_ns() - start) / (repeat * len(keys))


def _pair(a: Callable[[], float], b: Callable[[], float], rounds: int) -> tuple[float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for r in range(rounds):
        if r % 2:
            ys.append(b())
            xs.append(a())
        else:
            xs.append(a())
            ys.append(b())
    return min(xs), min(ys)


def _row(name: str, label_a: str, a: float, label_b: str, b: float) -> None:
    print(f"{name:<46} {label_a} {a:7.1f} ns   {label_b} {b:7.1f} ns   ratio {b / a:5.2f}x")


def memo(rounds: int, repeat: int) -> None:
    """The FNV memo: the same key objects again vs equal new objects."""
    keys = _keys(KEY_COUNT)
    c = _core.LRUCache(64 << 20)
    for k in keys:
        c.set(k, VALUE)
    fresh = [[f"{k[:1]}{k[1:]}" for k in keys] for _ in range(repeat)]

    def new_objects() -> float:
        start = time.perf_counter_ns()
        for batch in fresh:
            for k in batch:
                c.get(k)
        return (time.perf_counter_ns() - start) / (repeat * len(keys))

    a, b = _pair(lambda: _time_pass(c.get, keys, repeat), new_objects, rounds)
    _row("get hit: same key objects vs new equal ones", "same", a, "new", b)


def shards(requests: int) -> None:
    """Hit ratio of the default shard count vs 256 shards, beside an exact LRU."""
    entry = 16 + 100 + distcache.ENTRY_OVERHEAD
    names = _keys(100_000)
    trace = [names[r] for r in zipf_ranks(requests, 100_000, 0.99)]
    for budget_keys in (1_000, 10_000):
        budget = budget_keys * entry
        exact = ExactLRU(budget, distcache.ENTRY_OVERHEAD)
        hits, n = replay(exact.get, exact.set, trace, VALUE)
        line = [f"Zipf(0.99), budget {budget_keys:,} entries: exact LRU {hits / n:.2%}"]
        for count in (None, 256):
            c = _core.LRUCache(budget, shards=count)
            hits, n = replay(c.get, c.set, trace, VALUE)
            line.append(f"{c.shards} shards {hits / n:.2%}")
        print(",  ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, a shorter trace")
    args = parser.parse_args()
    rounds, repeat, requests = (5, 20, 100_000) if args.quick else (25, 100, 1_000_000)
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"distcache C core, Python {platform.python_version()}, {when}")
    memo(rounds, repeat)
    shards(requests)


if __name__ == "__main__":
    main()
