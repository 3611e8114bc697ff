"""Resident memory per entry, and the hit ratio against an exact LRU (tracked figures)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import distcache
from asv_bench.hitratio import ExactLRU, replay
from asv_bench.workload import KEY_LEN, VALUE_LEN, keys, value, zipf_ranks

ENTRIES = 200_000


def track_rss_per_entry() -> float:
    """RSS growth per entry for 200,000 entries, in a fresh process (asv_bench/rss.py)."""
    root = Path(__file__).resolve().parents[2]
    here = Path(distcache.__file__).resolve().parents[1]  # the distcache asv measures
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(here), str(root), env.get("PYTHONPATH")) if p
    )
    out = subprocess.run(
        [sys.executable, "-m", "asv_bench.rss", "distcache", str(ENTRIES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["bytes_per_entry"]


track_rss_per_entry.unit = "bytes"


def track_zipf_hit_ratio_gap() -> float:
    """distcache's hit ratio minus an exact global LRU's, in points (Zipf 0.99, 10% budget)."""
    n_keys, overhead = 20_000, distcache.ENTRY_OVERHEAD
    universe = keys(n_keys, prefix="z")
    trace = [universe[r] for r in zipf_ranks(200_000, n_keys)]
    budget = n_keys // 10 * (KEY_LEN + VALUE_LEN + overhead)
    cache, exact, v = distcache.LRUCache(max_bytes=budget), ExactLRU(budget, overhead), value(0)
    hits, n = replay(cache.get, cache.set, trace, v)
    exact_hits, _ = replay(exact.get, exact.set, trace, v)
    return 100.0 * (hits - exact_hits) / n


track_zipf_hit_ratio_gap.unit = "points"
