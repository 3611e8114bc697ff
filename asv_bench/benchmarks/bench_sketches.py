"""BloomFilter add / contains and CountMinSketch add, 1,000 keys per call."""

import distcache
from asv_bench.workload import keys

N = 1000


class Bloom:
    """A filter sized for 100,000 keys at 1% false positives."""

    def setup(self) -> None:
        self.keys = keys(N)
        self.absent = keys(N, prefix="m")
        self.bf = distcache.BloomFilter(100_000, 0.01)
        for k in self.keys:
            self.bf.add(k)

    def time_add(self) -> None:
        add = self.bf.add
        for k in self.keys:
            add(k)

    def time_contains_present(self) -> None:
        bf = self.bf
        for k in self.keys:
            k in bf  # noqa: B015

    def time_contains_absent(self) -> None:
        bf = self.bf
        for k in self.absent:
            k in bf  # noqa: B015


class Sketch:
    """A depth-4 count-min sketch of 65,536 counters per row."""

    def setup(self) -> None:
        self.keys = keys(N)
        self.cms = distcache.CountMinSketch(1 << 16, 4)
        # Touch the counters once: under --quick (a single call) the first
        # touch of fresh pages would otherwise be most of the time measured.
        for k in self.keys:
            self.cms.add(k)

    def time_add(self) -> None:
        add = self.cms.add
        for k in self.keys:
            add(k)
