"""What a ``@distcache.cached`` hit costs beside ``cachetools.cached`` and ``cachebox.cached``.

    python -m asv_bench.decorator            # make bench-decorator
    python -m asv_bench.decorator --quick

One function returning a small dict, ``{"id": user_id, "name": "ada",
"tags": ["x", "y"]}``, wrapped by each contender; every one of KEYS calls
is a hit (all warmed first). A round times each contender in turn (the
order rotates from round to round), and a ratio is the median over rounds of
the ratio within a round: these machines are shared and noisy (and times
are the thread's CPU time, for the same reason). Beside the
totals, the three steps of a @cached hit (building the key, group.get, the
serializer's loads) are timed alone, to say where the time goes.

cachetools and cachebox come with the ``bench`` extra; a contender that is
not installed is reported as missing, never guessed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import distcache
from distcache.group.registry import _reset_groups

KEYS = list(range(100))

# CPU time of this thread, not wall time: on a machine shared with other
# work a wall clock counts the time this process waits to be scheduled
# (a --quick run measured 10 us per hit by the wall clock, 0.2 s of CPU in 2 s).
_clock = time.thread_time_ns


def profile(user_id: int) -> dict[str, Any]:
    """The function every contender wraps: a small dict, as a user lookup returns."""
    return {"id": user_id, "name": "ada", "tags": ["x", "y"]}


# The contenders, by label; what each wraps profile in. The first is the
# subject; TARGETS name the others it is measured against.
CONTENDERS: tuple[str, ...] = (
    "distcache @cached (json)",
    "distcache @cached (json, memo)",
    "distcache @cached (msgpack)",
    "cachetools.cached (dict)",
    "cachebox.cached (LRUCache)",
)
SUBJECT = CONTENDERS[0]
MEMO = CONTENDERS[1]
# memo= of the memo contender: every key's result kept decoded.
MEMO_SIZE = 4 * len(KEYS)

# A JSON @cached hit within 2x of each of these, same run; both the default
# (a new object per call) and memo= (one shared object, as the other two
# hand out). docs/async.md reads a run against them. (target, numerator,
# denominator, bound).
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("@cached(json) hit / cachetools.cached hit", SUBJECT, "cachetools.cached (dict)", 2.0),
    ("@cached(json) hit / cachebox.cached hit", SUBJECT, "cachebox.cached (LRUCache)", 2.0),
    ("@cached(json, memo) hit / cachetools.cached hit", MEMO, "cachetools.cached (dict)", 2.0),
    ("@cached(json, memo) hit / cachebox.cached hit", MEMO, "cachebox.cached (LRUCache)", 2.0),
)


def contenders() -> dict[str, Callable[[int], Any] | None]:
    """Each contender's wrapper of profile (None: its library is not installed)."""
    _reset_groups()
    json_group = distcache.new_group("bench-json", 16 << 20)
    memo_group = distcache.new_group("bench-json-memo", 16 << 20)
    msgpack_group = distcache.new_group("bench-msgpack", 16 << 20)
    out: dict[str, Callable[[int], Any] | None] = {
        SUBJECT: distcache.cached(json_group)(profile),
        MEMO: distcache.cached(memo_group, memo=MEMO_SIZE)(profile),
    }
    try:
        out[CONTENDERS[2]] = distcache.cached(msgpack_group, serializer="msgpack")(profile)
    except ImportError:
        out[CONTENDERS[2]] = None
    try:
        import cachetools

        out[CONTENDERS[3]] = cachetools.cached(cache={})(profile)
    except ImportError:
        out[CONTENDERS[3]] = None
    try:
        import cachebox

        out[CONTENDERS[4]] = cachebox.cached(cachebox.LRUCache(4 * len(KEYS)))(profile)
    except ImportError:
        out[CONTENDERS[4]] = None
    return out


def _ns_per_call(fn: Callable[[int], Any], passes: int) -> float:
    keys = KEYS
    start = _clock()
    for _ in range(passes):
        for k in keys:
            fn(k)
    return (_clock() - start) / (passes * len(keys))


