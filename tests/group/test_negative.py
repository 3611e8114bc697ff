"""The negative cache on its own: rotation, exact confirmation, the bound, discard."""

from __future__ import annotations

from types import ModuleType

from distcache.group.negative import NegativeCache

from .fakes import FakeClock


def make(
    core: ModuleType, ttl: float = 1.0, capacity: int = 100
) -> tuple[NegativeCache, FakeClock]:
    clock = FakeClock()
    return NegativeCache(core, ttl, capacity, clock), clock


def test_a_key_is_absent_for_ttl_seconds(core: ModuleType) -> None:
    neg, clock = make(core)
    assert "k" not in neg
    neg.add("k")
    assert "k" in neg
    clock.advance(0.999)
    assert "k" in neg
    clock.advance(0.002)
    assert "k" not in neg  # ttl over: the source is asked again


def test_rotation_keeps_a_key_for_its_whole_ttl(core: ModuleType) -> None:
    neg, clock = make(core, ttl=1.0)
    clock.advance(0.9)
    neg.add("late")  # just before the first rotation
    clock.advance(0.2)  # rotated: "late" is in the previous filter now
    assert "late" in neg
    clock.advance(0.6)
    assert "late" in neg
    clock.advance(0.2)
    assert "late" not in neg


def test_bloom_false_positives_are_confirmed_away(core: ModuleType) -> None:
    neg, _ = make(core, capacity=50)
    for i in range(50):
        neg.add(f"absent{i}")
    answers = [f"present{i}" in neg for i in range(5000)]
    assert not any(answers)  # a bloom false positive never hides a key
    st = neg.stats()
    assert st["bloom_false_positive"] > 0  # the filters did say "maybe"
    assert st["bloom_negative"] + st["bloom_false_positive"] == 5000


def test_the_table_is_bounded_and_discard_forgets(core: ModuleType) -> None:
    neg, _ = make(core, capacity=10)
    for i in range(25):
        neg.add(f"k{i}")
    assert neg.stats()["entries"] == 10
    assert "k24" in neg and "k0" not in neg  # the oldest went first
    neg.discard("k24")
    assert "k24" not in neg
    neg.clear()
    assert neg.stats()["entries"] == 0 and "k23" not in neg
