"""LRUCache: the API and the exact algorithms of docs/internals.md."""

from __future__ import annotations

import array
import math
import random
import time
from collections import OrderedDict
from types import ModuleType
from typing import Any

import pytest

OVERHEAD = 64


def size_of(key: str | bytes, value: bytes) -> int:
    k = key.encode() if isinstance(key, str) else key
    return len(k) + len(value) + OVERHEAD


def keys_in_shard(
    core: ModuleType, shards: int, shard: int, n: int, prefix: str = "k"
) -> list[str]:
    """n distinct, equally long str keys whose shard (fnv32a & (shards - 1)) is shard."""
    found = []
    i = 0
    while len(found) < n:
        key = f"{prefix}{i:04d}"
        if core.fnv32a(key) & (shards - 1) == shard:
            found.append(key)
        i += 1
    return found


def check(cache: Any) -> None:
    cache._check_invariants()
    assert cache.nbytes <= cache.max_bytes
    assert cache.stats()["nbytes"] == cache.nbytes
    assert cache.stats()["items"] == len(cache)


# --- module constants ------------------------------------------------------------


def test_constants(core: ModuleType) -> None:
    assert core.ENTRY_OVERHEAD == 64
    assert core.MAX_KEY_LEN == 65535
    assert core.IMPLEMENTATION in ("c", "python")
    expected = "python" if core.__name__ == "distcache._pycore" else "c"
    assert core.IMPLEMENTATION == expected


def test_internals_example(core: ModuleType) -> None:
    c = core.LRUCache(max_bytes=1024)
    assert c.set("a", b"x" * 900) is True
    assert (len(c), c.nbytes) == (1, 965)
    check(c)


# --- dict-like operations -------------------------------------------------------


