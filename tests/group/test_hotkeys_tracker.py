"""The hot-key tracker on its own, over a frequency estimate the test controls."""

from __future__ import annotations

import pytest

from distcache.group.hotkeys import HotKeys
from distcache.group.stats import GroupCounters


class Estimate:
    """A frequency estimate and halving count that the test sets by hand."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.halvings = 0
        self.hot: set[str] = set()

    def tracker(self, **kw: int) -> HotKeys:
        return HotKeys(lambda k: self.counts.get(k, 0), lambda: self.halvings,
                       lambda k: k in self.hot, **kw)


def test_top_ranks_by_estimate_then_sightings() -> None:
    est = Estimate()
    hk = est.tracker()
    est.counts.update(a=9, b=9, c=3)
    for key in ["a", "b", "b", "c"]:
        hk.missed(key)
    ranked, cooled = hk.top(2)
    assert ranked == [("b", 9), ("a", 9)] and cooled == []
    hk.hit_samples(["a"], hits=100)  # one sample standing for 100 hits
    assert hk.top(3)[0] == [("a", 9), ("b", 9), ("c", 3)]


def test_candidates_are_bounded() -> None:
    est = Estimate()
    hk = est.tracker(top_candidates=16)
    for i in range(1000):
        est.counts[f"k{i}"] = i
        hk.missed(f"k{i}")
    assert len(hk._candidates) < 32
    assert [k for k, _ in hk.top(3)[0]] == ["k999", "k998", "k997"]


def test_a_halving_ages_candidates_and_returns_cooled_promoted_keys() -> None:
    est = Estimate()
    hk = est.tracker(promote_at=4, check_every=1)
    assert (hk.promote_at, hk.demote_below) == (4, 2)
    est.counts.update(hot=8, warm=8, gone=8)
    est.hot.update({"hot", "warm"})
    for key in ("hot", "warm", "gone"):
        hk.promoted(key, hot_len=3)
    assert hk.check() == []  # no halving yet
    est.halvings = 1
    est.counts.update(hot=4, warm=1)
    # "gone" left the hot cache on its own: forgotten, not demoted.
    assert hk.check() == ["warm"]
    assert hk.check() == []


def test_promote_at_must_be_positive() -> None:
    with pytest.raises(ValueError, match="promote_at"):
        Estimate().tracker(promote_at=0)


def test_counters_fail_loudly_on_a_typo() -> None:
    counts = GroupCounters()
    counts.add("loaded", "getter_loads", "loaded")
    assert counts.snapshot()["loaded"] == 2 and counts.getter_loads == 1
    with pytest.raises(AttributeError):
        counts.add("lodaed")
