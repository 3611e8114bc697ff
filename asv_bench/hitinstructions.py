"""What a hit costs in machine instructions, counted by valgrind: no noise.

    python -m asv_bench.hitinstructions [--calls N]

Timings on a shared 2-core machine swing by more than the differences being
looked for (docs/usage.md's paired rounds spread 0.6-1.9), so this counts
instructions instead: each variant runs in its own process under
``valgrind --tool=cachegrind`` twice, with N and with 2N hits of one key in a
``for`` loop inside a function, and the difference divided by N is the
instructions of one loop turn plus one hit. The loop alone is the ``dict.get``
row (a miss of an empty dict). Instructions are not nanoseconds (cache misses
and branch misses are not in them), but on a hit of a key that stays in L1
they are what separates the variants, and the count is the same on every run.
docs/optimization.md quotes its output.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

# name -> how the object whose .get(key) is timed is made (a hit on "user:42").
VARIANTS = {
    "dict.get (the loop floor)": "{}",
    "LRUCache.get": "distcache.LRUCache(1 << 20)",
    "LRUCache(track_frequency=True).get": "distcache.LRUCache(1 << 20, track_frequency=True)",
    "LRUCache(admission='tinylfu').get": (
        "distcache.LRUCache(1 << 20, admission='tinylfu', track_frequency=True)"
    ),
    "Group.get (admission='tinylfu', the default)": "distcache.new_group('g', 1 << 20, bytes)",
    "Group.get (admission=None)": "distcache.new_group('g', 1 << 20, bytes, admission=None)",
}

_CHILD = """
import sys, distcache
def main(n):
    target = {make}
    if not isinstance(target, dict):
        target.set("user:42", b"v" * 100)
    key = "user:42"
    for _ in range(n):
        target.get(key)
main(int(sys.argv[1]))
"""


def instructions(make: str, calls: int) -> int:
    """Instructions valgrind counted in a process that makes the target and hits it calls times."""
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", _CHILD.format(make=make), str(calls)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no instruction count:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def measure(calls: int, names: tuple[str, ...] = tuple(VARIANTS)) -> dict[str, float]:
    """Instructions of one loop turn (loop + one hit) of each named variant.

    The difference of runs of 2 * calls and of calls hits, so that the first
    hits (the interpreter specialising the loop, the caches' first lookups)
    fall out with the process's start.
    """
    return {
        name: (instructions(make, 2 * calls) - instructions(make, calls)) / calls
        for name in names
        for make in (VARIANTS[name],)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="hits per counted process")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    import distcache

    print(f"core {distcache.IMPLEMENTATION}, Python {sys.version.split()[0]}, "
          f"{args.calls:,} hits per process; instructions per loop turn (loop + one hit)")
    per_call = measure(args.calls)
    floor = per_call["dict.get (the loop floor)"]
    plain = per_call["LRUCache.get"]
    print("| variant | instructions | / LRUCache.get | over the loop floor, / LRUCache.get's |")
    print("|---|---|---|---|")
    for name, n in per_call.items():
        print(f"| {name} | {n:.0f} | {n / plain:.3f} | {(n - floor) / (plain - floor):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
