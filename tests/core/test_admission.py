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


@pytest.mark.parametrize("admission", ["bogus", "lru", "TinyLFU", "", 1, True])
def test_bad_admission_names_the_accepted_values(core: ModuleType, admission: Any) -> None:
    with pytest.raises(ValueError, match="tinylfu") as info:
        core.LRUCache(1 << 20, admission=admission)
    assert "None" in str(info.value)


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


@pytest.mark.parametrize("version", [0, 2**64 - 1, 4])
@pytest.mark.parametrize("admission", [None, "tinylfu"])
def test_saturated_hits_match_reference_across_halvings(
    core: ModuleType, admission: str | None, version: int
) -> None:
    """A hit of a saturated key skips the sketch (its entry keeps the period's tag,
    csrc/tinylfu.h) yet counts, and after each halving its counters rise again,
    exactly as the reference computes. The tag shares the entry's flags with
    the version's flag: writing one keeps the other."""
    max_bytes = 1 << 14  # sample 640: 20 halvings below
    c = core.LRUCache(max_bytes, admission=admission, track_frequency=True)
    ref = RefTinyLFU(max_bytes)
    for key in ("hot", "warm"):
        c.set(key, b"v", version=version)
        ref.record(key.encode())
    rng = random.Random(8)
    seen = set()
    for step in range(20 * 640):
        r = rng.random()
        key = "hot" if r < 0.7 else "warm" if r < 0.85 else f"cold{rng.randrange(40)}"
        assert (c.get(key) is None) == key.startswith("cold"), step
        ref.record(key.encode())
        estimate = c.frequency(key)
        assert estimate == ref.estimate(key.encode()), (step, key)
        seen.add(estimate)
    assert 256 in seen and 128 in seen  # saturated, then halved and raised again
    assert c.frequency_stats()["halvings"] == 20
    assert [c.version_of("hot"), c.version_of("warm")] == [version, version]
    assert c.get_versioned("hot") == (b"v", version)
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


# --- exact traces ---------------------------------------------------------------------
#
# The keys below come from a `Keys` picker that hands out keys whose frequency
# blocks all differ: no two share a counter or a doorkeeper word, so a key's
# estimate is exactly its number of recorded accesses (up to saturation and
# halving) and every admission decision is known in advance.


class Keys:
    """Equally long str keys with a frequency block each, in a chosen shard."""

    def __init__(self, max_bytes: int, shards: int = 1) -> None:
        self.ref = RefTinyLFU(max_bytes)
        self.shards = shards
        self.used: set[int] = set()
        self.next = 0

    def __call__(self, n: int, shard: int = 0) -> list[str]:
        found: list[str] = []
        while len(found) < n:
            key = f"k{self.next:05d}"
            self.next += 1
            block = self.ref.where(key.encode())[0]
            if ref_fnv32a(key.encode()) & (self.shards - 1) == shard and block not in self.used:
                self.used.add(block)
                found.append(key)
        return found

    def one(self, shard: int = 0) -> str:
        return self(1, shard)[0]


@pytest.fixture(params=[30_000, 70_000], ids=["small", "large"])
def slot(request: pytest.FixtureRequest) -> int:
    """Bytes charged per entry in a trace: values below distcache._core's
    LARGE_VALUE (32 KiB, built under the shard lock) and above it (built before)."""
    return request.param


def value_for(key: str, slot: int, slots: int = 1) -> bytes:
    """A value that makes key's entry exactly slots * slot bytes."""
    return b"v" * (slots * slot - len(key) - OVERHEAD)


def seen(c: Any, key: str, times: int) -> None:
    """Record `times` accesses of key with gets (misses while it is absent)."""
    for _ in range(times):
        c.get(key)


