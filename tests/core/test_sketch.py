"""CountMinSketch: conservative update, halving, saturation, sizing."""

from __future__ import annotations

import random
from collections import Counter
from types import ModuleType

import pytest

from .test_bloom import ref_fmix64, ref_fnv64a

M64 = 2**64 - 1
U32_MAX = 2**32 - 1


class RefSketch:
    """docs/internals.md's sketch, spelled out: the reference for exact comparisons."""

    def __init__(self, width: int, depth: int, halve_every: int = 0) -> None:
        self.width, self.depth, self.halve_every = width, depth, halve_every
        self.rows = [[0] * width for _ in range(depth)]
        self.total = 0
        self.halvings = 0

    def cells(self, key: bytes) -> list[int]:
        h = ref_fmix64(ref_fnv64a(key))
        h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
        return [((h1 + i * h2) & M64) & (self.width - 1) for i in range(self.depth)]

    def estimate(self, key: bytes) -> int:
        return min(row[c] for row, c in zip(self.rows, self.cells(key), strict=True))

    def add(self, key: bytes, count: int) -> int:
        new = min(self.estimate(key) + count, U32_MAX)
        for row, c in zip(self.rows, self.cells(key), strict=True):
            row[c] = max(row[c], new)
        self.total += count
        if self.halve_every and self.total >= self.halve_every:
            self.halve()
        return self.estimate(key)

    def halve(self) -> None:
        self.rows = [[v >> 1 for v in row] for row in self.rows]
        self.total //= 2
        self.halvings += 1


@pytest.mark.parametrize(
    ("width", "expected"),
    [(1, 16), (15, 16), (16, 16), (17, 32), (100, 128), (1024, 1024), (1025, 2048)],
)
def test_width_rounding(core: ModuleType, width: int, expected: int) -> None:
    cms = core.CountMinSketch(width)
    assert cms.width == expected
    assert cms.depth == 4
    assert cms.halve_every == 0
    assert (cms.total, cms.halvings) == (0, 0)


def test_properties(core: ModuleType) -> None:
    cms = core.CountMinSketch(64, 7, halve_every=1000)
    assert (cms.width, cms.depth, cms.halve_every) == (64, 7, 1000)


def test_add_and_estimate(core: ModuleType) -> None:
    cms = core.CountMinSketch(1024)
    assert cms.estimate("a") == 0
    assert cms.add("a") == 1
    assert cms.add("a", 5) == 6
    assert cms.estimate(b"a") == 6
    assert cms.add(bytearray(b"a"), 0) == 6
    assert cms.total == 6


def test_str_and_bytes_keys_agree(core: ModuleType) -> None:
    cms = core.CountMinSketch(256)
    cms.add("é", 3)
    assert cms.estimate("é".encode()) == 3
    assert cms.estimate(memoryview("é".encode())) == 3


def test_estimate_never_below_true_count(core: ModuleType) -> None:
    rng = random.Random(5)
    cms = core.CountMinSketch(64, 3)  # narrow: many collisions
    truth: Counter[str] = Counter()
    for _ in range(5000):
        key = f"k{int(rng.paretovariate(1.0)) % 400}"
        count = rng.randrange(1, 4)
        truth[key] += count
        assert cms.add(key, count) >= truth[key]
    assert all(cms.estimate(k) >= n for k, n in truth.items())
    assert cms.total == sum(truth.values())


@pytest.mark.parametrize(("width", "depth"), [(16, 1), (16, 4), (64, 3), (128, 16)])
def test_conservative_update_matches_reference(core: ModuleType, width: int, depth: int) -> None:
    rng = random.Random(width * 100 + depth)
    cms, ref = core.CountMinSketch(width, depth), RefSketch(width, depth)
    keys = [f"key{i}".encode() for i in range(300)]
    for _ in range(2000):
        key = rng.choice(keys)
        count = rng.randrange(0, 5)
        assert cms.add(key, count) == ref.add(key, count)
    assert [cms.estimate(k) for k in keys] == [ref.estimate(k) for k in keys]


def test_conservative_update_is_not_plain_count_min(core: ModuleType) -> None:
    """A conservative sketch never raises a row counter above the key's new estimate."""
    cms, ref = core.CountMinSketch(16, 2), RefSketch(16, 2)
    keys = [f"c{i}".encode() for i in range(200)]
    plain = [[0] * 16 for _ in range(2)]
    for key in keys:
        cms.add(key)
        ref.add(key, 1)
        for row, c in zip(plain, ref.cells(key), strict=True):
            row[c] += 1
    plain_estimates = [min(r[c] for r, c in zip(plain, ref.cells(k), strict=True)) for k in keys]
    estimates = [cms.estimate(k) for k in keys]
    assert estimates == [ref.estimate(k) for k in keys]
    assert all(e <= p for e, p in zip(estimates, plain_estimates, strict=True))
    assert sum(estimates) < sum(plain_estimates)


