"""LatencyHistogram: log-scale buckets, percentiles within a bucket's width."""

from __future__ import annotations

import random

import pytest

from distcache.group.latency import NBUCKETS, LatencyHistogram, bucket_bounds, bucket_of


def test_every_duration_falls_inside_its_bucket() -> None:
    rng = random.Random(1)
    for ns in [0, 1, 63, 64, 65, 79, 80, 127, 128, 10**6, 2**36 - 1] + [
        rng.randrange(64, 2**36) for _ in range(2000)
    ]:
        low, high = bucket_bounds(bucket_of(ns))
        assert low <= ns < high, ns
    assert bucket_of(2**40) == NBUCKETS - 1


def test_buckets_tile_the_range_without_gaps() -> None:
    for i in range(NBUCKETS - 1):
        assert bucket_bounds(i)[1] == bucket_bounds(i + 1)[0]
        assert bucket_of(bucket_bounds(i + 1)[0]) == i + 1


def test_percentiles_are_within_a_quarter_octave() -> None:
    h = LatencyHistogram()
    for us in range(1, 1001):  # 1 us .. 1 ms, uniform
        h.record(us * 1000)
    s = h.summary()
    assert s["count"] == 1000
    for q, exact in ((0.50, 500e-6), (0.95, 950e-6), (0.99, 990e-6)):
        assert exact / 1.25 <= s[f"p{round(q * 100)}"] <= exact * 1.25
    assert s["mean"] == pytest.approx(500.5e-6)


def test_empty_and_bad_quantile() -> None:
    h = LatencyHistogram()
    assert h.summary()["p99"] == 0.0
    with pytest.raises(ValueError):
        h.percentile(1.5)


def test_record_many_merge_and_cumulative_buckets() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.record_many([100, 200, 300])
    b.record(5000, count=2)
    a.merge(b)
    assert a.count == 5
    cumulative = a.cumulative_buckets()
    assert cumulative[-1][1] == 5
    assert [n for _, n in cumulative] == sorted(n for _, n in cumulative)