def stored(c: Any, keys: list[str]) -> list[str]:
    return [k for k in keys if k in c]


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The counters of stats() that changed (items and nbytes aside)."""
    return {
        k: after[k] - before[k]
        for k in after
        if after[k] != before[k] and k not in ("items", "nbytes")
    }


def check(c: Any) -> None:
    c._check_invariants()
    assert c.nbytes <= c.max_bytes
    assert c.stats()["items"] == len(c)


@pytest.mark.parametrize(
    ("max_bytes", "sample"), [(300, 640), (16_640, 650), (25_600, 1000), (40_000, 1560)]
)
def test_halving_forgets_single_sightings(core: ModuleType, max_bytes: int, sample: int) -> None:
    """The sample-th recorded access halves every counter and clears the doorkeeper:
    estimates 1, 3, 9 become 0, 1, 4; the next period starts from 0 additions."""
    c = core.LRUCache(max_bytes, track_frequency=True, shards=1)
    once, thrice, hot, filler = Keys(max_bytes)(4)
    seen(c, once, 1)
    seen(c, thrice, 3)
    seen(c, hot, 9)
    seen(c, filler, sample - 14)
    assert (c.frequency(once), c.frequency(thrice), c.frequency(hot)) == (1, 3, 9)
    assert c.frequency(filler) == min(sample - 14, 256)
    c.get(filler)
    assert (c.frequency(once), c.frequency(thrice), c.frequency(hot)) == (0, 1, 4)
    assert c.frequency(filler) == min(sample - 14, 255) >> 1
    c.get(once)
    c.get(hot)
    assert (c.frequency(once), c.frequency(hot)) == (1, 5)
    seen(c, filler, sample - 3)
    assert (c.frequency(once), c.frequency(hot)) == (1, 5)
    c.get(hot)  # counters 0 and 5, halved
    assert (c.frequency(once), c.frequency(hot)) == (0, 2)


def test_tracking_without_admission_is_a_plain_lru(core: ModuleType) -> None:
    """track_frequency=True changes no answer, eviction or counter of a plain cache."""
    rng = random.Random(7)
    plain = core.LRUCache(3000, shards=4)
    tracking = core.LRUCache(3000, shards=4, track_frequency=True)
    keys = [f"key{i}" for i in range(60)]
    for _ in range(3000):
        key = rng.choice(keys)
        op = rng.random()
        if op < 0.45:
            value = b"x" * rng.randrange(0, 400)
            assert plain.set(key, value) == tracking.set(key, value)
        elif op < 0.85:
            assert plain.get(key) == tracking.get(key)
        elif op < 0.95:
            ks = rng.sample(keys, 4)
            assert plain.get_many(ks) == tracking.get_many(ks)
        else:
            assert plain.delete(key) == tracking.delete(key)
        assert plain.stats() == tracking.stats()
    assert [k for k in keys if k in plain] == [k for k in keys if k in tracking]
    stats = tracking.stats()
    assert stats["evictions"] > 100 and stats["hits"] > 100
    assert stats["admission_rejects"] == 0
    assert max(tracking.frequency(k) for k in keys) > 1


@pytest.mark.parametrize("prior", range(8))
def test_newcomer_must_beat_the_victim(core: ModuleType, slot: int, prior: int) -> None:
    """The newcomer's estimate, its own set included, against the victim's (5): up
    to a tie it is refused with nothing evicted, above it evicts the victim."""
    c = core.LRUCache(3 * slot, shards=1, admission="tinylfu")
    victim, b, d, newcomer = Keys(3 * slot)(4)
    seen(c, victim, 4)
    for k in (victim, b, d):
        assert c.set(k, value_for(k, slot))
    assert c.frequency(victim) == 5
    seen(c, newcomer, prior)
    before = c.stats()
    admitted = c.set(newcomer, value_for(newcomer, slot))
    assert c.frequency(newcomer) == prior + 1
    assert admitted is (prior + 1 > 5)
    if admitted:
        assert delta(before, c.stats()) == {"sets": 1, "evictions": 1}
        assert stored(c, [victim, b, d, newcomer]) == [b, d, newcomer]
    else:
        assert delta(before, c.stats()) == {"admission_rejects": 1}
        assert stored(c, [victim, b, d, newcomer]) == [victim, b, d]
        assert c.nbytes == before["nbytes"]
    check(c)


def test_refused_newcomer_is_admitted_once_asked_for_enough(core: ModuleType, slot: int) -> None:
    c = core.LRUCache(2 * slot, shards=1, admission="tinylfu")
    victim, other, newcomer = Keys(2 * slot)(3)
    seen(c, victim, 2)
    c.set(victim, value_for(victim, slot))
    c.set(other, value_for(other, slot))
    results = [c.set(newcomer, value_for(newcomer, slot)) for _ in range(4)]
    assert results == [False, False, False, True]  # estimates 1, 2, 3, then 4 > 3
    assert c.stats()["admission_rejects"] == 3
    assert stored(c, [victim, other, newcomer]) == [other, newcomer]


def test_newcomer_that_fits_is_not_compared(core: ModuleType, slot: int) -> None:
    c = core.LRUCache(3 * slot, shards=1, admission="tinylfu")
    a, b, newcomer = Keys(3 * slot)(3)
    for k in (a, b):
        seen(c, k, 20)
        c.set(k, value_for(k, slot))
    assert c.set(newcomer, value_for(newcomer, slot)) is True
    assert c.stats()["admission_rejects"] == 0
    assert stored(c, [a, b, newcomer]) == [a, b, newcomer]


def test_a_frequent_second_victim_is_not_compared(core: ModuleType, slot: int) -> None:
    """A newcomer needing two evictions beats the first victim (1 < 3): the second,
    more frequent than the newcomer, is evicted without a comparison."""
    c = core.LRUCache(4 * slot, shards=1, admission="tinylfu")
    rare, frequent, c3, c4, newcomer = Keys(4 * slot)(5)
    seen(c, frequent, 20)
    for k in (rare, frequent, c3, c4):
        c.set(k, value_for(k, slot))
    seen(c, newcomer, 2)
    before = c.stats()
    assert c.set(newcomer, value_for(newcomer, slot, 2)) is True
    assert delta(before, c.stats()) == {"sets": 1, "evictions": 2}
    assert stored(c, [rare, frequent, c3, c4, newcomer]) == [c3, c4, newcomer]
    check(c)


def test_a_frequent_first_victim_refuses_a_big_newcomer(core: ModuleType, slot: int) -> None:
    """A newcomer needing two evictions is refused by the first victim alone."""
    c = core.LRUCache(4 * slot, shards=1, admission="tinylfu")
    frequent, rare, c3, c4, newcomer = Keys(4 * slot)(5)
    seen(c, frequent, 20)
    for k in (frequent, rare, c3, c4):
        c.set(k, value_for(k, slot))
    seen(c, newcomer, 2)
    before = c.stats()
    assert c.set(newcomer, value_for(newcomer, slot, 2)) is False
    assert delta(before, c.stats()) == {"admission_rejects": 1}
    assert stored(c, [frequent, rare, c3, c4, newcomer]) == [frequent, rare, c3, c4]
    check(c)


@pytest.mark.parametrize("prior", [2, 4])
def test_cross_shard_compares_the_oldest_tail(core: ModuleType, slot: int, prior: int) -> None:
    """Shards 1, 2, 3 are scanned; the victim compared is the tail with the oldest
    stamp (shard 2's, estimate 4), not the first tail met (shard 1's, estimate 1)."""
    c = core.LRUCache(3 * slot, shards=4, admission="tinylfu")
    keys = Keys(3 * slot, shards=4)
    oldest, rare1, rare3, newcomer = (keys.one(shard=s) for s in (2, 1, 3, 0))
    seen(c, oldest, 3)
    for k in (oldest, rare1, rare3):  # stamps in this order
        c.set(k, value_for(k, slot))
    seen(c, newcomer, prior)
    admitted = c.set(newcomer, value_for(newcomer, slot))
    assert admitted is (prior + 1 > 4)
    expected = [rare1, rare3, newcomer] if admitted else [oldest, rare1, rare3]
    assert stored(c, [oldest, rare1, rare3, newcomer]) == expected
    check(c)


def test_cross_shard_victim_from_protected(core: ModuleType, slot: int) -> None:
    """A shard whose probation list is empty offers protected's tail."""
    max_bytes = 5 * slot // 2  # shards=2: share 1.25 slots, whose 80% is one slot
    c = core.LRUCache(max_bytes, shards=2, admission="tinylfu")
    keys = Keys(max_bytes, shards=2)
    protected, newcomer = keys.one(shard=1), keys.one(shard=0)
    c.set(protected, value_for(protected, slot))
    assert c.get(protected) is not None
    assert c.set(newcomer, value_for(newcomer, slot, 2)) is False  # 1 <= 2
    seen(c, newcomer, 1)
    assert c.set(newcomer, value_for(newcomer, slot, 2)) is True  # 3 > 2
    assert stored(c, [protected, newcomer]) == [newcomer]
    assert c.stats()["evictions"] == 1
    check(c)