def test_set_get(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    assert c.set("k", b"v") is True
    assert c.get("k") == b"v"
    assert type(c.get("k")) is bytes
    assert c.get("absent") is None
    assert c.get("absent", b"fallback") == b"fallback"
    sentinel = object()
    assert c.get("absent", sentinel) is sentinel
    check(c)


def test_overwrite(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"one")
    c.set("k", b"three")
    assert c.get("k") == b"three"
    assert len(c) == 1
    assert c.nbytes == size_of("k", b"three")
    check(c)


def test_value_is_copied(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    buf = bytearray(b"abc")
    c.set("k", buf)
    buf[0] = ord("z")
    assert c.get("k") == b"abc"
    got = c.get("k")
    assert type(got) is bytes


@pytest.mark.parametrize(
    "value",
    [bytearray(b"abc"), memoryview(b"abc"), memoryview(b"xabcx")[1:-1], b""],
    ids=["bytearray", "memoryview", "memoryview-slice", "empty"],
)
def test_bytes_like_values(core: ModuleType, value: Any) -> None:
    c = core.LRUCache(1 << 20)
    assert c.set("k", value)
    assert c.get("k") == bytes(value)
    assert c.nbytes == 1 + len(bytes(value)) + OVERHEAD


def test_array_value_is_its_raw_bytes(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    words = array.array("I", [1, 2, 3])
    c.set("k", words)
    assert c.get("k") == words.tobytes()
    assert c.nbytes == 1 + 12 + OVERHEAD


def test_mapping_protocol(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c["k"] = b"v"
    assert c["k"] == b"v"
    assert "k" in c
    assert len(c) == 1
    del c["k"]
    assert "k" not in c
    assert len(c) == 0
    check(c)


def test_getitem_missing_raises_keyerror_with_key(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(KeyError) as exc:
        c["absent"]
    assert exc.value.args == ("absent",)
    with pytest.raises(KeyError) as exc:
        c[b"absent"]
    assert exc.value.args == (b"absent",)
    assert c.stats()["misses"] == 2


def test_delitem_missing_raises_keyerror_with_key(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(KeyError) as exc:
        del c["absent"]
    assert exc.value.args == ("absent",)
    assert c.stats()["deletes"] == 0


def test_setitem_too_big_is_silent_rejection(core: ModuleType) -> None:
    c = core.LRUCache(128)
    c["k"] = b"x" * 200
    assert "k" not in c
    assert c.stats()["rejected"] == 1


def test_delete(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"v")
    assert c.delete("k") is True
    assert c.delete("k") is False
    assert c.delete("never") is False
    assert c.get("k") is None
    assert c.stats()["deletes"] == 1
    assert c.nbytes == 0
    check(c)


def test_str_and_bytes_keys_are_the_same_key(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"1")
    assert c.get(b"a") == b"1"
    assert c.get(bytearray(b"a")) == b"1"
    assert c.get(memoryview(b"a")) == b"1"
    assert b"a" in c
    c.set(b"a", b"2")
    assert len(c) == 1
    assert c.get("a") == b"2"
    c.set("é", b"3")
    assert c.get("é".encode()) == b"3"
    assert c.nbytes == size_of("a", b"2") + size_of("é", b"3")
    assert c.delete(bytearray(b"a")) is True
    assert "a" not in c
    check(c)


def test_empty_key(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    assert c.set("", b"v")
    assert c.get(b"") == b"v"
    assert c.nbytes == OVERHEAD + 1
    assert c.delete("")


def test_max_len_key_accepted(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    key = b"k" * 65535
    assert c.set(key, b"v")
    assert c.get(key) == b"v"
    assert c.nbytes == 65535 + 1 + OVERHEAD


def test_get_many_keyed_by_given_objects(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"1")
    c.set("b", b"2")
    got = c.get_many(["a", b"a", "b", "missing", b"missing"])
    assert got == {"a": b"1", b"a": b"1", "b": b"2"}
    assert all(type(v) is bytes for v in got.values())
    s = c.stats()
    assert (s["hits"], s["misses"]) == (3, 2)


def test_get_many_accepts_any_iterable(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set_many({"a": b"1", "b": b"2"})
    assert c.get_many(k for k in ("a", "b", "c")) == {"a": b"1", "b": b"2"}
    assert c.get_many(()) == {}
    assert c.get_many(("b",)) == {"b": b"2"}


def test_set_many(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set_many({"a": b"1", b"b": bytearray(b"2"), "c": memoryview(b"3")})
    assert c.get_many(["a", "b", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}
    assert c.stats()["sets"] == 3
    assert len(c) == 3
    check(c)


def test_set_many_same_key_twice_last_wins(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set_many({"a": b"1", b"a": b"2"})
    assert c.get("a") == b"2"
    assert len(c) == 1
    assert c.stats()["sets"] == 2


def test_set_many_rejects_oversized_items_individually(core: ModuleType) -> None:
    c = core.LRUCache(256)
    c.set_many({"a": b"1", "big": b"x" * 300, "b": b"2"})
    assert set(c.get_many(["a", "big", "b"])) == {"a", "b"}
    s = c.stats()
    assert (s["sets"], s["rejected"]) == (2, 1)


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ({"a": b"1", "b": "text"}, TypeError),
        ({"a": b"1", "b": None}, TypeError),
        ({"a": b"1", 5: b"2"}, TypeError),
        ({"a": b"1", b"k" * 65536: b"2"}, ValueError),
    ],
    ids=["str-value", "none-value", "int-key", "long-key"],
)
def test_set_many_validates_before_storing(core: ModuleType, mapping: dict, error: type) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"old")
    before = c.stats()
    with pytest.raises(error):
        c.set_many(mapping)
    assert c.get("a") == b"old"
    assert len(c) == 1
    after = c.stats()
    assert after["sets"] == before["sets"]
    assert after["nbytes"] == before["nbytes"]
    check(c)


def test_set_many_bad_ttl_stores_nothing(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(ValueError):
        c.set_many({"a": b"1"}, ttl=-1)
    assert len(c) == 0


def test_clear(core: ModuleType) -> None:
    c = core.LRUCache(4096, shards=4)
    for i in range(20):
        c.set(f"k{i}", b"v" * 10)
    c.get("k19")
    c.get("nope")
    before = c.stats()
    c.clear()
    after = c.stats()
    assert len(c) == 0
    assert c.nbytes == 0
    assert (after["items"], after["nbytes"]) == (0, 0)
    for name in ("hits", "misses", "sets", "deletes", "evictions", "expirations", "rejected"):
        assert after[name] == before[name], name
    assert c.get("k19") is None
    assert c.set("k1", b"again")
    assert c.get("k1") == b"again"
    check(c)


def test_properties(core: ModuleType) -> None:
    c = core.LRUCache(1000, 2.5, shards=8)
    assert c.max_bytes == 1000
    assert c.default_ttl == 2.5
    assert c.shards == 8
    assert c.nbytes == 0
    d = core.LRUCache(1000)
    assert d.default_ttl is None
    assert d.admission is None
    assert not d.tracks_frequency


@pytest.mark.parametrize(
    "max_bytes, shards",
    [(1, 1), (16383, 1), (16384, 2), (180_000, 16), (1 << 20, 128), (2 << 20, 256), (1 << 40, 256)],
)
def test_default_shards_keep_8_kib_each(core: ModuleType, max_bytes: int, shards: int) -> None:
    """256 shards from 2 MiB up; below, the largest power of two with >= 8 KiB each."""
    assert core.LRUCache(max_bytes).shards == shards


@pytest.mark.parametrize("shards", [1, 2, 4, 256, 65536])
def test_valid_shard_counts(core: ModuleType, shards: int) -> None:
    c = core.LRUCache(1 << 16, shards=shards)
    for i in range(50):
        c.set(f"k{i}", b"v")
    assert len(c) == 50
    assert c.shards == shards
    check(c)


# --- stats ----------------------------------------------------------------------


def test_stats_keys(core: ModuleType) -> None:
    s = core.LRUCache(100).stats()
    assert set(s) == {
        "hits",
        "misses",
        "sets",
        "deletes",
        "evictions",
        "expirations",
        "rejected",
        "admission_rejects",
        "items",
        "nbytes",
        "max_bytes",
    }
    assert all(type(v) is int for v in s.values())


def test_stats_exact_counts(core: ModuleType) -> None:
    c = core.LRUCache(3 * size_of("k0", b"v" * 10), shards=1)
    for i in range(5):  # 3 fit, 2 evictions
        c.set(f"k{i}", b"v" * 10)
    c.get("k4")  # hit
    c.get("k0")  # miss (evicted)
    c.get_many(["k3", "k2", "k1"])  # 2 hits, 1 miss
    "k4" in c  # noqa: B015 - counts nothing
    c.delete("k4")  # delete
    c.delete("k4")  # nothing
    c.set("big", b"x" * 1000)  # rejected
    c["k2"]
    with pytest.raises(KeyError):
        c["zz"]
    assert c.stats() == {
        "hits": 4,
        "misses": 3,
        "sets": 5,
        "deletes": 1,
        "evictions": 2,
        "expirations": 0,
        "rejected": 1,
        "admission_rejects": 0,
        "items": 2,
        "nbytes": 2 * size_of("k0", b"v" * 10),
        "max_bytes": 3 * size_of("k0", b"v" * 10),
    }
    check(c)


# --- recency and exact LRU order (one shard) ----------------------------------


def three_slot_cache(core: ModuleType) -> Any:
    """A one-shard cache that holds exactly 3 entries of size_of("kX", b"v")."""
    c = core.LRUCache(3 * size_of("ka", b"v"), shards=1)
    for k in ("ka", "kb", "kc"):
        assert c.set(k, b"v")
    return c


def present(c: Any, keys: str) -> str:
    return "".join(k for k in keys if f"k{k}" in c)


def test_lru_evicts_least_recent(core: ModuleType) -> None:
    c = three_slot_cache(core)
    c.set("kd", b"v")
    assert present(c, "abcd") == "bcd"
    assert c.stats()["evictions"] == 1


def test_get_refreshes(core: ModuleType) -> None:
    c = three_slot_cache(core)
    c.get("ka")
    c.set("kd", b"v")
    assert present(c, "abcd") == "acd"


def test_getitem_refreshes(core: ModuleType) -> None:
    c = three_slot_cache(core)
    c["ka"]
    c.set("kd", b"v")
    assert present(c, "abcd") == "acd"


def test_get_many_refreshes_in_order(core: ModuleType) -> None:
    c = three_slot_cache(core)
    c.get_many(["kb", "ka"])  # recency now c < b < a
    c.set("kd", b"v")
    assert present(c, "abcd") == "abd"
    c.set("ke", b"v")
    assert present(c, "abcde") == "ade"


def test_set_refreshes(core: ModuleType) -> None:
    c = three_slot_cache(core)
    c.set("ka", b"w")
    c.set("kd", b"v")
    assert present(c, "abcd") == "acd"


def test_set_many_refreshes(core: ModuleType) -> None:
    c = three_slot_cache(core)
    c.set_many({"kb": b"v", "ka": b"v"})
    c.set("kd", b"v")
    assert present(c, "abcd") == "abd"


@pytest.mark.parametrize("probe", ["contains", "len", "stats", "miss", "delete-other"])
def test_no_refresh(core: ModuleType, probe: str) -> None:
    c = three_slot_cache(core)
    if probe == "contains":
        assert "ka" in c
    elif probe == "len":
        assert len(c) == 3
    elif probe == "stats":
        assert c.stats()["items"] == 3
    elif probe == "miss":
        assert c.get("kz") is None
    else:
        assert c.delete("kz") is False
    c.set("kd", b"v")
    assert present(c, "abcd") == "bcd"


def test_exact_lru_matches_model_one_shard(core: ModuleType) -> None:
    """Random ops on a one-shard cache evict exactly what a byte-budgeted LRU model does."""
    rng = random.Random(1234)
    budget = 1500
    c = core.LRUCache(budget, shards=1)
    model: OrderedDict[str, int] = OrderedDict()  # key -> entry size, least recent first
    keys = [f"key{i}" for i in range(40)]
    for step in range(3000):
        key = rng.choice(keys)
        op = rng.random()
        if op < 0.5:
            value = b"x" * rng.randrange(0, 300)
            size = size_of(key, value)
            model.pop(key, None)
            if size <= budget:
                while sum(model.values()) + size > budget:
                    model.popitem(last=False)
                model[key] = size
            c.set(key, value)
        elif op < 0.85:
            got = c.get(key)
            assert (got is not None) == (key in model), step
            if key in model:
                model.move_to_end(key)
        elif op < 0.95:
            assert c.delete(key) == (key in model), step
            model.pop(key, None)
        else:
            assert (key in c) == (key in model), step
        assert len(c) == len(model), step
        assert c.nbytes == sum(model.values()), step
        assert c.nbytes <= budget
    assert sorted(k for k in keys if k in c) == sorted(model)
    check(c)


# --- the global budget --------------------------------------------------------


def test_one_kib_cache_holds_a_900_byte_value(core: ModuleType) -> None:
    c = core.LRUCache(1024, shards=256)  # the budget is not split among the shards
    assert c.set("a", b"x" * 900)
    assert c.get("a") == b"x" * 900
    assert c.set("b", b"y" * 900)  # evicts "a", in whatever shard it lives
    assert "a" not in c
    assert c.get("b") == b"y" * 900
    assert c.stats()["evictions"] == 1
    assert c.nbytes == 965
    check(c)


def test_entry_exactly_the_budget_is_stored(core: ModuleType) -> None:
    c = core.LRUCache(1024)
    value = b"x" * (1024 - 1 - OVERHEAD)
    assert c.set("k", value)
    assert c.nbytes == 1024
    check(c)


def test_entry_over_the_budget_is_rejected(core: ModuleType) -> None:
    c = core.LRUCache(1024)
    c.set("other", b"keep")
    assert c.set("k", b"x" * (1024 - 1 - OVERHEAD + 1)) is False
    assert c.get("k") is None
    s = c.stats()
    assert (s["rejected"], s["sets"], s["evictions"], s["misses"]) == (1, 1, 0, 1)
    assert c.get("other") == b"keep"
    check(c)


def test_overwrite_with_too_big_value_removes_old(core: ModuleType) -> None:
    c = core.LRUCache(1024)
    c.set("k", b"small")
    c.set("other", b"keep")
    assert c.set("k", b"x" * 2000) is False
    assert "k" not in c
    assert c.get("k") is None
    assert len(c) == 1
    assert c.nbytes == size_of("other", b"keep")
    s = c.stats()
    assert (s["rejected"], s["deletes"], s["evictions"]) == (1, 0, 0)
    check(c)


def test_budget_holds_after_every_op(core: ModuleType) -> None:
    rng = random.Random(99)
    c = core.LRUCache(4000, shards=16)
    for _ in range(2000):
        key = f"k{rng.randrange(200)}"
        r = rng.random()
        if r < 0.6:
            c.set(key, b"v" * rng.randrange(0, 900))
        elif r < 0.8:
            c.get(key)
        elif r < 0.9:
            c.delete(key)
        else:
            c.set_many({f"k{rng.randrange(200)}": b"w" * rng.randrange(0, 500) for _ in range(3)})
        assert c.nbytes <= c.max_bytes
    check(c)
    s = c.stats()
    assert s["evictions"] > 100


# --- cross-shard eviction ---------------------------------------------------------


def test_cross_shard_victim_is_oldest_tail(core: ModuleType) -> None:
    value = b"v" * 100
    ks = {s: keys_in_shard(core, 4, s, 3) for s in range(4)}
    entry = size_of(ks[0][0], value)
    c = core.LRUCache(3 * entry, shards=4)
    c.set(ks[2][0], value)  # oldest
    c.set(ks[1][0], value)
    c.set(ks[3][0], value)
    assert c.set(ks[0][0], value)  # own shard 0 empty: victim among 1, 2, 3
    assert ks[2][0] not in c
    assert all(k in c for k in (ks[1][0], ks[3][0], ks[0][0]))
    # The key's own shard is not empty: it evicts its own tail, not the older others.
    assert c.set(ks[0][1], value)
    assert ks[0][0] not in c
    assert all(k in c for k in (ks[1][0], ks[3][0], ks[0][1]))
    assert c.stats()["evictions"] == 2
    check(c)


def test_cross_shard_get_changes_the_victim(core: ModuleType) -> None:
    value = b"v" * 100
    ks = {s: keys_in_shard(core, 4, s, 2) for s in range(4)}
    entry = size_of(ks[0][0], value)
    c = core.LRUCache(3 * entry, shards=4)
    c.set(ks[1][0], value)
    c.set(ks[2][0], value)
    c.set(ks[3][0], value)
    c.get(ks[1][0])  # now shard 2's tail is the oldest
    "k" in c  # noqa: B015 - no recency change
    c.set(ks[0][0], value)
    assert ks[2][0] not in c
    assert ks[1][0] in c and ks[3][0] in c
    check(c)


def test_cross_shard_several_evictions(core: ModuleType) -> None:
    value = b"v" * 100
    ks = {s: keys_in_shard(core, 4, s, 3) for s in range(4)}
    entry = size_of(ks[0][0], value)
    c = core.LRUCache(4 * entry, shards=4)
    a, b = ks[1][0], ks[1][1]
    cc, d = ks[2][0], ks[3][0]
    for k in (a, b, cc, d):
        c.set(k, value)
    big = b"B" * (2 * entry - len(ks[0][0]) - OVERHEAD)
    assert c.set(ks[0][0], big)  # needs two evictions: a, then b (the tail after a)
    assert [k in c for k in (a, b, cc, d)] == [False, False, True, True]
    assert c.stats()["evictions"] == 2
    check(c)


def test_own_shard_first_then_other_shards(core: ModuleType) -> None:
    value = b"v" * 100
    ks = {s: keys_in_shard(core, 4, s, 2) for s in range(4)}
    entry = size_of(ks[0][0], value)
    c = core.LRUCache(3 * entry, shards=4)
    c.set(ks[1][0], value)  # oldest overall
    c.set(ks[2][0], value)
    c.set(ks[0][0], value)  # own shard tail, newest
    big = b"B" * (2 * entry - len(ks[0][1]) - OVERHEAD)
    assert c.set(ks[0][1], big)  # evicts own tail first, then shard 1's (oldest)
    assert [k in c for k in (ks[1][0], ks[2][0], ks[0][0])] == [False, True, False]
    check(c)


def test_cross_shard_samples_first_eight_nonempty(core: ModuleType) -> None:
    """From shard 14 of 16 the scan is 15, 0, 1, ...; only the first 8 non-empty count."""
    value = b"v" * 50
    ks = {s: keys_in_shard(core, 16, s, 1) for s in range(16)}
    entry = size_of(ks[0][0], value)
    c = core.LRUCache(14 * entry, shards=16)
    order = [9, 10, 4, 15, 0, 1, 2, 3, 5, 6, 7, 8, 11, 12]  # 13 (empty) and 14 unused
    for s in order:  # shard 9's entry is oldest, then 10, then 4
        c.set(ks[s][0], value)
    # Own shard 14 is empty. Scan: 15, 0, 1, 2, 3, 4, 5, 6 are the first 8 non-empty;
    # 9 and 10 are older but not sampled, so 4 is the victim.
    assert c.set(ks[14][0], value)
    gone = [s for s in order if ks[s][0] not in c]
    assert gone == [4]
    c.delete(ks[14][0])
    c.set(ks[14][0], value)  # fits without eviction, newest
    # Own shard 13 empty: scan 14, 15, 0, 1, 2, 3, (4 now empty), 5, 6; oldest is 15.
    c.set(ks[13][0], value)
    gone = [s for s in order if ks[s][0] not in c]
    assert gone == [4, 15]
    check(c)


def test_wrap_aware_stamps_twin() -> None:
    """Stamps that wrapped past 2**32 are newer than stamps just below it."""
    from distcache import _pycore

    value = b"v" * 100
    ks = {s: keys_in_shard(_pycore, 4, s, 1) for s in range(4)}
    entry = size_of(ks[0][0], value)
    c = _pycore.LRUCache(3 * entry, shards=4)
    c._tick = 2**32 - 2
    c.set(ks[3][0], value)  # stamp 2**32 - 1: the oldest
    c.set(ks[1][0], value)  # stamp 0
    c.set(ks[2][0], value)  # stamp 1
    c.set(ks[0][0], value)
    assert [ks[s][0] in c for s in (1, 2, 3)] == [True, True, False]
    check(c)


# --- TTL --------------------------------------------------------------------------


def test_ttl_expiry(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("short", b"v", ttl=0.05)
    c.set("long", b"v", ttl=60)
    time.sleep(0.1)
    assert len(c) == 2  # expired but not reclaimed yet
    assert c.get("short") is None
    assert c.get("long") == b"v"
    s = c.stats()
    assert (s["expirations"], s["misses"], s["hits"], s["items"]) == (1, 1, 1, 1)
    assert c.nbytes == size_of("long", b"v")
    check(c)


def test_default_ttl(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20, default_ttl=0.05)
    c.set("default", b"v")
    c.set("explicit", b"v", ttl=60)
    c.set("forever", b"v", ttl=math.inf)
    c.set_many({"many": b"v"})
    c.set_many({"many-long": b"v"}, ttl=60)
    time.sleep(0.1)
    assert c.get_many(["default", "explicit", "forever", "many", "many-long"]) == {
        "explicit": b"v",
        "forever": b"v",
        "many-long": b"v",
    }
    assert c.stats()["expirations"] == 2


def test_infinite_default_ttl(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20, default_ttl=math.inf)
    c.set("k", b"v")
    assert c.get("k") == b"v"
    assert c.default_ttl == math.inf


def test_expired_reclaimed_by_contains(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"v", ttl=0.05)
    time.sleep(0.1)
    assert "k" not in c
    assert len(c) == 0
    assert c.nbytes == 0
    s = c.stats()
    assert (s["expirations"], s["misses"], s["hits"]) == (1, 0, 0)
    check(c)


def test_expired_reclaimed_by_delete(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"v", ttl=0.05)
    time.sleep(0.1)
    assert c.delete("k") is False
    assert len(c) == 0
    s = c.stats()
    assert (s["expirations"], s["deletes"]) == (1, 0)
    check(c)


def test_expired_getitem_and_delitem_raise(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"v", ttl=0.05)
    c.set("b", b"v", ttl=0.05)
    time.sleep(0.1)
    with pytest.raises(KeyError):
        c["a"]
    with pytest.raises(KeyError):
        del c["b"]
    s = c.stats()
    assert (s["expirations"], s["misses"], s["deletes"], s["items"]) == (2, 1, 0, 0)


def test_expired_reclaimed_by_get_many(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"v", ttl=0.05)
    c.set("b", b"v")
    time.sleep(0.1)
    assert c.get_many(["a", "b"]) == {"b": b"v"}
    s = c.stats()
    assert (s["expirations"], s["misses"], s["hits"], s["items"]) == (1, 1, 1, 1)


def test_evicting_expired_counts_as_eviction(core: ModuleType) -> None:
    c = core.LRUCache(2 * size_of("ka", b"v"), shards=1)
    c.set("ka", b"v", ttl=0.05)
    c.set("kb", b"v")
    time.sleep(0.1)
    c.set("kc", b"v")
    s = c.stats()
    assert (s["evictions"], s["expirations"], s["items"]) == (1, 0, 2)
    assert "kb" in c and "kc" in c


def test_set_over_expired_counts_only_a_set(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"old", ttl=0.05)
    time.sleep(0.1)
    c.set("k", b"new")
    s = c.stats()
    assert (s["sets"], s["expirations"], s["evictions"], s["deletes"], s["items"]) == (
        2,
        0,
        0,
        0,
        1,
    )
    assert c.get("k") == b"new"


def test_set_resets_ttl(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"v", ttl=0.05)
    c.set("k", b"v", ttl=60)
    time.sleep(0.1)
    assert c.get("k") == b"v"


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "name"), [("text", "str"), (5, "int"), (None, "NoneType")])
def test_non_bytes_value(core: ModuleType, value: Any, name: str) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(TypeError, match=f"^value must be bytes-like, not {name}$"):
        c.set("k", value)
    assert len(c) == 0
    assert c.stats()["sets"] == 0


def test_non_bytes_value_setitem(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(TypeError, match="not str"):
        c["k"] = "text"


def test_bad_value_keeps_old_entry(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("k", b"old")
    before = c.stats()
    with pytest.raises(TypeError):
        c.set("k", "new")
    assert c.get("k") == b"old"
    assert c.stats()["sets"] == before["sets"]


def test_key_too_long(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    key = b"k" * 65536
    with pytest.raises(ValueError):
        c.set(key, b"v")
    with pytest.raises(ValueError):
        c.get(key)
    with pytest.raises(ValueError):
        c.delete(key)
    with pytest.raises(ValueError):
        key in c  # noqa: B015
    with pytest.raises(ValueError):
        c.get_many(["a", key])
    with pytest.raises(ValueError):
        c.set("é" * 32768, b"v")  # 65,536 UTF-8 bytes
    assert len(c) == 0


@pytest.mark.parametrize(
    ("key", "name"), [(5, "int"), (None, "NoneType"), (1.5, "float"), (["a"], "list")]
)
def test_bad_key_type(core: ModuleType, key: Any, name: str) -> None:
    c = core.LRUCache(1 << 20)
    message = f"^key must be str or bytes-like, not {name}$"
    with pytest.raises(TypeError, match=message):
        c.set(key, b"v")
    with pytest.raises(TypeError, match=message):
        c.get(key)
    with pytest.raises(TypeError, match=message):
        c.delete(key)
    with pytest.raises(TypeError, match=message):
        key in c  # noqa: B015
    with pytest.raises(TypeError, match=message):
        c[key]
    with pytest.raises(TypeError, match=message):
        c.get_many([key])


def test_bad_key_in_get_many_counts_nothing(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"v")
    with pytest.raises(TypeError):
        c.get_many(["a", "b", 7])
    s = c.stats()
    assert (s["hits"], s["misses"]) == (0, 0)


def test_lone_surrogate_key(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(UnicodeEncodeError):
        c.set("\ud800", b"v")
    with pytest.raises(ValueError):  # UnicodeEncodeError is a ValueError
        c.get("\ud800")


@pytest.mark.parametrize("max_bytes", [0, -1, -(2**40), 1.5, 1024.0, "1024", None])
def test_bad_max_bytes(core: ModuleType, max_bytes: int) -> None:
    with pytest.raises(ValueError):
        core.LRUCache(max_bytes)


@pytest.mark.parametrize("ttl", [0, 0.0, -1, -0.5, math.nan, -math.inf])
def test_bad_ttl(core: ModuleType, ttl: float) -> None:
    c = core.LRUCache(1 << 20)
    with pytest.raises(ValueError):
        c.set("k", b"v", ttl=ttl)
    assert len(c) == 0
    assert c.stats()["sets"] == 0


@pytest.mark.parametrize("ttl", [0, 0.0, -1, -0.5, math.nan, -math.inf])
def test_bad_default_ttl(core: ModuleType, ttl: float) -> None:
    with pytest.raises(ValueError):
        core.LRUCache(1 << 20, default_ttl=ttl)


@pytest.mark.parametrize("shards", [0, 3, 6, 100, 131072, -1, -256, 4.0, "8"])
def test_shards_not_a_power_of_two_in_range(core: ModuleType, shards: int) -> None:
    with pytest.raises(ValueError):
        core.LRUCache(1 << 20, shards=shards)


# --- invariants --------------------------------------------------------------------


def test_check_invariants_after_mixed_ops(core: ModuleType) -> None:
    rng = random.Random(7)
    c = core.LRUCache(3000, shards=8)
    for i in range(600):
        key = rng.choice(["a", "b", "c", "d", "e", "f", "g", "h", "é", ""]) + str(rng.randrange(30))
        r = rng.random()
        if r < 0.5:
            c.set(key, b"x" * rng.randrange(0, 400))
        elif r < 0.7:
            c.get(key)
        elif r < 0.8:
            c.delete(key)
        elif r < 0.9:
            c.get_many([key, key.encode()])
        elif r < 0.99:
            c.set_many({key: b"y" * rng.randrange(0, 100)})
        else:
            c.clear()
        if i % 10 == 0:
            check(c)
    check(c)
