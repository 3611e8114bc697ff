"""``distcache demo``: a group over a slow SQLite source under a Zipf-shaped read load.

The demo creates a database in a temporary directory, puts a group in front of
it, drives reads from a few threads with a progress bar on stderr, and prints
what the cache saved: requests, hit rate, getter loads vs requests,
singleflight deduplications, negative hits and latency percentiles.

``loads_experiment()`` is the measurement of issue 3: Zipf(1.0) over 1,000
keys, 10,000 requests, a getter that sleeps 1 ms; how many requests reach the
getter. ``admission_experiment()`` compares the hit ratio of groups with and
without TinyLFU admission; ``measure_hit_path()`` times a ``Group.get`` hit
against a bare ``LRUCache.get``. docs/usage.md quotes all three.
"""

from __future__ import annotations

import bisect
import itertools
import random
import sys
import tempfile
import threading
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .group import Group, NotFound, new_group
from .latency import NBUCKETS, bucket_of, percentiles
from .sqlite_getter import SQLiteGetter, create_table

__all__ = [
    "DemoConfig",
    "admission_experiment",
    "loads_experiment",
    "measure_hit_path",
    "print_report",
    "run_demo",
    "zipf_trace",
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


def loads_experiment(
    *, threads: int = 8, seed: int = 1, progress: bool = False, out: TextIO | None = None
) -> dict[str, Any]:
    """Issue 3's measurement: getter calls / requests for 10,000 Zipf(1.0) gets over 1,000 keys."""
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
    import distcache

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
    import distcache

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