def test_set_many_decides_item_by_item(core: ModuleType, slot: int) -> None:
    c = core.LRUCache(2 * slot, shards=1, admission="tinylfu")
    a, b, rare, frequent = Keys(2 * slot)(4)
    seen(c, a, 3)
    c.set(a, value_for(a, slot))
    c.set(b, value_for(b, slot))
    seen(c, frequent, 5)
    before = c.stats()
    c.set_many({rare: value_for(rare, slot), frequent: value_for(frequent, slot)})
    # rare: 1 <= 4 (a's), refused; frequent: 6 > 4, evicts a.
    assert delta(before, c.stats()) == {"admission_rejects": 1, "sets": 1, "evictions": 1}
    assert stored(c, [a, b, rare, frequent]) == [b, frequent]
    check(c)


# --- segmented LRU, exactly -------------------------------------------------------------


def admit_all(c: Any, keys: list[str], slot: int, start: int) -> None:
    """Set each key after enough gets to beat any victim before it: the i-th
    newcomer's estimate is start + i + 1."""
    for i, k in enumerate(keys):
        seen(c, k, start + i)
        assert c.set(k, value_for(k, slot)) is True, k


def test_a_hit_key_outlives_a_stream_of_newcomers(core: ModuleType, slot: int) -> None:
    """Victims come from probation first: a key hit once survives any number of
    admitted newcomers; a plain LRU evicts it for the fourth."""
    hit, *stream = Keys(4 * slot)(13)
    lost_at = {}
    for admission in (None, "tinylfu"):
        c = core.LRUCache(4 * slot, shards=1, admission=admission)
        c.set(hit, value_for(hit, slot))
        c.get(hit)
        lost_at[admission] = None
        for i, k in enumerate(stream):
            seen(c, k, i + 1)
            assert c.set(k, value_for(k, slot)) is True
            if lost_at[admission] is None and hit not in c:
                lost_at[admission] = i
        check(c)
    assert lost_at == {None: 3, "tinylfu": None}


