"""How much work each measurement of a run does: the full sizes and the --quick ones."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    rounds: int  # interleaved rounds; a figure is the median over them
    hot_keys: int  # keys of the "hot" working set
    ops: int  # gets per timed pass (single-key, one thread)
    wide_keys: int  # keys of the "get hit over many keys" cache
    miss_keys: int  # distinct absent keys, cycled
    set_budget: int  # bytes of distcache's budget for "set with eviction"
    set_ops: int  # inserts per timed pass
    thread_ops: int  # gets per pass, split over the threads
    many_batches: int  # get_many(100) calls per pass, 100-byte values
    many_batches_large: int  # get_many(100) calls per pass, 16 KiB values
    rss_entries: int  # entries for the memory measurement
    zipf_requests: int  # requests of each hit-ratio trace
    zipf_keys: int  # keys of each Zipf trace
    zipf_alphas: tuple[float, ...] = (0.8, 0.99, 1.2)  # one Zipf trace each
    zipf_budgets: tuple[float, ...] = (0.01, 0.10)  # fractions of zipf_keys the budget holds
    scan_passes: int = 4  # reads of each hot key before the scan


# Passes of a few ms to a few tens of ms, many rounds: on a shared machine a
# short round sees every library under the same load.
FULL = Sizes(
    rounds=21,
    hot_keys=1000,
    ops=100_000,
    wide_keys=100_000,
    miss_keys=10_000,
    set_budget=10 << 20,
    set_ops=50_000,
    thread_ops=200_000,
    many_batches=2000,
    many_batches_large=200,
    rss_entries=1_000_000,
    zipf_requests=1_000_000,
    zipf_keys=100_000,
)
"""The sizes of ``make bench``."""

QUICK = Sizes(
    rounds=3,
    hot_keys=1000,
    ops=10_000,
    wide_keys=5000,
    miss_keys=2000,
    set_budget=256 << 10,
    set_ops=2000,
    thread_ops=10_000,
    many_batches=100,
    many_batches_large=10,
    rss_entries=20_000,
    # 1% of 20,000 keys is 200 entries: libCacheSim's W-TinyLFU window (1%) holds 2 of them
    zipf_requests=50_000,
    zipf_keys=20_000,
)
"""The sizes of ``--quick`` (a smoke run)."""
