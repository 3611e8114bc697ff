"""distcache.LRUCache beside dict, functools.lru_cache, cachebox, lru-dict and cachetools.

    python -m asv_bench.compare                  # full run (make bench): prints the
                                                 # tables, writes docs/performance.md,
                                                 # docs/performance.png, docs/hitratio.png
    python -m asv_bench.compare --quick --no-write

The hit-ratio tables put distcache (plain and admission="tinylfu") beside an
exact LRU and libCacheSim's LRU, W-TinyLFU and S3-FIFO: a full run needs
libcachesim (the bench extra) and stops without it; --quick skips those
columns, with a note, when it is missing.

Method: every library runs in this one process, in the same run, on the same
key and value objects; each measurement is a loop over a prebuilt list of
keys, repeated in rounds that interleave the libraries (the order rotates
every round), with the garbage collector off; a figure is the median of its
rounds. Memory is the exception: each library fills its cache in a process of
its own (asv_bench/rss.py). Targets are ratios against a peer measured in the
same run, never absolute times.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from asv_bench import hitratio, report
from asv_bench.libraries import LIBRARIES, Library
from asv_bench.workload import KEY_LEN, VALUE_LEN, keys, shuffled, values

ROOT = Path(__file__).resolve().parent.parent
LARGE_VALUE = 16 << 10
BATCH = 100
ADMISSION_WARM_GETS = 2  # untimed misses of each new key before the admission set pass
GIL_METHODS = ("get", "_get_nogil")


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

DEFAULT_LIBRARIES = ("distcache", "dict", "lru_cache", "cachebox", "lru-dict", "cachetools")

Case = Callable[[], tuple[int, int]]  # one timed pass: (elapsed ns, operations)


# --- timing ------------------------------------------------------------------


def _loop_get(get: Callable[[Any], object], keys_: Sequence[Any]) -> int:
    t0 = perf_counter_ns()
    for k in keys_:
        get(k)
    return perf_counter_ns() - t0


def _loop_set(cache: Any, keys_: Sequence[str], values_: Sequence[bytes]) -> int:
    t0 = perf_counter_ns()
    for k, v in zip(keys_, values_, strict=True):
        cache[k] = v
    return perf_counter_ns() - t0


def _threaded(work: Sequence[Callable[[], object]]) -> int:
    """Run each callable in a thread of its own, all released at once.

    Returns the ns from the first thread's start to the last thread's end;
    each thread reads its own clock, so a main thread scheduled late does not
    shorten the measurement.
    """
    gate = threading.Barrier(len(work))
    spans: list[tuple[int, int]] = []

    def body(fn: Callable[[], object]) -> None:
        gate.wait()
        t0 = perf_counter_ns()
        fn()
        spans.append((t0, perf_counter_ns()))  # list.append is atomic

    threads = [threading.Thread(target=body, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(end for _, end in spans) - min(start for start, _ in spans)


def _split(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    step = -(-len(items) // parts)
    return [items[i * step : (i + 1) * step] for i in range(parts)]


def _get_case(get: Callable[[Any], object], access: Sequence[Any]) -> Case:
    return lambda: (_loop_get(get, access), len(access))


def _fresh_case(get: Callable[[Any], object], access: Sequence[str]) -> Case:
    """Gets of equal keys in new str objects every pass: no cached str hash, no FNV memo."""

    def case() -> tuple[int, int]:
        fresh = [k.encode().decode() for k in access]
        return _loop_get(get, fresh), len(fresh)

    return case


def _threaded_case(
    fn: Callable[[Any, Sequence[Any]], int],
    target: Any,
    work: Sequence[Any],
    threads: int,
    ops: int,
) -> Case:
    parts = _split(work, threads)
    return lambda: (_threaded([partial(fn, target, p) for p in parts]), ops)


@contextlib.contextmanager
def _gc_off() -> Iterator[None]:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def interleave(cases: dict[str, Case], rounds: int) -> dict[str, list[float]]:
    """ns per operation of each case in each of `rounds` interleaved rounds.

    One untimed warm-up pass each first; round r starts at case r (rotation),
    so no case always runs first, or always right after the same neighbour.
    Sample i of every case comes from round i, so two cases can be compared
    round by round (report.py takes the median of those per-round ratios).
    """
    names = list(cases)
    samples: dict[str, list[float]] = {n: [] for n in names}
    with _gc_off():
        for name in names:
            cases[name]()
        for r in range(rounds):
            s = r % len(names)
            for name in names[s:] + names[:s]:
                ns, ops = cases[name]()
                samples[name].append(ns / ops)
    return samples


# --- measurements --------------------------------------------------------------

Samples = dict[str, list[float]]  # case name -> ns per operation, one per round


def _entry_size(overhead: int, value_len: int = VALUE_LEN) -> int:
    return KEY_LEN + value_len + overhead


def _cycle(items: Sequence[Any], n: int) -> list[Any]:
    return [items[i % len(items)] for i in range(n)]


def _filled(lib: Library, ks: Sequence[str], vs: Sequence[bytes], overhead: int) -> Any:
    """A cache of `lib` holding every (key, value), with room to spare."""
    cache = lib.make(len(ks), 2 * len(ks) * _entry_size(overhead, len(vs[0])))
    lib.fill(cache, zip(ks, vs, strict=True))
    return cache


def measure_gets(libs: list[Library], sizes: Sizes, overhead: int) -> dict[str, Samples]:
    """get hit (hot keys, new key objects, many keys) and get miss, per library."""
    out: dict[str, Samples] = {}
    hot = keys(sizes.hot_keys)
    hot_access = shuffled(_cycle(hot, sizes.ops))
    applies = [lib for lib in libs if "get_hit_hot" in lib.applies]
    caches = {lib.name: _filled(lib, hot, values(len(hot)), overhead) for lib in applies}
    cases = {lib.name: _get_case(lib.getter(caches[lib.name]), hot_access) for lib in applies}
    # The loop-and-call floor: the same loop calling a C builtin that does nothing.
    cases["floor"] = _get_case(id, hot_access)
    out["get_hit_hot"] = interleave(cases, sizes.rounds)

    cases = {lib.name: _fresh_case(lib.getter(caches[lib.name]), hot_access) for lib in applies}
    out["get_hit_fresh"] = interleave(cases, sizes.rounds)

    miss_access = _cycle(keys(sizes.miss_keys, prefix="m"), sizes.ops)
    cases = {
        lib.name: _get_case(lib.getter(caches[lib.name]), miss_access)
        for lib in applies
        if "get_miss" in lib.applies
    }
    out["get_miss"] = interleave(cases, sizes.rounds)
    del caches, cases

    wide = keys(sizes.wide_keys, prefix="w")
    wide_access = shuffled(wide)
    caches = {
        lib.name: _filled(lib, wide, _cycle(values(1024), len(wide)), overhead) for lib in applies
    }
    if len(caches["distcache"]) != len(wide):
        raise RuntimeError(f"distcache holds {len(caches['distcache'])} of {len(wide)} keys")
    cases = {lib.name: _get_case(lib.getter(caches[lib.name]), wide_access) for lib in applies}
    out["get_hit_wide"] = interleave(cases, sizes.rounds)
    return out


def measure_set_evict(libs: list[Library], sizes: Sizes, overhead: int) -> tuple[Samples, int]:
    """set of an absent key into a full cache (one eviction each); and the entry count.

    Keys cycle through a universe of twice the capacity, so a key comes back
    only after `capacity` other inserts: long evicted, in every shard.
    """
    capacity = sizes.set_budget // _entry_size(overhead)
    universe = keys(2 * capacity, prefix="s")
    doubled = universe + universe
    pass_values = _cycle(values(1024), sizes.set_ops)
    cases: dict[str, Case] = {}
    caches: dict[str, Any] = {}
    for lib in libs:
        if "set_evict" not in lib.applies:
            continue
        cache = lib.make(capacity, sizes.set_budget)
        lib.fill(cache, zip(universe[:capacity], _cycle(pass_values, capacity), strict=True))
        caches[lib.name] = cache
        cursor = [capacity]

        def case(cache: Any = cache, cursor: list[int] = cursor) -> tuple[int, int]:
            c = cursor[0]
            ks = doubled[c : c + sizes.set_ops]
            cursor[0] = (c + sizes.set_ops) % len(universe)
            return _loop_set(cache, ks, pass_values), len(ks)

        cases[lib.name] = case
    res = interleave(cases, sizes.rounds)
    for name, cache in caches.items():
        if len(cache) > capacity or len(cache) < capacity * 0.95:
            raise RuntimeError(f"{name} holds {len(cache)} entries, capacity {capacity}")
    return res, capacity


def measure_threads(libs: list[Library], sizes: Sizes, overhead: int) -> Samples:
    """Single-key get hits, a fixed count split over 1 and 2 threads (cases "LIB@THREADS")."""
    hot = keys(sizes.hot_keys)
    access = shuffled(_cycle(hot, sizes.thread_ops))
    cases: dict[str, Case] = {}
    for lib in libs:
        if "threads" not in lib.applies:
            continue
        get = lib.getter(_filled(lib, hot, values(len(hot)), overhead))
        for n in (1, 2):
            cases[f"{lib.name}@{n}"] = _threaded_case(_loop_get, get, access, n, len(access))
    return interleave(cases, sizes.rounds)


def measure_get_many(sizes: Sizes, overhead: int) -> Samples:
    """distcache get_many(100) over 1 and 2 threads, ns per key (cases "VALUE_BYTES@THREADS").

    Beside it, the same split of a GIL-free reference ("sha256@THREADS":
    hashlib.sha256 of 16 KiB buffers, hashed with the GIL released): how much
    two threads can gain on this machine at this moment, whatever else runs.
    """
    hot = keys(sizes.hot_keys)
    cases: dict[str, Case] = {}
    # ~10 us per buffer (OpenSSL, no SHA extensions): a tenth of the 16 KiB passes' keys.
    buffers = _cycle(values(64, LARGE_VALUE), sizes.many_batches_large * BATCH // 10)
    for n in (1, 2):
        cases[f"sha256@{n}"] = _threaded_case(_loop_get, hashlib.sha256, buffers, n, len(buffers))
    plan = ((VALUE_LEN, sizes.many_batches), (LARGE_VALUE, sizes.many_batches_large))
    for vlen, nbatches in plan:
        cache = _filled(LIBRARIES["distcache"], hot, values(len(hot), vlen), overhead)
        access = shuffled(_cycle(hot, nbatches * BATCH))
        batches = [access[i : i + BATCH] for i in range(0, len(access), BATCH)]
        if len(cache.get_many(batches[0])) != len(set(batches[0])):
            raise RuntimeError("get_many missed keys that are cached")
        for n in (1, 2):
            cases[f"{vlen}@{n}"] = _threaded_case(
                _loop_get, cache.get_many, batches, n, len(access)
            )
    return interleave(cases, sizes.rounds)


def measure_gil(dc: Any, sizes: Sizes, overhead: int) -> Samples | None:
    """get vs _get_nogil, 1 and 2 threads (cases "METHOD@VALUE_BYTES@THREADS"); None if absent."""
    if not hasattr(dc.LRUCache, "_get_nogil"):
        return None
    hot = keys(sizes.hot_keys)
    cases: dict[str, Case] = {}
    # A 16 KiB copy costs ~10x a 100-byte one: fewer gets keep the passes alike in length.
    plan = ((VALUE_LEN, sizes.thread_ops), (LARGE_VALUE, max(sizes.thread_ops // 8, 1000)))
    for vlen, ops in plan:
        cache = _filled(LIBRARIES["distcache"], hot, values(len(hot), vlen), overhead)
        access = shuffled(_cycle(hot, ops))
        for method in GIL_METHODS:
            for n in (1, 2):
                cases[f"{method}@{vlen}@{n}"] = _threaded_case(
                    _loop_get, getattr(cache, method), access, n, len(access)
                )
    return interleave(cases, sizes.rounds)


def measure_rss(libs: list[Library], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """RSS per entry, each library filled in a subprocess of its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    out: dict[str, dict[str, Any]] = {}
    for lib in libs:
        if "rss" not in lib.applies:
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "asv_bench.rss", lib.name, str(sizes.rss_entries)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"RSS measurement of {lib.name} failed:\n{proc.stderr}")
        out[lib.name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def measure_admission(sizes: Sizes, overhead: int) -> dict[str, Any]:
    """distcache with admission="tinylfu" against admission=None, in the same rounds.

    get hit: the hot-key and many-key gets of measure_gets, on a cache with
    room to spare. set with eviction: every pass builds a full cache of
    capacity entries (untimed), reads each of the pass's new keys twice (two
    misses, untimed: a read-through cache asks before it stores, and this
    gives a newcomer more history than the entries it must replace, so
    TinyLFU admits it), then times one set of each new key; a new key is
    absent, so a stored one evicts one entry. The pass has half as many new
    keys as the cache has entries, so the victims are entries of the fill
    (a victim that is itself a newcomer of the pass would tie and be refused).
    The counts of sets stored and entries evicted say how many of the timed
    sets took the eviction path.
    """
    dc = LIBRARIES["distcache"].load()
    modes = (("plain", None), ("tinylfu", "tinylfu"))
    samples: dict[str, Samples] = {}
    hot = keys(sizes.hot_keys)
    wide = keys(sizes.wide_keys, prefix="w")
    for group, ks, access in (
        ("get_hit_hot", hot, shuffled(_cycle(hot, sizes.ops))),
        ("get_hit_wide", wide, shuffled(wide)),
    ):
        vs = _cycle(values(1024), len(ks))
        cases: dict[str, Case] = {}
        for name, admission in modes:
            cache = dc.LRUCache(max_bytes=2 * len(ks) * _entry_size(overhead), admission=admission)
            for k, v in zip(ks, vs, strict=True):
                cache[k] = v
            if len(cache) != len(ks):
                raise RuntimeError(f"distcache ({name}) holds {len(cache)} of {len(ks)} keys")
            cases[name] = _get_case(cache.get, access)
        samples[group] = interleave(cases, sizes.rounds)
        del cases

    capacity = sizes.set_budget // _entry_size(overhead)
    fill = keys(capacity, prefix="f")
    fill_values = _cycle(values(1024), capacity)
    ops = max(1, min(sizes.set_ops, capacity // 2))
    newcomers = keys(ops, prefix="n")
    pass_values = _cycle(values(1024), ops)
    tally = {name: {"sets": 0, "stored": 0, "evictions": 0} for name, _ in modes}

    def set_case(name: str, admission: str | None) -> Case:
        def case() -> tuple[int, int]:
            cache = dc.LRUCache(max_bytes=sizes.set_budget, admission=admission)
            for k, v in zip(fill, fill_values, strict=True):
                cache[k] = v
            get = cache.get
            for _ in range(ADMISSION_WARM_GETS):
                for k in newcomers:
                    get(k)
            before = cache.stats()
            ns = _loop_set(cache, newcomers, pass_values)
            after = cache.stats()
            t = tally[name]
            t["sets"] += ops
            t["stored"] += after["sets"] - before["sets"]
            t["evictions"] += after["evictions"] - before["evictions"]
            return ns, ops

        return case

    samples["set_evict"] = interleave(
        {name: set_case(name, admission) for name, admission in modes}, sizes.rounds
    )
    return {
        "samples": samples,
        "set_evict_entries": capacity,
        "set_evict_ops": ops,
        "set_evict_tally": tally,
        "warm_gets": ADMISSION_WARM_GETS,
    }


def measure_hit_ratios(
    dc: Any, lcs: Any | None, sizes: Sizes, say: Callable[[str], object]
) -> dict[str, Any]:
    """Zipf hit ratios and scan resistance of every policy (asv_bench/hitratio.py)."""
    zipf = hitratio.run_zipf(
        dc, lcs, sizes.zipf_requests, sizes.zipf_keys, sizes.zipf_alphas, sizes.zipf_budgets, say
    )
    budgets = sorted({t["budget_entries"] for t in zipf})
    scan = hitratio.run_scan(dc, lcs, budgets, sizes.scan_passes)
    return {
        "requests": sizes.zipf_requests,
        "keys": sizes.zipf_keys,
        "entry_size": hitratio.entry_size(dc.ENTRY_OVERHEAD),
        "libcachesim": None if lcs is None else _distribution_version("libcachesim"),
        "zipf": zipf,
        "scan": scan,
    }


def issue2_zipf(hr: dict[str, Any]) -> dict[str, Any] | None:
    """Issue 2's Zipf(0.99), 10%-budget figures (distcache plain vs exact LRU), from the table."""
    for t in hr["zipf"]:
        if t["alpha"] == 0.99 and t["budget_fraction"] == 0.10:
            r = t["ratios"]
            return {
                "requests": hr["requests"],
                "keys": hr["keys"],
                "s": 0.99,
                "budget_bytes": t["budget_bytes"],
                "budget_entries": t["budget_entries"],
                "shards": t["shards"],
                "distcache": r["distcache"],
                "exact_lru": r["exact-lru"],
                "difference_points": 100.0 * (r["distcache"] - r["exact-lru"]),
            }
    return None


def _distribution_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# --- the run -------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _commit(implementation: str) -> str:
    """The checkout measured: short commit, and the measured core's files that differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    paths = (
        ["csrc", "distcache/_core.pyx", "distcache/*.pxi", "distcache/_core.pxd", "setup.py"]
        if implementation == "c"
        else ["distcache/_pycore.py"]
    )
    dirty = [line[3:] for line in git("status", "--porcelain", "--", *paths).splitlines()]
    return head + (f" + uncommitted changes to {', '.join(dirty)}" if dirty else "")


def run(
    quick: bool = False,
    libraries: Sequence[str] = DEFAULT_LIBRARIES,
    sizes: Sizes | None = None,
    log: Callable[[str], object] | None = None,
    require_libcachesim: bool | None = None,
) -> dict[str, Any]:
    """Measure everything; return the results as plain data (report.render prints them).

    `libraries` must include "distcache"; a library that is not installed is
    an error (``pip install -e '.[bench]'``), never a silently empty column.
    libcachesim (the hit-ratio peers) is required too unless
    `require_libcachesim` is False (default: required except with `quick`);
    when it is missing and not required, its columns are skipped with a note.
    """
    say = log or (lambda _msg: None)
    sizes = sizes or (QUICK if quick else FULL)
    unknown = [n for n in libraries if n not in LIBRARIES]
    if unknown or "distcache" not in libraries:
        raise ValueError(f"libraries must include distcache and be among {sorted(LIBRARIES)}")
    libs = [LIBRARIES[n] for n in libraries]
    missing = [lib.name for lib in libs if not lib.available()]
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)} (pip install -e '.[bench]')")
    lcs = hitratio.load_libcachesim()
    if require_libcachesim is None:
        require_libcachesim = not quick
    lcs_skipped = None
    if lcs is None:
        if require_libcachesim:
            raise RuntimeError(
                "not installed: libcachesim, which the hit-ratio table compares against "
                "(pip install -e '.[bench]'; only --quick runs without it)"
            )
        lcs_skipped = (
            "libcachesim is not installed: its LRU, W-TinyLFU and S3-FIFO columns are skipped"
        )
        say(f"note: {lcs_skipped}")
    dc = LIBRARIES["distcache"].load()
    overhead = dc.ENTRY_OVERHEAD
    started = time.perf_counter()
    result: dict[str, Any] = {
        "meta": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
            "load_before": os.getloadavg()[0],
            "platform": platform.platform(terse=True),
            "versions": {
                **{lib.name: lib.version() for lib in libs},
                **({"libcachesim": _distribution_version("libcachesim")} if lcs else {}),
            },
            "commit": _commit(dc.IMPLEMENTATION),
            "quick": quick,
            "sizes": asdict(sizes),
            "entry_overhead": overhead,
        },
        "libraries": [lib.name for lib in libs],
    }

    def step(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        say(f"{name} ...")
        value_ = fn()
        say(f"{name}: {time.perf_counter() - t0:.1f} s")
        return value_

    samples: dict[str, Samples] = step(
        "single-key gets", lambda: measure_gets(libs, sizes, overhead)
    )
    samples["set_evict"], capacity = step(
        "set with eviction", lambda: measure_set_evict(libs, sizes, overhead)
    )
    samples["threads"] = step("threads", lambda: measure_threads(libs, sizes, overhead))
    samples["get_many"] = step("get_many threads", lambda: measure_get_many(sizes, overhead))
    gil = step("GIL study", lambda: measure_gil(dc, sizes, overhead))
    if gil is not None:
        samples["gil"] = gil
    result.update(
        samples=samples,
        gil_skipped=None
        if gil is not None
        else "distcache.LRUCache has no _get_nogil method in this build",
        set_evict_entries=capacity,
        rss=step("RSS", lambda: measure_rss(libs, sizes)),
        admission=step("admission cost", lambda: measure_admission(sizes, overhead)),
        hitratio=step("hit ratios", lambda: measure_hit_ratios(dc, lcs, sizes, say)),
    )
    result["hitratio"]["libcachesim_skipped"] = lcs_skipped
    result["zipf"] = issue2_zipf(result["hitratio"])
    result["rows"] = report.rows(result)
    result["targets"] = report.targets(result)
    result["admission_targets"] = report.admission_targets(result)
    result["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    result["meta"]["load_after"] = os.getloadavg()[0]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m asv_bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/performance.md, docs/performance.png and docs/hitratio.png "
        "(default: on, off with --quick)",
    )
    parser.add_argument(
        "--libraries",
        default=",".join(DEFAULT_LIBRARIES),
        help="comma-separated subset of: " + ", ".join(DEFAULT_LIBRARIES),
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 21, quick 3)")
    parser.add_argument("--json", type=Path, help="also dump the raw results to this file")
    parser.add_argument(
        "--docs",
        type=Path,
        default=ROOT / "docs" / "performance.md",
        help="page to write; the charts go beside it (PAGE.png and hitratio.png)",
    )
    args = parser.parse_args(argv)
    write = (not args.quick) if args.write is None else args.write
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    try:
        result = run(
            quick=args.quick,
            libraries=args.libraries.split(","),
            sizes=sizes,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except (RuntimeError, ValueError) as e:
        print(f"asv_bench.compare: {e}", file=sys.stderr)
        return 2
    print(report.render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    if write:
        report.write_docs(result, args.docs)
        chart = args.docs.with_suffix(".png")
        report.write_chart(result, chart)
        hit_chart = args.docs.with_name("hitratio.png")
        report.write_hitratio_chart(result, hit_chart)
        print(f"wrote {args.docs}, {chart} and {hit_chart}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
