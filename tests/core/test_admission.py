"""LRUCache frequency tracking and TinyLFU admission (docs/internals.md)."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest

from .test_bloom import ref_fmix64

M64 = 2**64 - 1
OVERHEAD = 64


def ref_fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


class RefTinyLFU:
    """The blocked doorkeeper + count-min sketch of docs/internals.md, spelled out."""

    def __init__(self, max_bytes: int) -> None:
        entries = min(max(max_bytes // 256, 64), 2**24)
        p = 1
        while p < entries:
            p *= 2
        self.nblocks = p // 8
        self.sample = 10 * entries
        self.additions = 0
        self.counters = [[0] * 56 for _ in range(self.nblocks)]
        self.doors = [0] * self.nblocks

    def where(self, key: bytes) -> tuple[int, list[int], list[int]]:
        fh = ref_fmix64((len(key) << 32) | ref_fnv32a(key))
        block = fh & (self.nblocks - 1)
        cells = [14 * r + ((((fh >> (32 + 8 * r)) & 0xFF) * 14) >> 8) for r in range(4)]
        g = (fh * 0x9E3779B97F4A7C15) & M64
        return block, cells, [g >> 58, (g >> 52) & 63, (g >> 46) & 63]

    def estimate(self, key: bytes) -> int:
        block, cells, bits = self.where(key)
        door = all(self.doors[block] >> b & 1 for b in bits)
        return min(self.counters[block][c] for c in cells) + door

    def record(self, key: bytes) -> None:
        block, cells, bits = self.where(key)
        if not all(self.doors[block] >> b & 1 for b in bits):
            for b in bits:
                self.doors[block] |= 1 << b
        else:
            row = self.counters[block]
            m = min(row[c] for c in cells)
            if m < 255:
                for c in cells:
                    if row[c] == m:
                        row[c] = m + 1
        self.additions += 1
        if self.additions >= self.sample:
            self.counters = [[v >> 1 for v in row] for row in self.counters]
            self.doors = [0] * self.nblocks
            self.additions = 0


def raw(key: Any) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


# --- configuration ------------------------------------------------------------------


def test_plain_cache_tracks_nothing(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    assert c.admission is None
    assert c.tracks_frequency is False
    assert c.frequency_stats() is None
    with pytest.raises(ValueError):
        c.frequency("k")


@pytest.mark.parametrize(
    ("max_bytes", "sample"),
    [(1, 640), (1 << 14, 640), (1 << 16, 2560), (100_000, 3900), (1 << 40, 10 * 2**24)],
)
def test_frequency_sample_size(core: ModuleType, max_bytes: int, sample: int) -> None:
    c = core.LRUCache(max_bytes, track_frequency=True)
    assert c.frequency_stats() == {"sample": sample, "additions": 0, "halvings": 0}


def test_frequency_stats_count_additions_and_halvings(core: ModuleType) -> None:
    c = core.LRUCache(1 << 14, track_frequency=True)  # sample 640
    for i in range(639):
        c.get(f"k{i % 50}")
    "k1" in c  # noqa: B015 - not recorded
    c.delete("k1")
    c.frequency("k1")
    assert c.frequency_stats() == {"sample": 640, "additions": 639, "halvings": 0}
    before = c.frequency("k1")
    c.get("k1")
    assert c.frequency_stats() == {"sample": 640, "additions": 0, "halvings": 1}
    assert c.frequency("k1") < before
    c.set("k1", b"v")
    c.set("big", b"x" * 20_000)  # rejected for size: not recorded
    c.set_many({"a": b"1", "b": b"2"})
    c.get_many(["a", "zz"])
    assert c.frequency_stats() == {"sample": 640, "additions": 5, "halvings": 1}


def test_track_frequency_without_admission(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20, track_frequency=True)
    assert (c.admission, c.tracks_frequency) == (None, True)
    assert c.frequency("k") == 0


def test_tinylfu_tracks_frequency(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20, admission="tinylfu")
    assert (c.admission, c.tracks_frequency) == ("tinylfu", True)
    assert c.frequency(b"k") == 0


@pytest.mark.parametrize("admission", ["lru", "TinyLFU", "", 1, True])
def test_bad_admission_names_the_accepted_values(core: ModuleType, admission: Any) -> None:
    with pytest.raises(ValueError, match="tinylfu"):
        core.LRUCache(1 << 20, admission=admission)


def test_frequency_bad_key(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20, track_frequency=True)
    with pytest.raises(TypeError, match="^key must be str or bytes-like, not int$"):
        c.frequency(5)
    with pytest.raises(ValueError):
        c.frequency(b"k" * 65536)


# --- the estimate -------------------------------------------------------------------


def test_doorkeeper_then_counters(core: ModuleType) -> None:
    c = core.LRUCache(1 << 16, track_frequency=True)
    ref = RefTinyLFU(1 << 16)
    assert c.frequency("k") == 0
    for expected in (1, 2, 3, 4):
        c.get("k")  # a miss is recorded too
        ref.record(b"k")
        assert c.frequency("k") == ref.estimate(b"k") == expected


@pytest.mark.parametrize("probe", ["contains", "delete", "frequency", "len", "stats"])
def test_not_recorded(core: ModuleType, probe: str) -> None:
    c = core.LRUCache(1 << 16, track_frequency=True)
    c.set("k", b"v")
    before = c.frequency("k")
    for _ in range(3):
        if probe == "contains":
            assert "k" in c
        elif probe == "delete":
            c.delete("other")
        elif probe == "frequency":
            c.frequency("k")
        elif probe == "len":
            len(c)
        else:
            c.stats()
    assert c.frequency("k") == before == 1


def test_size_rejected_set_is_not_recorded(core: ModuleType) -> None:
    c = core.LRUCache(256, track_frequency=True)
    assert c.set("k", b"x" * 300) is False
    assert c.frequency("k") == 0
    assert c.set("k", b"x")
    assert c.frequency("k") == 1


@pytest.mark.parametrize("key_form", [str, bytes, bytearray, memoryview])
def test_key_forms_share_one_estimate(core: ModuleType, key_form: Any) -> None:
    c = core.LRUCache(1 << 16, track_frequency=True)
    key = "é" if key_form is str else key_form("é".encode())
    c.get(key)
    c.get("é")
    assert c.frequency("é".encode()) == 2


def test_clear_keeps_frequency(core: ModuleType) -> None:
    c = core.LRUCache(1 << 16, admission="tinylfu")
    for _ in range(5):
        c.get("k")
    c.set("k", b"v")
    before = c.frequency("k")
    c.clear()
    assert c.frequency("k") == before == 6


@pytest.mark.parametrize("admission", [None, "tinylfu"])
def test_frequency_matches_reference(core: ModuleType, admission: str | None) -> None:
    """Every recorded access, across the sample reset, as the reference sketch computes."""
    max_bytes = 1 << 14  # 64 entries: 8 blocks, reset every 640 additions
    c = core.LRUCache(max_bytes, admission=admission, track_frequency=True)
    ref = RefTinyLFU(max_bytes)
    rng = random.Random(21)
    keys: list[Any] = [f"k{i}" for i in range(150)] + [b"", "é", "日本"]
    for step in range(3000):
        key = rng.choice(keys)
        op = rng.randrange(8)
        if op == 0:
            value = b"v" * rng.choice([1, 10, 100, 20_000])
            c.set(key, value)
            if len(raw(key)) + len(value) + OVERHEAD <= max_bytes:
                ref.record(raw(key))
        elif op == 1:
            c.get(key)
            ref.record(raw(key))
        elif op == 2:
            with pytest.raises(KeyError):
                c["never-stored"]
            ref.record(b"never-stored")
        elif op == 3:
            batch = rng.sample(keys, 3)
            c.get_many(batch)
            for k in batch:
                ref.record(raw(k))
        elif op == 4:
            batch = rng.sample(keys, 3)
            c.set_many({k: b"w" * 8 for k in batch})
            for k in batch:
                ref.record(raw(k))
        elif op == 5:
            key in c  # noqa: B015
        elif op == 6:
            c.delete(key)
        else:
            assert c.frequency(key) == ref.estimate(raw(key)), step
    assert [c.frequency(k) for k in keys] == [ref.estimate(raw(k)) for k in keys]
    assert max(ref.estimate(raw(k)) for k in keys) >= 3
    c._check_invariants()


def test_counters_saturate_at_255(core: ModuleType) -> None:
    c = core.LRUCache(1 << 30, track_frequency=True)  # sample 41.9M: no reset here
    for _ in range(300):
        c.get("hot")
    assert c.frequency("hot") == 255 + 1


# --- admission --------------------------------------------------------------------


def entry(key: str, value: bytes = b"v" * 36) -> int:
    return len(key.encode()) + len(value) + OVERHEAD


V = b"v" * 36  # entries of keys "a".."z" are 101 bytes


def three_slot_tinylfu(core: ModuleType) -> Any:
    return core.LRUCache(3 * entry("a"), shards=1, admission="tinylfu")


def test_newcomer_rarer_than_victim_is_refused(core: ModuleType) -> None:
    c = three_slot_tinylfu(core)
    for k in "abc":
        c.set(k, V)
    for k in "abc":
        c.get(k)  # frequencies 2; a, b, c move to protected, a is demoted back
    before = c.stats()
    assert c.set("d", V) is False  # estimate(d) = 1 <= estimate(a) = 2
    after = c.stats()
    assert after["admission_rejects"] == before["admission_rejects"] + 1
    assert (after["sets"], after["evictions"], after["rejected"]) == (3, 0, 0)
    assert [k in c for k in "abcd"] == [True, True, True, False]
    assert c.frequency("d") == 1  # the refused set was recorded
    c._check_invariants()


def test_newcomer_more_frequent_than_victim_is_admitted(core: ModuleType) -> None:
    c = three_slot_tinylfu(core)
    for k in "abc":
        c.set(k, V)
    for _ in range(3):
        c.get("d")  # misses, recorded: estimate(d) reaches 3, then 4 at the set
    assert c.set("d", V) is True
    assert [k in c for k in "abcd"] == [False, True, True, True]
    s = c.stats()
    assert (s["admission_rejects"], s["evictions"], s["sets"]) == (0, 1, 4)


def test_equal_estimates_refuse(core: ModuleType) -> None:
    c = three_slot_tinylfu(core)
    for k in "abc":
        c.set(k, V)  # each estimate 1
    assert c.set("d", V) is False  # 1 <= 1
    assert c.stats()["admission_rejects"] == 1


def test_update_of_present_key_is_never_refused(core: ModuleType) -> None:
    c = three_slot_tinylfu(core)
    for k in "abc":
        c.set(k, V)
    for _ in range(5):
        c.get("b")
        c.get("c")
    # "a" is rare; growing it needs an eviction, and that is never refused.
    assert c.set("a", V + b"more") is True
    assert "a" in c
    s = c.stats()
    assert (s["admission_rejects"], s["evictions"]) == (0, 1)


def test_only_the_first_victim_is_compared(core: ModuleType) -> None:
    c = core.LRUCache(4 * entry("a"), shards=1, admission="tinylfu")
    for k in "abcd":
        c.set(k, V)
    for _ in range(4):
        c.get("d")  # d is hot: protected
    for _ in range(3):
        c.get("n")  # newcomer n: estimate 3 before its set, 4 at it
    # probation, least recent first: a, b, c. n needs 2 slots: a is compared
    # (1 < 4) and evicted, then b without comparison.
    big = b"B" * (2 * entry("a") - len("n") - OVERHEAD)
    assert c.set("n", big) is True
    assert [k in c for k in "abcdn"] == [False, False, True, True, True]
    assert c.stats()["evictions"] == 2


def test_victim_is_probation_tail_before_protected(core: ModuleType) -> None:
    c = three_slot_tinylfu(core)
    c.set("a", V)
    c.get("a")  # protected, yet the least recent entry after b and c arrive
    c.set("b", V)
    c.set("c", V)
    for _ in range(3):
        c.get("d")
    assert c.set("d", V) is True  # plain LRU would evict a; SLRU evicts b
    assert [k in c for k in "abcd"] == [True, False, True, True]


def test_protected_overflow_goes_back_to_probation(core: ModuleType) -> None:
    # Protected holds at most 80% of the shard's share: 2 of these 3 entries.
    c = three_slot_tinylfu(core)
    for k in "abc":
        c.set(k, V)
    c.get("a")
    c.get("b")
    c.get("c")  # a (protected's tail) is demoted to probation's head
    for _ in range(5):
        c.get("x")
    assert c.set("x", V) is True  # probation held only a: a is the victim
    assert [k in c for k in "abcx"] == [False, True, True, True]


def test_plain_mode_with_tracking_never_refuses(core: ModuleType) -> None:
    c = core.LRUCache(3 * entry("a"), shards=1, track_frequency=True)
    for k in "abc":
        c.set(k, V)
        for _ in range(5):
            c.get(k)
    assert c.set("d", V) is True
    assert [k in c for k in "abcd"] == [False, True, True, True]
    assert c.stats()["admission_rejects"] == 0


def test_cross_shard_victim_is_compared(core: ModuleType) -> None:
    from .test_lrucache import keys_in_shard

    ks = {s: keys_in_shard(core, 4, s, 1) for s in range(4)}
    size = len(ks[0][0]) + len(V) + OVERHEAD
    c = core.LRUCache(3 * size, shards=4, admission="tinylfu")
    for s in (1, 2, 3):
        c.set(ks[s][0], V)
        c.get(ks[s][0])
    # Own shard 0 is empty; the cross-shard pick (shard 1's, the oldest) has
    # estimate 2, the newcomer 1: refused.
    assert c.set(ks[0][0], V) is False
    assert c.stats()["admission_rejects"] == 1
    for _ in range(3):
        c.get(ks[0][0])
    assert c.set(ks[0][0], V) is True
    assert ks[1][0] not in c
    assert ks[2][0] in c and ks[3][0] in c
    c._check_invariants()