def test_halve(core: ModuleType) -> None:
    cms = core.CountMinSketch(256)
    cms.add("a", 10)
    cms.add("b", 7)
    cms.halve()
    assert (cms.estimate("a"), cms.estimate("b")) == (5, 3)
    assert (cms.total, cms.halvings) == (8, 1)
    cms.halve()
    assert (cms.estimate("a"), cms.estimate("b"), cms.total, cms.halvings) == (2, 1, 4, 2)


def test_halve_every(core: ModuleType) -> None:
    cms = core.CountMinSketch(256, halve_every=100)
    assert cms.add("a", 99) == 99
    assert cms.halvings == 0
    assert cms.add("a") == 50  # total reached 100: halved before returning
    assert (cms.total, cms.halvings) == (50, 1)
    assert cms.add("b", 49) == 49
    assert cms.halvings == 1
    assert cms.add("b", 1) == 25  # total 100 again
    assert (cms.total, cms.halvings, cms.estimate("a")) == (50, 2, 25)


def test_halve_every_matches_reference(core: ModuleType) -> None:
    rng = random.Random(11)
    cms, ref = core.CountMinSketch(32, 4, halve_every=500), RefSketch(32, 4, 500)
    for _ in range(3000):
        key = f"k{rng.randrange(60)}".encode()
        count = rng.randrange(1, 20)
        assert cms.add(key, count) == ref.add(key, count)
    assert (cms.total, cms.halvings) == (ref.total, ref.halvings)
    assert ref.halvings > 10


def test_saturation(core: ModuleType) -> None:
    cms = core.CountMinSketch(64)
    assert cms.add("k", U32_MAX - 10) == U32_MAX - 10
    assert cms.add("k", 100) == U32_MAX
    assert cms.add("k", U32_MAX) == U32_MAX
    assert cms.estimate("k") == U32_MAX
    assert cms.total == (U32_MAX - 10) + 100 + U32_MAX
    cms.halve()
    assert cms.estimate("k") == U32_MAX >> 1


def test_clear(core: ModuleType) -> None:
    cms = core.CountMinSketch(64, halve_every=10_000)
    for i in range(100):
        cms.add(f"k{i}", 3)
    cms.clear()
    assert cms.total == 0
    assert all(cms.estimate(f"k{i}") == 0 for i in range(100))
    assert (cms.width, cms.depth, cms.halve_every) == (64, 4, 10_000)
    assert cms.add("k1") == 1


@pytest.mark.parametrize("width", [0, -1, -16, 16.0, "16"])
def test_bad_width(core: ModuleType, width: int) -> None:
    with pytest.raises(ValueError):
        core.CountMinSketch(width)


@pytest.mark.parametrize("depth", [0, -1, 17, 100, 2.0])
def test_bad_depth(core: ModuleType, depth: int) -> None:
    with pytest.raises(ValueError):
        core.CountMinSketch(64, depth)


def test_depth_bounds_accepted(core: ModuleType) -> None:
    assert core.CountMinSketch(64, 1).depth == 1
    assert core.CountMinSketch(64, 16).depth == 16


@pytest.mark.parametrize("halve_every", [-1, 10.0])
def test_bad_halve_every(core: ModuleType, halve_every: object) -> None:
    with pytest.raises(ValueError):
        core.CountMinSketch(64, halve_every=halve_every)


def test_negative_count(core: ModuleType) -> None:
    cms = core.CountMinSketch(64)
    with pytest.raises(ValueError):
        cms.add("k", -1)
    with pytest.raises(ValueError):
        cms.add("k", 2**32)
    assert (cms.estimate("k"), cms.total) == (0, 0)


def test_key_length_limit(core: ModuleType) -> None:
    cms = core.CountMinSketch(64)
    with pytest.raises(ValueError):
        cms.add(b"k" * 65536)
    with pytest.raises(ValueError):
        cms.estimate(b"k" * 65536)
    assert cms.add(b"k" * 65535) == 1


@pytest.mark.parametrize("key", [None, 3, 2.5], ids=lambda k: type(k).__name__)
def test_bad_key_type(core: ModuleType, key: object) -> None:
    cms = core.CountMinSketch(64)
    with pytest.raises(TypeError):
        cms.add(key)
    with pytest.raises(TypeError):
        cms.estimate(key)
    assert cms.total == 0
