"""Resident memory per entry of one library's cache, measured in a process of its own.

``python -m asv_bench.rss LIBRARY ENTRIES`` prints one JSON object. The cost
counted is the RSS growth from before the cache exists to after it holds
ENTRIES entries: its own structures plus the key and value objects it keeps
alive (distinct objects, built one at a time, so a cache that copies them
lets each one go at once). The comparison runner starts one process per
library, so no library's freed memory is counted against another.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from asv_bench.libraries import LIBRARIES
from asv_bench.workload import KEY_LEN, VALUE_LEN, key, value


def rss_bytes() -> int:
    """This process's resident set size (psutil when installed, else /proc/self/statm)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return psutil.Process().memory_info().rss


def measure(name: str, entries: int) -> dict[str, float | int | str]:
    """Fill a fresh cache of library `name` with `entries` entries; the RSS it cost."""
    lib = LIBRARIES[name]
    mod = lib.load()
    overhead = getattr(mod, "ENTRY_OVERHEAD", 0) if name == "distcache" else 0
    # distcache gets exactly the budget of `entries` entries: a bigger one
    # would not cost memory up front, but this is the honest size.
    max_bytes = entries * (KEY_LEN + VALUE_LEN + overhead)
    gc.collect()
    before = rss_bytes()
    cache = lib.make(entries, max_bytes)
    lib.fill(cache, ((key(i), value(i)) for i in range(entries)))
    gc.collect()
    after = rss_bytes()
    held = len(cache) if hasattr(cache, "__len__") else cache.function.cache_info().currsize
    if held != entries:
        raise RuntimeError(f"{name} holds {held} entries, expected {entries}")
    return {
        "library": name,
        "entries": entries,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_entry": (after - before) / entries,
    }


def main(argv: list[str]) -> int:
    name, entries = argv[0], int(argv[1])
    print(json.dumps(measure(name, entries)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
