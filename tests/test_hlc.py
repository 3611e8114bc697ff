"""The hybrid logical clock behind versions (distcache/hlc.py)."""

from __future__ import annotations

import threading

import pytest

from distcache import hlc
from distcache.hlc import MAX_AHEAD_MS, HybridClock, node_id, pack, unpack

T0 = 1_765_000_000.0  # a wall-clock instant in seconds (December 2025)


class Wall:
    """A wall clock the test sets, in seconds."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_version_packs_time_counter_and_node() -> None:
    v = pack(1_765_000_000_123, 7, 0xABC)
    assert unpack(v) == (1_765_000_000_123, 7, 0xABC)
    assert v < 1 << 64
    # Time decides first, then the counter, then the node.
    assert pack(2, 0, 0) > pack(1, 255, 4095) > pack(1, 254, 4095) > pack(1, 254, 4094)
    for bad in [(-1, 0, 0), (1 << 44, 0, 0), (0, 256, 0), (0, 0, 4096)]:
        with pytest.raises(ValueError):
            pack(*bad)
    with pytest.raises(ValueError):
        unpack(1 << 64)


def test_versions_follow_the_wall_clock_and_never_repeat() -> None:
    wall = Wall()
    clock = HybridClock(5, wall)
    a = clock.now()
    assert unpack(a) == (int(T0 * 1000), 0, 5)
    b = clock.now()  # the same millisecond: the counter counts
    assert b > a and unpack(b) == (int(T0 * 1000), 1, 5)
    wall.t += 0.010
    c = clock.now()
    assert unpack(c) == (int(T0 * 1000) + 10, 0, 5)


def test_a_wall_clock_that_steps_back_does_not_make_smaller_versions() -> None:
    wall = Wall()
    clock = HybridClock(1, wall)
    first = clock.now()
    wall.t -= 5.0  # NTP stepped the clock back
    later = [clock.now() for _ in range(1000)]
    assert all(x > first for x in later)
    assert later == sorted(later) and len(set(later)) == 1000
    # 1,000 versions in one millisecond borrowed the next ones; the physical
    # part stays within a few milliseconds of the newest seen.
    assert unpack(later[-1])[0] - unpack(first)[0] <= 4


def test_a_version_seen_from_another_node_is_passed() -> None:
    wall = Wall()
    mine, theirs = HybridClock(1, wall), HybridClock(2, Wall(T0 + 2.0))  # 2 s ahead
    v = theirs.now()
    assert mine.now() < v
    mine.observe(v)
    assert mine.now() > v


def test_a_version_far_in_the_future_is_not_followed() -> None:
    wall = Wall()
    clock = HybridClock(1, wall)
    far = pack(int(T0 * 1000) + MAX_AHEAD_MS + 1000, 0, 2)
    clock.observe(far)
    assert unpack(clock.now())[0] == int(T0 * 1000)


def test_node_ids_are_the_same_in_every_process_and_fit_12_bits() -> None:
    ids = {node_id(f"127.0.0.1:{8000 + i}") for i in range(3)}
    assert len(ids) == 3 and all(0 <= i < 4096 for i in ids)
    assert node_id("127.0.0.1:8001") == hlc.core.fnv32a("127.0.0.1:8001") & 0xFFF
    with pytest.raises(ValueError):
        HybridClock(4096)


def test_threads_get_distinct_increasing_versions() -> None:
    clock = HybridClock(3)
    per_thread: list[list[int]] = [[] for _ in range(8)]

    def work(out: list[int]) -> None:
        for _ in range(5000):
            out.append(clock.now())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a thread is stuck (watchdog)"
    every = [v for out in per_thread for v in out]
    assert len(set(every)) == len(every) == 40_000
    assert all(out == sorted(out) for out in per_thread)
