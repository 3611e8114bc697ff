"""The side-by-side comparison runner behind ``make bench`` (``python -m asv_bench.compare``).

sizes: how much work a run does; timing: the harness (timed loops, threads,
interleaved rounds with the garbage collector off); caches: the filled caches
and access lists the passes share; speed: single-thread gets and set with
eviction; threads: 1 and 2 threads, get_many and the GIL study; memory: RSS
per entry; admission: what admission="tinylfu" costs; hit_ratios: the Zipf
and scan tables; provenance: the commit, CPU and versions measured; run: the
whole run as plain data, which asv_bench.report renders; __main__: the
command line.
"""
