"""BloomFilter: sizing formulas, specified bit positions, error rates, estimates."""

from __future__ import annotations

import math
from types import ModuleType

import pytest

M64 = 2**64 - 1


def ref_fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & M64
    return h


def ref_fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    return h ^ (h >> 33)


def ref_positions(key: bytes, nbits: int, nhashes: int) -> set[int]:
    h = ref_fmix64(ref_fnv64a(key))
    h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
    return {((h1 + i * h2) & M64) % nbits for i in range(nhashes)}


def ref_sizing(capacity: int, error_rate: float) -> tuple[int, int]:
    nbits = math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)
    nbits = -(-nbits // 64) * 64
    return nbits, max(1, math.floor(nbits / capacity * math.log(2) + 0.5))


@pytest.mark.parametrize(
    ("capacity", "error_rate"),
    [(1, 0.5), (1, 0.01), (10, 0.1), (1000, 0.01), (12345, 0.001), (10**6, 0.05), (3, 0.999)],
)
def test_sizing_formulas(core: ModuleType, capacity: int, error_rate: float) -> None:
    bf = core.BloomFilter(capacity, error_rate)
    assert (bf.nbits, bf.nhashes) == ref_sizing(capacity, error_rate)
    assert bf.nbits % 64 == 0
    assert bf.capacity == capacity
    assert bf.error_rate == error_rate


def test_sizing_known_values(core: ModuleType) -> None:
    bf = core.BloomFilter(1000, 0.01)  # ceil(9585.06) = 9586 -> 9600 bits; 9.6 * ln 2 -> 7
    assert (bf.nbits, bf.nhashes) == (9600, 7)
    bf = core.BloomFilter(1, 0.5)  # ceil(1 / ln 2) = 2 -> 64 bits; 64 * ln 2 -> 44
    assert (bf.nbits, bf.nhashes) == (64, 44)
    assert core.BloomFilter(100).error_rate == 0.01


def test_bit_positions_are_specified(core: ModuleType) -> None:
    """Membership in a small filter is exactly what the specified positions imply."""
    bf = core.BloomFilter(8, 0.5)
    nbits, nhashes = bf.nbits, bf.nhashes
    added = [b"alpha", b"beta", b"gamma"]
    union: set[int] = set()
    for key in added:
        bf.add(key)
        union |= ref_positions(key, nbits, nhashes)
        assert bf.bits_set == len(union)
    for i in range(500):
        probe = f"probe{i}".encode()
        assert (probe in bf) == (ref_positions(probe, nbits, nhashes) <= union), probe


def test_add_returns_whether_all_bits_were_set(core: ModuleType) -> None:
    bf = core.BloomFilter(1000, 0.01)
    assert bf.add("k") is False
    assert bf.add("k") is True
    assert bf.add(b"k") is True
    assert bf.bits_set == len(ref_positions(b"k", bf.nbits, bf.nhashes))


def test_str_and_bytes_keys_agree(core: ModuleType) -> None:
    bf = core.BloomFilter(1000, 0.01)
    bf.add("é")
    assert "é".encode() in bf
    assert bytearray("é".encode()) in bf
    assert memoryview("é".encode()) in bf
    bf.add(bytearray(b"raw"))
    assert "raw" in bf


def test_no_false_negatives(core: ModuleType) -> None:
    bf = core.BloomFilter(20_000, 0.01)
    keys = [f"key:{i}" for i in range(20_000)]
    for key in keys[:10_000]:
        bf.add(key)
    bf.add_many(keys[10_000:])
    assert all(key in bf for key in keys)
    assert all(key.encode() in bf for key in keys[::7])


def test_add_many_equals_repeated_add(core: ModuleType) -> None:
    one, many = core.BloomFilter(500, 0.01), core.BloomFilter(500, 0.01)
    keys = [f"k{i}" for i in range(300)]
    for key in keys:
        one.add(key)
    many.add_many(iter(keys))
    assert one.bits_set == many.bits_set
    assert one.approx_count == many.approx_count
    probes = [f"x{i}" for i in range(2000)]
    assert [p in one for p in probes] == [p in many for p in probes]


@pytest.mark.parametrize("error_rate", [0.01, 0.001])
def test_false_positive_rate_at_capacity(core: ModuleType, error_rate: float) -> None:
    capacity, probes = 100_000, 200_000
    bf = core.BloomFilter(capacity, error_rate)
    bf.add_many([f"in:{i}" for i in range(capacity)])
    measured = sum(f"out:{i}" in bf for i in range(probes)) / probes
    assert error_rate / 1.5 <= measured <= error_rate * 1.5
    assert measured == pytest.approx(bf.estimated_fp_rate, rel=0.2)
    assert bf.approx_count == pytest.approx(capacity, rel=0.02)


@pytest.mark.parametrize("n", [1, 100, 1000, 5000, 20_000])
def test_approx_count(core: ModuleType, n: int) -> None:
    bf = core.BloomFilter(10_000, 0.01)
    assert bf.approx_count == 0
    bf.add_many(f"k{i}" for i in range(n))
    bf.add_many(f"k{i}" for i in range(0, n, 3))  # duplicates do not count
    assert abs(bf.approx_count - n) <= max(1, 0.03 * n)
    assert type(bf.approx_count) is int
    expected = round(-(bf.nbits / bf.nhashes) * math.log(1 - bf.bits_set / bf.nbits))
    assert bf.approx_count == expected


def test_estimated_fp_rate_formula(core: ModuleType) -> None:
    bf = core.BloomFilter(1000, 0.01)
    assert bf.estimated_fp_rate == 0.0
    bf.add_many(f"k{i}" for i in range(700))
    assert bf.estimated_fp_rate == pytest.approx((bf.bits_set / bf.nbits) ** bf.nhashes)
    assert 0 < bf.estimated_fp_rate < 0.01


def test_saturated_filter(core: ModuleType) -> None:
    bf = core.BloomFilter(1, 0.5)  # 64 bits
    i = 0
    while bf.bits_set < bf.nbits:
        bf.add(f"k{i}")
        i += 1
        assert i < 10_000
    assert bf.approx_count == bf.nbits
    assert bf.estimated_fp_rate == 1.0
    assert "anything" in bf
    assert bf.add("anything else") is True


def test_clear(core: ModuleType) -> None:
    bf = core.BloomFilter(1000, 0.01)
    bf.add_many(f"k{i}" for i in range(500))
    bf.clear()
    assert bf.bits_set == 0
    assert bf.approx_count == 0
    assert bf.estimated_fp_rate == 0.0
    assert not any(f"k{i}" in bf for i in range(500))
    assert bf.add("k1") is False
    assert (bf.nbits, bf.capacity) == (9600, 1000)


@pytest.mark.parametrize("error_rate", [0, 0.0, 1, 1.0, -0.1, 1.5, math.nan, math.inf])
def test_bad_error_rate(core: ModuleType, error_rate: float) -> None:
    with pytest.raises(ValueError):
        core.BloomFilter(100, error_rate)


@pytest.mark.parametrize("capacity", [0, -1, -1000, 1.5, 100.0, "100"])
def test_bad_capacity(core: ModuleType, capacity: int) -> None:
    with pytest.raises(ValueError):
        core.BloomFilter(capacity)


@pytest.mark.parametrize("key", [None, 3, 2.5, ["k"]], ids=lambda k: type(k).__name__)
def test_bad_key_type(core: ModuleType, key: object) -> None:
    bf = core.BloomFilter(100)
    with pytest.raises(TypeError):
        bf.add(key)
    with pytest.raises(TypeError):
        key in bf  # noqa: B015
    with pytest.raises(TypeError):
        bf.add_many([key])
    assert bf.bits_set == 0


def test_key_length_limit(core: ModuleType) -> None:
    bf = core.BloomFilter(100)
    with pytest.raises(ValueError):
        bf.add(b"k" * 65536)
    with pytest.raises(ValueError):
        b"k" * 65536 in bf  # noqa: B015
    assert bf.add(b"k" * 65535) is False
    assert b"k" * 65535 in bf


def test_bad_key_in_add_many_adds_nothing(core: ModuleType) -> None:
    bf = core.BloomFilter(100)
    with pytest.raises(TypeError):
        bf.add_many(["a", "b", None])
    with pytest.raises(ValueError):
        bf.add_many(["a", b"k" * 65536])
    assert bf.bits_set == 0
