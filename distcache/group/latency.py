"""A fixed-bucket, log-scale latency histogram good enough for p50/p95/p99.

Four buckets per power of two (each bucket 19-25% wide) from 64 ns to ~69 s:
recording is a bit_length, two shifts and a list increment, and the memory is
a fixed list of 122 ints, whatever the traffic. A leaf module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

__all__ = ["LatencyHistogram"]

_MIN_BITS = 7  # values below 2**(_MIN_BITS - 1) = 64 ns all land in bucket 0
_MAX_BITS = 36  # 2**36 ns ~ 68.7 s; slower calls land in the last bucket
NBUCKETS = (_MAX_BITS - _MIN_BITS + 1) * 4 + 2


def bucket_of(ns: int) -> int:
    """The bucket index of a duration in nanoseconds."""
    bits = ns.bit_length()
    if bits < _MIN_BITS:
        return 0
    if bits > _MAX_BITS:
        return NBUCKETS - 1
    return (bits - _MIN_BITS) * 4 + ((ns >> (bits - 3)) & 3) + 1


def bucket_bounds(index: int) -> tuple[int, int]:
    """The [low, high) bounds in nanoseconds of bucket index."""
    if index <= 0:
        return 0, 1 << (_MIN_BITS - 1)
    if index >= NBUCKETS - 1:
        return 1 << _MAX_BITS, 1 << (_MAX_BITS + 1)
    bits, sub = divmod(index - 1, 4)
    shift = bits + _MIN_BITS - 3
    return (4 + sub) << shift, (5 + sub) << shift


class LatencyHistogram:
    """Counts of durations in fixed log-scale buckets, safe to share between threads."""

    def __init__(self) -> None:
        # Guards _counts and _sum_ns (a lost increment would skew the percentiles).
        self._lock = threading.Lock()
        self._counts = [0] * NBUCKETS
        self._sum_ns = 0

    def record(self, ns: int, count: int = 1) -> None:
        """Add count observations of a duration of ns nanoseconds."""
        index = bucket_of(ns)
        with self._lock:
            self._counts[index] += count
            self._sum_ns += ns * count

    def record_many(self, durations: Iterable[int]) -> None:
        """Add one observation per duration (ns) of durations."""
        indexed = [(bucket_of(ns), ns) for ns in durations]
        with self._lock:
            counts = self._counts
            for index, ns in indexed:
                counts[index] += 1
                self._sum_ns += ns

    def merge(self, other: LatencyHistogram) -> None:
        """Add every observation of other into this histogram."""
        counts, total = other.snapshot()
        with self._lock:
            for i, n in enumerate(counts):
                self._counts[i] += n
            self._sum_ns += total

    def snapshot(self) -> tuple[list[int], int]:
        """A consistent copy of (bucket counts, sum of durations in ns)."""
        with self._lock:
            return list(self._counts), self._sum_ns

    @property
    def count(self) -> int:
        """The number of observations."""
        with self._lock:
            return sum(self._counts)

    def percentile(self, q: float) -> float:
        """The q-quantile (0 <= q <= 1) in seconds, interpolated inside its bucket; 0.0 if empty."""
        return percentiles(self.snapshot()[0], (q,))[0]

    def summary(self) -> dict[str, float | int]:
        """count, mean, p50, p95 and p99 (seconds) in one consistent reading."""
        counts, total_ns = self.snapshot()
        return summary_of(counts, total_ns, sum(counts))

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """(upper bound in seconds, cumulative count) per bucket, as Prometheus histograms want."""
        counts, _ = self.snapshot()
        out: list[tuple[float, int]] = []
        running = 0
        for i, n in enumerate(counts):
            running += n
            out.append((bucket_bounds(i)[1] / 1e9, running))
        return out


def summary_of(counts: Sequence[float], total_ns: float, n: int) -> dict[str, float | int]:
    """count, mean, p50, p95 and p99 (seconds) of n durations in buckets counts."""
    p50, p95, p99 = percentiles(counts, (0.50, 0.95, 0.99))
    return {"count": n, "mean": total_ns / n / 1e9 if n else 0.0,
            "p50": p50, "p95": p95, "p99": p99}


def percentiles(counts: Sequence[float], qs: tuple[float, ...]) -> list[float]:
    """The quantiles qs (each in [0, 1]) of bucket counts, in seconds."""
    total = sum(counts)
    out: list[float] = []
    for q in qs:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], not {q!r}")
        if total == 0:
            out.append(0.0)
            continue
        rank = q * total
        running = 0.0
        for i, n in enumerate(counts):
            if n and running + n >= rank:
                low, high = bucket_bounds(i)
                frac = (rank - running) / n
                out.append((low + (high - low) * frac) / 1e9)
                break
            running += n
    return out
