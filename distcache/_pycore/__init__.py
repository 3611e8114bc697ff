"""Pure-Python twin of the C core: LRUCache, BloomFilter, CountMinSketch, HitPath, FNV hashes.

``distcache`` runs on this package instead of the C extension
``distcache._core`` when ``DISTCACHE_PURE_PYTHON=1`` is set or when the
extension is missing (no compiler, an unbuilt checkout). Either way the
answers must not change: every algorithm here is the one docs/internals.md
specifies, down to eviction order, counters and bit positions, so that
driving the twin and the C core with the same operations gives the same
results (tests/core/test_twin_statemachine.py and the core_diff fuzzer
check it).

The modules are named after the C headers they mirror (csrc/lru.h,
csrc/tinylfu.h, csrc/bloom.h, csrc/sketch.h, csrc/fnv.h); lrucache.py and
hitpath.py are the Python faces that distcache/_core.pyx gives the C core.
"""

from __future__ import annotations

from .bloom import BloomFilter
from .entry import ENTRY_OVERHEAD, MAX_KEY_LEN
from .fnv import fnv32, fnv32a, fnv64a
from .hitpath import HitPath
from .lrucache import LRUCache
from .sketch import CountMinSketch

__all__ = [
    "ENTRY_OVERHEAD",
    "IMPLEMENTATION",
    "MAX_KEY_LEN",
    "BloomFilter",
    "CountMinSketch",
    "HitPath",
    "LRUCache",
    "fnv32",
    "fnv32a",
    "fnv64a",
]

IMPLEMENTATION = "python"
"""Which implementation of the core this module is."""
