"""``distcache demo``: a group over a slow SQLite source under a Zipf-shaped read load.

The demo creates a database in a temporary directory, puts a group in front of
it, drives reads from a few threads with a progress bar on stderr, and prints
what the cache saved: requests, hit rate, getter loads vs requests,
singleflight deduplications, negative hits and latency percentiles.

The measurements that docs/usage.md and docs/optimization.md quote (how many
requests reach the getter, admission's hit ratios, a hit's cost) run on this
demo from asv_bench/experiments.py.
"""

from __future__ import annotations

import itertools
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..group import Group, NotFound, new_group
from ..group.latency import NBUCKETS, bucket_of, percentiles
from ..sqlite_getter import SQLiteGetter, create_table

__all__ = [
    "DemoConfig",
    "print_report",
    "run_demo",
]

_BLOCK = 4096  # keys drawn per call of the sampler
_STEP = 256  # requests between two looks at the clock and two progress updates


@dataclass
class DemoConfig:
    """The knobs of one demo run."""

    rows: int = 10_000
    zipf: float = 1.0
    threads: int = 4
    seconds: float = 10.0
    requests: int | None = None  # a fixed number of requests instead of a duration
    delay: float = 0.001  # seconds the getter sleeps before each query
    absent: float = 0.02  # share of requests for keys the database lacks
    absent_keys: int = 50
    cache_bytes: int = 64 << 20
    seed: int = 1
    progress: bool = True
    group_name: str = "demo"
    extra: dict[str, Any] = field(default_factory=dict)  # passed on to new_group


def zipf_cum_weights(n: int, s: float) -> list[float]:
    """Cumulative weights of Zipf(s) over ranks 1..n (rank r has weight 1 / r**s)."""
    return list(itertools.accumulate(1.0 / (r**s) for r in range(1, n + 1)))


def _row_value(i: int) -> bytes:
    return (f'{{"id": {i}, "name": "user {i}", "bio": "' + "x" * (100 + i % 200) + '"}').encode()


def _key_sampler(cfg: DemoConfig, rng: random.Random) -> Any:
    """A function returning the next _BLOCK keys of the load."""
    keys = [f"user:{i}" for i in range(cfg.rows)]
    rng_order = random.Random(cfg.seed)
    rng_order.shuffle(keys)  # popularity is not creation order
    absent = [f"user:{cfg.rows + j}" for j in range(cfg.absent_keys)]
    cum = zipf_cum_weights(cfg.rows, cfg.zipf)

    def block() -> list[str]:
        out = rng.choices(keys, cum_weights=cum, k=_BLOCK)
        if cfg.absent > 0:
            for i in range(_BLOCK):
                if rng.random() < cfg.absent:
                    out[i] = rng.choice(absent)
        return out

    return block


def _fixed_stream(cfg: DemoConfig, n: int) -> list[str]:
    """The whole request stream of a fixed-size run, drawn once from cfg.seed."""
    block = _key_sampler(cfg, random.Random(cfg.seed))
    stream: list[str] = []
    while len(stream) < n:
        stream.extend(block())
    return stream[:n]


class _Worker(threading.Thread):
    """Sends gets to the group and keeps its own latency buckets (no lock per request)."""

    def __init__(self, group: Group, keys: Any, deadline: float, done: list[int], slot: int):
        super().__init__(name=f"demo-worker-{slot}", daemon=True)
        self.group = group
        self.keys = keys  # a list (fixed run) or a function returning blocks (timed run)
        self.deadline = deadline
        self.done = done
        self.slot = slot
        self.counts = [0] * NBUCKETS
        self.not_found = 0
        self.errors = 0

    def run(self) -> None:
        get = self.group.get
        counts = self.counts
        now = time.perf_counter_ns
        fixed = isinstance(self.keys, list)
        n = 0
        batch: list[str] = []
        while True:
            if fixed:
                batch = self.keys[n : n + _STEP]
                if not batch:
                    break
            else:
                if time.monotonic() >= self.deadline:
                    break
                if not batch:
                    batch = self.keys()
                batch, rest = batch[:_STEP], batch[_STEP:]
            for key in batch:
                start = now()
                try:
                    get(key)
                except NotFound:
                    self.not_found += 1
                except Exception:
                    self.errors += 1
                counts[bucket_of(now() - start)] += 1
            n += len(batch)
            self.done[self.slot] = n
            if not fixed:
                batch = rest


def _progress(done: list[int], total: int | None, started: float, seconds: float, out: TextIO):
    elapsed = time.monotonic() - started
    frac = sum(done) / total if total else elapsed / seconds
    frac = min(1.0, frac)
    bar = "#" * int(frac * 30)
    out.write(f"\r[{bar:<30}] {frac:4.0%}  {elapsed:5.1f} s  {sum(done):>10,} requests")
    out.flush()


