"""The timing harness: timed loops, threads released at once, interleaved rounds with gc off."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from time import perf_counter_ns
from typing import Any

Case = Callable[[], tuple[int, int]]  # one timed pass: (elapsed ns, operations)
Samples = dict[str, list[float]]  # case name -> ns per operation, one per round


def loop_get(get: Callable[[Any], object], keys_: Sequence[Any]) -> int:
    """ns taken by calling get on each key in turn."""
    t0 = perf_counter_ns()
    for k in keys_:
        get(k)
    return perf_counter_ns() - t0


def loop_set(cache: Any, keys_: Sequence[str], values_: Sequence[bytes]) -> int:
    """ns taken by ``cache[key] = value`` for each pair in turn."""
    t0 = perf_counter_ns()
    for k, v in zip(keys_, values_, strict=True):
        cache[k] = v
    return perf_counter_ns() - t0


def threaded(work: Sequence[Callable[[], object]]) -> int:
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


def get_case(get: Callable[[Any], object], access: Sequence[Any]) -> Case:
    """A pass of get over the access list."""
    return lambda: (loop_get(get, access), len(access))


def fresh_case(get: Callable[[Any], object], access: Sequence[str]) -> Case:
    """Gets of equal keys in new str objects every pass: no cached str hash, no FNV memo."""

    def case() -> tuple[int, int]:
        fresh = [k.encode().decode() for k in access]
        return loop_get(get, fresh), len(fresh)

    return case


def threaded_case(
    fn: Callable[[Any, Sequence[Any]], int],
    target: Any,
    work: Sequence[Any],
    threads: int,
    ops: int,
) -> Case:
    """A pass of fn(target, part) over `work` split in `threads` parts, one thread each."""
    parts = _split(work, threads)
    return lambda: (threaded([partial(fn, target, p) for p in parts]), ops)


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


def interleave(cases: dict[str, Case], rounds: int) -> Samples:
    """ns per operation of each case in each of `rounds` interleaved rounds.

    One untimed warm-up pass each first; round r starts at case r (rotation),
    so no case always runs first, or always right after the same neighbour.
    Sample i of every case comes from round i, so two cases can be compared
    round by round (asv_bench.report takes the median of those per-round ratios).
    """
    names = list(cases)
    samples: Samples = {n: [] for n in names}
    with _gc_off():
        for name in names:
            cases[name]()
        for r in range(rounds):
            s = r % len(names)
            for name in names[s:] + names[:s]:
                ns, ops = cases[name]()
                samples[name].append(ns / ops)
    return samples
