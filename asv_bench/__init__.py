"""Benchmarks of distcache's local core.

``asv_bench/benchmarks/`` is the asv suite (history of distcache alone);
``python -m asv_bench.compare`` is the side-by-side runner that measures
distcache beside other caches in one process and one run (docs/performance.md).
asv_bench/README.md lists every command here, what it measures and what it prints.
"""