def test_protected_hit_moves_to_protected_head(core: ModuleType, slot: int) -> None:
    """6 slots, protected cap 4.8. Hits a, b, a, c, d, e: protected is then
    e d c a b, 5 slots, and its tail b goes back to probation (not a, hit again)."""
    c = core.LRUCache(6 * slot, shards=1, admission="tinylfu")
    keys = Keys(6 * slot)
    a, b, cc, d, e, f = keys(6)
    for k in (a, b, cc, d, e, f):
        c.set(k, value_for(k, slot))
    for k in (a, b, a, cc, d, e):
        c.get(k)
    n1, n2, n3 = keys(3)
    admit_all(c, [n1], slot, 4)
    assert stored(c, [a, b, cc, d, e, f]) == [a, b, cc, d, e]  # probation was b f
    admit_all(c, [n2], slot, 6)
    assert stored(c, [a, b, cc, d, e, f]) == [a, cc, d, e]  # probation was n1 b
    admit_all(c, [n3], slot, 7)
    assert stored(c, [a, cc, d, e, n1, n2, n3]) == [a, cc, d, e, n2, n3]
    check(c)


def test_protected_overflow_goes_to_probation_head(core: ModuleType, slot: int) -> None:
    """Probation holds f; hits on a b c d e overflow protected by a, which goes to
    probation's head: the victims are f, then a, and only then the newcomers."""
    c = core.LRUCache(6 * slot, shards=1, admission="tinylfu")
    keys = Keys(6 * slot)
    a, b, cc, d, e, f = keys(6)
    for k in (a, b, cc, d, e, f):
        c.set(k, value_for(k, slot))
    for k in (a, b, cc, d):
        c.get(k)  # protected d c b a: 4 slots <= 4.8
    c.get(e)  # e d c b a: 5 slots > 4.8, a goes to probation's head, after f
    n1, n2, n3 = keys(3)
    evicted: list[str] = []
    for i, n in enumerate((n1, n2, n3)):
        before = set(stored(c, [a, b, cc, d, e, f, n1, n2]))
        admit_all(c, [n], slot, 3 + 2 * i)
        evicted += sorted(before - set(stored(c, [a, b, cc, d, e, f, n1, n2])))
    assert evicted == [f, a, n1]
    check(c)


def test_protected_holds_exactly_80_percent(core: ModuleType, slot: int) -> None:
    """5 slots: the cap is 4 slots, and 4 protected entries stay (demotion is for > 80%)."""
    c = core.LRUCache(5 * slot, shards=1, admission="tinylfu")
    keys = Keys(5 * slot)
    a, b, cc, d, e = keys(5)
    for k in (a, b, cc, d, e):
        c.set(k, value_for(k, slot))
    for k in (a, b, cc, d):
        c.get(k)
    stream = keys(4)
    admit_all(c, stream, slot, 2)
    assert stored(c, [a, b, cc, d, e, *stream]) == [a, b, cc, d, stream[-1]]
    admit_all(c, keys(1), slot, 8)
    assert stored(c, [a, b, cc, d]) == [a, b, cc, d]
    check(c)


