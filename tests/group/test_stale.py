"""Stale-while-revalidate: new_group(default_ttl=T, stale_ttl=S) on both cores.

For S seconds after an entry's ttl, get answers the stale value at once and
one background refresh replaces it; a refresh that fails keeps the stale
value and is counted. Ttls are short and real (the core's clock is the
monotonic clock); tests poll for the refresh with a bound, never assert a
duration.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from distcache.group import NotFound, new_group

TTL = 0.2
BOUND = 20.0


class Versioned:
    """A getter whose answer for a key changes with every call: b"<key>-<n>"."""

    def __init__(self) -> None:
        # Guards calls and error.
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.error: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, key: str) -> bytes:
        assert self.gate.wait(BOUND)
        with self.lock:
            self.calls.append(key)
            if self.error is not None:
                raise self.error
            return f"{key}-{self.calls.count(key)}".encode()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_stale_entry_is_answered_then_refreshed_once(core: ModuleType) -> None:
    src = Versioned()
    g = new_group("stale_basic", 1 << 20, src, default_ttl=TTL, stale_ttl=30, _core=core)
    assert g.get("k") == b"k-1"
    time.sleep(TTL * 1.5)
    src.gate.clear()  # hold the refresh so that every get below sees the stale entry
    answers = [g.get("k") for _ in range(50)]
    assert answers == [b"k-1"] * 50  # stale, at once, while the refresh waits
    src.gate.set()
    wait_for(lambda: g.stats()["refreshes"] == 1, "the refresh")
    assert g.get("k") == b"k-2"
    stats = g.stats()
    assert stats["stale_hits"] == 50 and stats["refreshes"] == 1 and stats["refresh_errors"] == 0
    assert src.calls == ["k", "k"]  # one load, one refresh for 50 stale hits


def test_a_failed_refresh_keeps_the_stale_value(core: ModuleType) -> None:
    src = Versioned()
    g = new_group("stale_error", 1 << 20, src, default_ttl=TTL, stale_ttl=30, _core=core)
    assert g.get("k") == b"k-1"
    src.error = OSError("source down")
    time.sleep(TTL * 1.5)
    assert g.get("k") == b"k-1"
    wait_for(lambda: g.stats()["refresh_errors"] == 1, "the failed refresh")
    assert g.get("k") == b"k-1"  # still served; a new refresh is tried
    src.error = None
    wait_for(lambda: g.get("k") == b"k-3", "a later refresh to succeed")
    assert g.stats()["refreshes"] >= 1


def test_a_key_gone_from_the_source_is_dropped_at_its_refresh(core: ModuleType) -> None:
    present = {"k": True}

    def source(key: str) -> bytes:
        if not present[key]:
            raise NotFound(key)
        return b"v"

    g = new_group("stale_gone", 1 << 20, source, default_ttl=TTL, stale_ttl=30, _core=core)
    assert g.get("k") == b"v"
    present["k"] = False
    time.sleep(TTL * 1.5)
    assert g.get("k") == b"v"  # stale, and the refresh learns it is gone
    wait_for(lambda: g.stats()["refreshes"] == 1, "the refresh")
    with pytest.raises(NotFound):
        g.get("k")


def test_past_the_stale_window_an_entry_is_gone(core: ModuleType) -> None:
    src = Versioned()
    g = new_group("stale_window", 1 << 20, src, default_ttl=TTL, stale_ttl=TTL, _core=core)
    assert g.get("k") == b"k-1"
    time.sleep(TTL * 2.5)
    assert g.get("k") == b"k-2"  # a plain miss: loaded, not served stale
    assert g.stats()["stale_hits"] == 0


def test_a_set_during_a_refresh_wins(core: ModuleType) -> None:
    src = Versioned()
    g = new_group("stale_set", 1 << 20, src, default_ttl=TTL, stale_ttl=30, _core=core)
    g.get("k")
    time.sleep(TTL * 1.5)
    src.gate.clear()
    assert g.get("k") == b"k-1"  # starts the refresh, held at the gate
    wait_for(lambda: g._refresher.running() == 1, "the refresh to start")  # noqa: SLF001
    g.set("k", b"written")
    src.gate.set()
    wait_for(lambda: g._refresher.running() == 0, "the refresh to end")  # noqa: SLF001
    assert g.get("k") == b"written"


def test_aget_serves_stale_too(core: ModuleType) -> None:
    src = Versioned()
    g = new_group("stale_async", 1 << 20, src, default_ttl=TTL, stale_ttl=30, _core=core)

    async def main() -> tuple[bytes, bytes]:
        first = await g.aget("k")
        await asyncio.sleep(TTL * 1.5)
        return first, await g.aget("k")

    assert asyncio.run(main()) == (b"k-1", b"k-1")
    wait_for(lambda: g.get("k") == b"k-2", "the refresh")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stale_ttl": 5}, "stale_ttl needs a default_ttl"),
        ({"default_ttl": 1, "stale_ttl": -1}, r"stale_ttl must be a finite number >= 0, not -1"),
        ({"default_ttl": 1, "stale_ttl": float("inf")}, "not inf"),
        ({"default_ttl": 1, "stale_ttl": "5"}, "not '5'"),
        ({"default_ttl": 1, "stale_ttl": True}, "not True"),
    ],
)
def test_bad_stale_arguments(core: ModuleType, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        new_group("stale_bad", 1 << 20, bytes, _core=core, **kwargs)  # type: ignore[arg-type]


def test_a_batch_read_serves_stale_and_refreshes_once(core: ModuleType, calls: Any) -> None:
    # get_many/aget_many answer a stale entry as get does: counted as a stale
    # hit, and refreshed once in the background, however often it is read.
    src = Versioned()
    g = new_group("stale_many", 1 << 20, src, default_ttl=TTL, stale_ttl=30, _core=core)
    assert calls.get_many(g, ["a", "b"]) == {"a": b"a-1", "b": b"b-1"}
    time.sleep(TTL * 1.5)
    src.gate.clear()  # hold the refreshes so that every read below sees the stale entries
    for _ in range(5):
        assert calls.get_many(g, ["a", "b"]) == {"a": b"a-1", "b": b"b-1"}
    assert g.stats()["stale_hits"] == 10
    src.gate.set()
    wait_for(lambda: g.stats()["refreshes"] == 2, "the two refreshes")
    stats = g.stats()
    assert stats["stale_hits"] == 10 and stats["refresh_errors"] == 0
    assert sorted(src.calls) == ["a", "a", "b", "b"]  # one load and one refresh per key
    # (Read after the counts: the refreshed entries go stale again after TTL.)
    assert calls.get_many(g, ["a", "b"]) == {"a": b"a-2", "b": b"b-2"}


def test_a_batch_read_keeps_the_stale_value_when_its_refresh_fails(
    core: ModuleType, calls: Any
) -> None:
    src = Versioned()
    g = new_group("stale_many_error", 1 << 20, src, default_ttl=TTL, stale_ttl=30, _core=core)
    assert calls.get_many(g, ["k"]) == {"k": b"k-1"}
    src.error = OSError("source down")
    time.sleep(TTL * 1.5)
    assert calls.get_many(g, ["k"]) == {"k": b"k-1"}
    wait_for(lambda: g.stats()["refresh_errors"] == 1, "the failed refresh")
    assert calls.get_many(g, ["k"]) == {"k": b"k-1"}  # still served
    src.error = None
    # Each stale read may start one more refresh: which call of the source
    # answers first depends on timing, only that it is a new one does not.
    wait_for(lambda: calls.get_many(g, ["k"]) != {"k": b"k-1"}, "a later refresh to succeed")
    stats = g.stats()
    assert stats["stale_hits"] >= 2 and stats["refreshes"] >= 1 and stats["refresh_errors"] >= 1
