"""Throughput on threads: a fixed amount of work split over 1 or 2 threads.

Compare the two parameters: on a GIL build, 2 threads should take no longer
than 1 thread (no GIL convoy) for single-key gets, and less for get_many of
large values (the copies run without the GIL).
"""

import threading

import distcache
from asv_bench.workload import keys, values

N = 1000
GETS = 100_000
BATCHES = 400


def _run(work: list) -> None:
    threads = [threading.Thread(target=fn, args=args) for fn, *args in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _loop(call, items) -> None:
    for x in items:
        call(x)


class Threads:
    """Total time of 100,000 gets, or 400 get_many(100), over `threads` threads."""

    params = [1, 2]
    param_names = ["threads"]

    def setup(self, threads: int) -> None:
        hot = keys(N)
        self.small = distcache.LRUCache(max_bytes=4 << 20)
        self.large = distcache.LRUCache(max_bytes=64 << 20)
        for k, v, big in zip(hot, values(N), values(N, 16 << 10), strict=True):
            self.small[k] = v
            self.large[k] = big
        gets = [hot[i % N] for i in range(GETS)]
        batches = [hot[(i * 100) % N :][:100] for i in range(BATCHES)]
        self.gets = [gets[i::threads] for i in range(threads)]
        self.batches = [batches[i::threads] for i in range(threads)]

    def time_get_hit(self, threads: int) -> None:
        _run([(_loop, self.small.get, part) for part in self.gets])

    def time_get_many_100B(self, threads: int) -> None:
        _run([(_loop, self.small.get_many, part) for part in self.batches])

    def time_get_many_16KiB(self, threads: int) -> None:
        _run([(_loop, self.large.get_many, part) for part in self.batches])