def test_protected_cap_is_on_the_shard_share(core: ModuleType, slot: int) -> None:
    """The cap is 80% of max_bytes // shards, not of the shard's current bytes: in a
    nearly empty cache three hit entries of shard 0 all stay protected, and a
    stream of newcomers into shard 0 evicts only newcomers."""
    max_bytes = 20 * slot  # shards=2: share 10 slots, cap 8
    c = core.LRUCache(max_bytes, shards=2, admission="tinylfu")
    keys = Keys(max_bytes, shards=2)
    hit = keys(3, shard=0)
    for k in hit:
        c.set(k, value_for(k, slot))
        c.get(k)
    stream = keys(20, shard=0)
    admit_all(c, stream, slot, 1)
    assert c.stats()["evictions"] == 3
    assert stored(c, hit) == hit
    assert stored(c, stream) == stream[3:]
    check(c)


def test_protected_overflows_the_shard_share(core: ModuleType, slot: int) -> None:
    """shards=2, 10 slots: each shard's protected holds 4 slots (80% of 5), however
    empty the other shard; the fifth hit entry of shard 0 demotes the first."""
    max_bytes = 10 * slot
    c = core.LRUCache(max_bytes, shards=2, admission="tinylfu")
    keys = Keys(max_bytes, shards=2)
    hit = keys(5, shard=0)
    for k in hit:
        c.set(k, value_for(k, slot))
        c.get(k)
    stream = keys(6, shard=0)
    admit_all(c, stream, slot, 2)
    assert stored(c, hit) == hit[1:]
    assert stored(c, stream) == stream
    check(c)


# --- scan resistance ------------------------------------------------------------------------

SCAN_ENTRY = 1024
SCAN_BUDGET = 128 * SCAN_ENTRY


def scan(core: ModuleType, admission: str | None) -> tuple[int, dict[str, int]]:
    """A hot set of half the budget, asked for 4 times each, then one pass over cold
    keys of 10x the budget, each a miss then a set (read-through). Returns how
    many of the 64 hot keys were lost, and the stats."""
    c = core.LRUCache(SCAN_BUDGET, admission=admission)  # default shards: 16
    hot = [f"hot:{i:04d}" for i in range(64)]
    for k in hot:
        c.set(k, b"h" * (SCAN_ENTRY - len(k) - OVERHEAD))
    for _ in range(3):
        for k in hot:
            assert c.get(k) is not None
    for i in range(10 * SCAN_BUDGET // SCAN_ENTRY):
        k = f"cold:{i:05d}"
        assert c.get(k) is None
        c.set(k, b"c" * (SCAN_ENTRY - len(k) - OVERHEAD))
    check(c)
    return sum(k not in c for k in hot), c.stats()


def test_scan_resistance(core: ModuleType) -> None:
    """One pass over cold keys of 10x the budget evicts at most 10% of a hot set
    with admission; a plain LRU loses more than 90% of it."""
    lost, stats = scan(core, "tinylfu")
    assert lost <= 64 // 10, (lost, stats)
    assert stats["admission_rejects"] > 0
    lost, stats = scan(core, None)
    assert lost > 64 * 9 // 10, (lost, stats)


# --- invariants under random operations ---------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("max_bytes", "shards"), [(700, 1), (2000, 2), (5000, 16), (40_000, 4)])
def test_admission_keeps_invariants(
    core: ModuleType, max_bytes: int, shards: int, seed: int
) -> None:
    rng = random.Random(seed * 1000 + max_bytes)
    c = core.LRUCache(max_bytes, shards=shards, admission="tinylfu")
    keys = [f"key{i}" for i in range(80)]
    sizes = [0, 10, 100, 300, max_bytes // 3, max_bytes]
    for step in range(2500):
        key = rng.choice(keys)
        op = rng.randrange(10)
        if op < 3:
            c.set(key, b"x" * rng.choice(sizes))
        elif op < 6:
            c.get(key)
        elif op == 6:
            c.get_many(rng.sample(keys, 5))
        elif op == 7:
            c.set_many({k: b"y" * rng.randrange(0, 200) for k in rng.sample(keys, 3)})
        elif op == 8:
            if rng.random() < 0.5:
                c.delete(key)
            else:
                assert isinstance(key in c, bool)
        elif rng.random() < 0.02:
            c.clear()
        else:
            assert 0 <= c.frequency(key) <= 256
        assert c.nbytes <= max_bytes
        if step % 50 == 0:
            check(c)
    check(c)
    stats = c.stats()
    assert stats["admission_rejects"] > 0
    assert stats["evictions"] > 0
    assert stats["hits"] > 0
