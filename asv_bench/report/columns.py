"""The column names of the report's tables: one per library, one per hit-ratio policy."""

from __future__ import annotations

COLUMNS = {
    "distcache": "distcache",
    "dict": "dict",
    "lru_cache": "lru_cache",
    "cachebox": "cachebox",
    "lru-dict": "lru-dict",
    "cachetools": "cachetools",
}
"""Library (asv_bench/libraries.py) -> column of the main table and bar of the chart."""

POLICY_LABELS = {
    "distcache": "distcache",
    "distcache-tinylfu": "distcache tinylfu",
    "exact-lru": "exact LRU",
    "sim:LRU": "LRU (lCS)",
    "sim:W-TinyLFU": "W-TinyLFU (lCS)",
    "sim:S3-FIFO": "S3-FIFO (lCS)",
}
"""Policy (asv_bench/hitratio.py POLICIES) -> column of the hit-ratio and scan tables."""
