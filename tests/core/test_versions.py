"""Versioned entries: set(version=), set_if_newer, version_of, get_versioned.

docs/internals.md gives the rules ("Version", "set_if_newer", ...): a
version is a uint64 stored with an entry, 0 meaning unversioned, older than
any version; set_if_newer stores only over an absent, expired or older
entry, and a refusal changes nothing. Every test runs on the C core and on
its twin.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest

OVERHEAD = 64
TOP = 2**64 - 1


def size_of(key: str, value: bytes) -> int:
    return len(key.encode()) + len(value) + OVERHEAD


def test_set_keeps_the_version_get_versioned_and_version_of_read_it(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    assert c.set("a", b"1", version=7) is True
    assert c.set("b", b"2") is True
    assert c.version_of("a") == 7
    assert c.version_of("b") == 0  # unversioned
    assert c.version_of("absent") is None
    assert c.get_versioned("a") == (b"1", 7)
    assert c.get_versioned("b") == (b"2", 0)
    assert c.get_versioned("absent") is None
    assert c.get_versioned("absent", "dflt") == "dflt"
    assert c.get("a") == b"1"  # get answers as before
    c._check_invariants()


def test_newer_wins(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    assert c.set_if_newer("k", b"v5", 5) is True  # absent: stored
    assert c.set_if_newer("k", b"v6", 6) is True
    assert c.set_if_newer("k", b"top", TOP) is True
    assert c.get_versioned("k") == (b"top", TOP)
    assert c.stats()["sets"] == 3
    c._check_invariants()


@pytest.mark.parametrize("offered", [5, 4, 1])
def test_older_and_equal_are_refused_and_change_nothing(core: ModuleType, offered: int) -> None:
    c = core.LRUCache(3 * size_of("a", b"held"), shards=1, track_frequency=True)
    c.set("a", b"held", version=5)
    c.set("b", b"held")
    before = c.stats()
    estimate = c.frequency("a")
    assert c.set_if_newer("a", b"new!", offered) is False
    assert c.stats() == before  # no counter
    assert c.frequency("a") == estimate  # no frequency record
    assert c.version_of("a") == 5
    # No recency either: "a" is still the least recent, the first evicted.
    c.set("c", b"held")
    c.set("d", b"held")
    assert "a" not in c and "b" in c
    c._check_invariants()


def test_unversioned_is_older_than_any_version(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    c.set("k", b"plain")
    assert c.set_if_newer("k", b"v1", 1) is True
    assert c.get_versioned("k") == (b"v1", 1)


def test_set_replaces_the_version_whatever_it_was(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    c.set_if_newer("k", b"v9", 9)
    assert c.set("k", b"v3", version=3) is True  # an explicit write, not a race
    assert c.get_versioned("k") == (b"v3", 3)
    assert c.set("k", b"plain") is True
    assert c.get_versioned("k") == (b"plain", 0)
    c.set("k", b"v9", version=9)
    c["k"] = b"item"
    assert c.version_of("k") == 0
    c.set("k", b"v9", version=9)
    c.set_many({"k": b"many"})
    assert c.get_versioned("k") == (b"many", 0)


def test_expiry_makes_a_key_absent_for_set_if_newer(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    c.set("k", b"old", ttl=0.05, version=100)
    assert c.set_if_newer("k", b"stale", 50) is False  # live, newer: refused
    time.sleep(0.1)
    before = c.stats()
    assert c.set_if_newer("k", b"after", 50) is True
    after = c.stats()
    # Replaced as a set replaces an expired entry: one set, no expiration.
    assert after["sets"] == before["sets"] + 1
    assert after["expirations"] == before["expirations"]
    assert after["items"] == 1
    assert c.get_versioned("k") == (b"after", 50)
    c._check_invariants()


def test_a_ttl_given_to_set_if_newer_expires_the_entry(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    assert c.set_if_newer("k", b"v", 3, ttl=0.05) is True
    time.sleep(0.1)
    assert c.version_of("k") is None
    assert c.stats()["expirations"] == 1  # reclaimed as `in` reclaims


def test_a_versioned_entry_costs_the_budget_what_an_unversioned_one_does(
    core: ModuleType,
) -> None:
    one = size_of("k0", b"x" * 100)
    c = core.LRUCache(3 * one, shards=1)
    assert c.set("k0", b"x" * 100, version=1) is True
    assert c.nbytes == one
    assert c.set_if_newer("k1", b"x" * 100, TOP) is True
    assert c.set("k2", b"x" * 100, ttl=3600, version=2**63) is True
    assert c.nbytes == 3 * one == c.max_bytes  # exactly full: nothing evicted
    assert c.stats()["evictions"] == 0
    c.set("k1", b"x" * 100)  # unversioned again: the same charge
    assert c.nbytes == 3 * one
    c._check_invariants()


def test_an_entry_larger_than_the_budget(core: ModuleType) -> None:
    c = core.LRUCache(200)
    big = b"x" * 300
    c.set("k", b"v", version=5)
    before = c.stats()
    assert c.set_if_newer("k", big, 5) is False  # not newer: nothing changes
    assert c.stats() == before and c.version_of("k") == 5
    assert c.set_if_newer("k", big, 6) is False  # newer but too large: set's rule
    after = c.stats()
    assert after["rejected"] == before["rejected"] + 1
    assert "k" not in c  # the older value is not left behind
    c.set("k", b"v", version=9)
    assert c.set("k", big, version=1) is False  # set drops whatever was held
    assert "k" not in c
    c._check_invariants()


def test_set_if_newer_stores_past_admission(core: ModuleType) -> None:
    c = core.LRUCache(2 * size_of("a", b"v" * 36), shards=1, admission="tinylfu")
    for key in "ab":
        c.set(key, b"v" * 36)
        c.get(key)
        c.get(key)
    assert c.set("c", b"v" * 36) is False  # a rare newcomer: refused by TinyLFU
    assert c.set_if_newer("c", b"v" * 36, 1) is True  # a versioned write is not a guess
    assert c.get_versioned("c") == (b"v" * 36, 1)
    c._check_invariants()


def test_get_versioned_is_get(core: ModuleType) -> None:
    c = core.LRUCache(10_000, admission="tinylfu")
    d = core.LRUCache(10_000, admission="tinylfu")
    for cache in (c, d):
        cache.set("a", b"1", version=4)
    for _ in range(3):
        assert c.get_versioned("a") == (b"1", 4)
        assert d.get("a") == b"1"
        assert c.get_versioned("nope") is None
        assert d.get("nope") is None
    assert c.stats() == d.stats()
    assert c.frequency("a") == d.frequency("a") and c.frequency("nope") == d.frequency("nope")
    c.set("t", b"1", ttl=0.05, version=3)
    time.sleep(0.1)
    assert c.get_versioned("t") is None
    assert c.stats()["expirations"] == 1


def test_version_of_touches_nothing(core: ModuleType) -> None:
    c = core.LRUCache(3 * size_of("a", b"v"), shards=1, track_frequency=True)
    c.set("a", b"v", version=1)
    c.set("b", b"v", version=2)
    c.set("c", b"v", version=3)
    before = c.stats()
    estimate = c.frequency("a")
    assert [c.version_of(k) for k in "abcd"] == [1, 2, 3, None]
    assert c.stats() == before
    assert c.frequency("a") == estimate
    c.set("d", b"v")  # "a" is still the least recent
    assert c.version_of("a") is None and c.version_of("d") == 0


def test_large_values_carry_their_version(core: ModuleType) -> None:
    # Values of 32 KiB and more are built and copied without the GIL in C.
    c = core.LRUCache(1 << 20)
    big = b"L" * 100_000
    assert c.set_if_newer("k", big, 2) is True
    assert c.get_versioned("k") == (big, 2)
    assert c.set_if_newer("k", b"S" * 50_000, 2) is False
    assert c.set_if_newer("k", b"S" * 50_000, 3) is True
    assert c.get_versioned("k") == (b"S" * 50_000, 3)
    c.set("k", big, version=4)
    assert c.get_versioned("k") == (big, 4)
    c._check_invariants()


def test_delete_and_clear_forget_the_version(core: ModuleType) -> None:
    c = core.LRUCache(10_000)
    c.set("k", b"v", version=10)
    assert c.delete("k") is True
    assert c.set_if_newer("k", b"v", 1) is True
    c.clear()
    assert c.version_of("k") is None
    assert c.set_if_newer("k", b"w", 1) is True


def test_eviction_of_a_versioned_entry(core: ModuleType) -> None:
    one = size_of("k0", b"x" * 20)
    c = core.LRUCache(2 * one, shards=1)
    c.set_if_newer("k0", b"x" * 20, 50)
    c.set_if_newer("k1", b"x" * 20, 60)
    c.set_if_newer("k2", b"x" * 20, 70)  # evicts k0
    assert c.version_of("k0") is None
    assert c.set_if_newer("k0", b"x" * 20, 1) is True  # evicted: absent, any version wins
    assert c.stats()["evictions"] == 2
    c._check_invariants()


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda c: c.set_if_newer("a", b"new", 0), ValueError),
        (lambda c: c.set_if_newer("a", b"new", -1), ValueError),
        (lambda c: c.set_if_newer("a", b"new", 2**64), ValueError),
        (lambda c: c.set_if_newer("a", b"new", True), TypeError),
        (lambda c: c.set_if_newer("a", b"new", 1.0), TypeError),
        (lambda c: c.set_if_newer("a", b"new", "3"), TypeError),
        (lambda c: c.set_if_newer("a", b"new", None), TypeError),
        (lambda c: c.set("a", b"new", version=-1), ValueError),
        (lambda c: c.set("a", b"new", version=2**64), ValueError),
        (lambda c: c.set("a", b"new", version=False), TypeError),
        (lambda c: c.set("a", b"new", version=None), TypeError),
        # The first bad argument decides, in the order of the arguments.
        (lambda c: c.set_if_newer(5, b"new", 0), TypeError),
        (lambda c: c.set_if_newer("a", "text", 0), TypeError),
        (lambda c: c.set_if_newer("a", b"new", 0, ttl="1"), ValueError),
        (lambda c: c.set("a", b"new", ttl="1", version=-1), TypeError),
    ],
)
def test_bad_versions_raise_before_any_change(core: ModuleType, call: Any, exc: type) -> None:
    c = core.LRUCache(10_000, track_frequency=True)
    c.set("a", b"old", version=3)
    before = (c.stats(), c.frequency("a"), c.frequency_stats())
    with pytest.raises(exc):
        call(c)
    assert (c.stats(), c.frequency("a"), c.frequency_stats()) == before
    assert c.get_versioned("a") == (b"old", 3)


def test_an_int_subclass_is_a_version(core: ModuleType) -> None:
    class Clock(int):
        pass

    c = core.LRUCache(10_000)
    assert c.set_if_newer("k", b"v", Clock(5)) is True
    assert type(c.version_of("k")) is int and c.version_of("k") == 5


def test_ttl_of_tells_what_an_entry_has_left_and_touches_nothing(core: ModuleType) -> None:
    import math
    import time

    c = core.LRUCache(1 << 20)
    c.set("forever", b"1")
    c.set("soon", b"2", ttl=30.0)
    c.set("gone", b"3", ttl=0.01)
    before = c.stats()
    assert c.ttl_of("forever") == math.inf
    assert 29.0 < c.ttl_of("soon") <= 30.0
    assert c.ttl_of("absent") is None
    after = c.stats()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])
    time.sleep(0.05)
    assert c.ttl_of("gone") is None  # expired: reclaimed as `in` would
    assert "gone" not in c