def run_demo(cfg: DemoConfig, err: TextIO | None = None) -> dict[str, Any]:
    """Run one demo and return its report (see print_report); progress goes to err (stderr)."""
    err = sys.stderr if err is None else err
    if cfg.rows < 1 or cfg.threads < 1:
        raise ValueError("rows and threads must be >= 1")
    with tempfile.TemporaryDirectory(prefix="distcache-demo-") as tmp:
        db = Path(tmp) / "source.db"
        create_table(db, "users", {f"user:{i}": _row_value(i) for i in range(cfg.rows)})
        getter = SQLiteGetter(db, "users", delay=cfg.delay)
        group = new_group(cfg.group_name, cfg.cache_bytes, getter, **cfg.extra)
        try:
            return _drive(cfg, group, err)
        finally:
            group.close()
            getter.close()


def _drive(cfg: DemoConfig, group: Group, err: TextIO) -> dict[str, Any]:
    done = [0] * cfg.threads
    started = time.monotonic()
    deadline = started + cfg.seconds
    workers = []
    if cfg.requests is not None:
        stream = _fixed_stream(cfg, cfg.requests)
        for t in range(cfg.threads):
            workers.append(_Worker(group, stream[t :: cfg.threads], deadline, done, t))
    else:
        for t in range(cfg.threads):
            sampler = _key_sampler(cfg, random.Random(cfg.seed * 1000 + t))
            workers.append(_Worker(group, sampler, deadline, done, t))
    for w in workers:
        w.start()
    tty = cfg.progress and err.isatty()
    while any(w.is_alive() for w in workers):
        if tty:
            _progress(done, cfg.requests, started, cfg.seconds, err)
        for w in workers:
            w.join(0.1 / len(workers))
    if tty:
        _progress(done, cfg.requests, started, cfg.seconds, err)
        err.write("\n")
    elapsed = time.monotonic() - started

    counts = [sum(c) for c in zip(*(w.counts for w in workers), strict=True)]
    requests = sum(counts)
    p50, p95, p99 = percentiles(counts, (0.50, 0.95, 0.99))
    stats = group.stats()
    return {
        "config": cfg,
        "seconds": elapsed,
        "requests": requests,
        "not_found": sum(w.not_found for w in workers),
        "errors": sum(w.errors for w in workers),
        "latency": {"p50": p50, "p95": p95, "p99": p99},
        "stats": stats,
    }


def _duration(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def print_report(report: dict[str, Any], out: TextIO | None = None) -> None:
    """Print a demo report as a short table (to stdout by default)."""
    out = sys.stdout if out is None else out
    cfg: DemoConfig = report["config"]
    st = report["stats"]
    n = report["requests"]
    loads = st["getter_loads"]
    lat = report["latency"]
    glat = st["latency"]
    pct = (lambda x: f"{100 * x / n:.1f} %") if n else (lambda x: "-")
    lines = [
        ("requests", f"{n:,}", f"{n / report['seconds']:,.0f}/s over {report['seconds']:.1f} s"),
        ("hit rate", f"{100 * st['hit_rate']:.1f} %", f"{st['local_hits']:,} served from cache"),
        ("getter loads", f"{loads:,}", f"{pct(loads)} of requests ({pct(n - loads)} saved)"),
        (
            "singleflight",
            f"{st['loads_deduplicated']:,}",
            "concurrent misses that waited for another's load",
        ),
        ("negative hits", f"{st['negative_hits']:,}", "absent keys answered without the source"),
        ("not found", f"{report['not_found']:,}", "gets that raised NotFound"),
        ("errors", f"{report['errors']:,}", ""),
        (
            "latency",
            " / ".join(_duration(lat[p]) for p in ("p50", "p95", "p99")),
            "p50 / p95 / p99, timed by the load generator",
        ),
        (
            "group latency",
            " / ".join(_duration(glat[p]) for p in ("p50", "p95", "p99")),
            "the same from group.stats() (hits sampled 1 in 64)",
        ),
    ]
    out.write(
        f"distcache demo: group {cfg.group_name!r} over SQLite ({cfg.rows:,} rows, "
        f"{cfg.delay * 1e3:g} ms per load), {cfg.threads} thread{'s' if cfg.threads > 1 else ''}, "
        f"Zipf({cfg.zipf:g})"
        f"{f', {cfg.absent:.0%} absent keys' if cfg.absent else ''}\n"
    )
    for name, value, note in lines:
        out.write(f"  {name:<14} {value:>24}   {note}\n".rstrip() + "\n")
    out.flush()