def _steps(wrapped: Any, passes: int) -> dict[str, float]:
    """ns of each step of a @cached hit, timed alone, and of two slower ways to do them.

    "key", "group.get" and "loads" are the hit's three steps (a positional
    call's key, the C lookup, the json serializer's loads); "key by bind()"
    is the key of a keyword call (inspect's bind, the general path) and
    "json.loads" the standard library's own function on the same bytes.
    """
    keys = [wrapped.cache_key(k) for k in KEYS]
    get, loads = wrapped.group.get, wrapped.serializer.loads
    data = [get(k) for k in keys]
    key_of = wrapped.cache_key
    steps: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "key": (key_of, KEYS),
        "group.get": (get, keys),
        "loads": (loads, data),
        "key by bind()": (lambda k: key_of(user_id=k), KEYS),
        "json.loads": (json.loads, data),
    }
    out: dict[str, float] = {}
    for step, (fn, args) in steps.items():
        start = _clock()
        for _ in range(passes):
            for a in args:
                fn(a)
        out[step] = (_clock() - start) / (passes * len(args))
    return out


def run(rounds: int = 21, passes: int = 500) -> dict[str, Any]:
    """ns per hit of every contender, round by round, the ratios and the targets."""
    fns = contenders()
    present = {label: fn for label, fn in fns.items() if fn is not None}
    for fn in present.values():  # warm: every later call is a hit
        for k in KEYS:
            fn(k)
    for k in KEYS:  # all agree on the value, or the timing compares nothing
        assert all(fn(k) == profile(k) for fn in present.values())
    labels = list(present)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    steps: dict[str, list[float]] = {}
    for r in range(rounds):
        order = labels[r % len(labels):] + labels[: r % len(labels)]
        for label in order:
            samples[label].append(_ns_per_call(present[label], passes))
        for step, ns in _steps(present[SUBJECT], max(1, passes // 2)).items():
            steps.setdefault(step, []).append(ns)
    rows: list[dict[str, Any]] = []
    for label in CONTENDERS:
        times = samples.get(label)
        ratios = [a / b for a, b in zip(samples[SUBJECT], times, strict=True)] if times else None
        rows.append({
            "contender": label,
            "ns_per_hit": statistics.median(times) if times else None,
            # subject / this contender, median of the per-round ratios
            "ratio": statistics.median(ratios) if ratios else None,
        })
    targets: list[dict[str, Any]] = []
    for target, subject, other, bound in TARGETS:
        measured = None
        if subject in samples and other in samples:
            measured = statistics.median(
                a / b for a, b in zip(samples[subject], samples[other], strict=True)
            )
        targets.append({
            "target": target,
            "bound": bound,
            "measured": measured,
            "met": None if measured is None else measured <= bound,
        })
    _reset_groups()
    return {
        "rounds": rounds,
        "passes": passes,
        "keys": len(KEYS),
        "implementation": distcache.IMPLEMENTATION,
        "rows": rows,
        "steps": {step: statistics.median(v) for step, v in steps.items()},
        "targets": targets,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds of 20 passes")
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = ap.parse_args(argv)
    result = run(rounds=3, passes=20) if args.quick else run()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"hits of one function returning a small dict, {result['keys']} keys, median of "
          f"{result['rounds']} interleaved rounds of {result['passes']} passes "
          f"(distcache core: {result['implementation']}):")
    print(f"  {'contender':<32} {'ns/hit':>8}  {SUBJECT} / it")
    for row in result["rows"]:
        if row["ns_per_hit"] is None:
            print(f"  {row['contender']:<32} {'missing':>8}  (not installed: the bench extra)")
            continue
        print(f"  {row['contender']:<32} {row['ns_per_hit']:8.0f}  {row['ratio']:.2f}")
    steps = result["steps"]
    print("  a @cached (json) hit, step by step (ns, each timed alone): "
          + ", ".join(f"{step} {ns:.0f}" for step, ns in steps.items()))
    for t in result["targets"]:
        if t["measured"] is None:
            print(f"  target {t['target']} <= {t['bound']:g}: not measured (library missing)")
        else:
            verdict = "met" if t["met"] else "missed"
            print(f"  target {t['target']} <= {t['bound']:g}: {t['measured']:.2f}, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
