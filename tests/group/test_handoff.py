"""Writes ordered by a key's first replica, and hinted handoff, in process on both cores.

Three groups reach each other through GroupPeers (fakes.py), each with its
own clock, as nodes do through GRPCPool; a GroupPeer's ``down`` makes every
call to that node fail, and reads as "marked down" to the hint replay. The
real-node cases are in tests/cluster/test_replication.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import ModuleType

import pytest

from distcache.group import new_group
from distcache.group.hints import Hints
from distcache.hlc import unpack

from .fakes import GroupPeer
from .test_group import Source
from .test_versions import ClockedPicker

BOUND = 10.0  # seconds a replay may take here; it comes within a few ticks of 0.1 s
NAMES = ("a", "b", "c")


class Trio:
    """Three clocked groups, every key on two of them."""

    def __init__(self, core: ModuleType, src: Source) -> None:
        self.links = {me: {n: GroupPeer(n) for n in NAMES if n != me} for me in NAMES}
        self.groups = {n: new_group(f"handoff_{n}", 1 << 20, src, _core=core) for n in NAMES}
        self.pickers = {}
        for me in NAMES:
            for n, link in self.links[me].items():
                link.group = self.groups[n]
            self.pickers[me] = ClockedPicker(me, self.links[me])
            self.groups[me].register_peers(self.pickers[me])

    def roles(self, key: str) -> tuple[str, str, str]:
        """(first replica, second replica, the node that is neither) of key."""
        first, second = self.pickers["a"].owners(key)
        (other,) = [n for n in NAMES if n not in (first, second)]
        return first, second, other

    def node_of(self, name: str) -> int:
        return self.pickers[name].clock.node

    def set_down(self, name: str, down: bool) -> None:
        for me in NAMES:
            if name in self.links[me]:
                self.links[me][name].down = down

    def held(self, name: str, key: str) -> tuple[bytes, int] | None:
        return self.groups[name].cached(key)

    def close(self) -> None:
        for g in self.groups.values():
            g.close()


@pytest.fixture
def trio(core: ModuleType) -> Iterator[Trio]:
    t = Trio(core, Source({f"k{i}": b"value-%d" % i for i in range(100)}))
    yield t
    t.close()


def wait_for(done, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not done():
        assert time.monotonic() < deadline, f"not within {BOUND} s: {what}"
        time.sleep(0.02)


def test_a_set_through_any_node_is_versioned_by_the_first_replica(trio: Trio) -> None:
    first, second, other = trio.roles("k1")
    for via in (other, second, first):
        version = trio.groups[via].set("k1", via.encode())
        assert unpack(version)[2] == trio.node_of(first), via
        assert trio.held(first, "k1") == trio.held(second, "k1") == (via.encode(), version)
        assert trio.held(other, "k1") is None  # no main copy off the replicas
    assert trio.groups[other].stats()["ordering_failures"] == 0


def test_an_awaited_set_and_delete_are_ordered_by_the_first_replica(trio: Trio) -> None:
    first, second, other = trio.roles("k2")
    version = asyncio.run(trio.groups[other].aset("k2", b"x"))
    assert unpack(version)[2] == trio.node_of(first)
    assert trio.held(second, "k2") == (b"x", version)
    assert asyncio.run(trio.groups[second].adelete("k2")) is True
    assert trio.held(first, "k2") is None and trio.held(second, "k2") is None
    assert trio.groups[first]._tombstones.version_of("k2") > version


def test_a_delete_through_any_node_leaves_the_first_replica_s_version(trio: Trio) -> None:
    first, second, other = trio.roles("k3")
    trio.groups[other].set("k3", b"x")
    found, version = trio.groups[other].delete_versioned("k3")
    assert unpack(version)[2] == trio.node_of(first)
    for n in (first, second):
        assert trio.held(n, "k3") is None
        assert trio.groups[n]._tombstones.version_of("k3") == version


def test_a_replica_that_was_down_gets_the_write_when_it_is_up_again(trio: Trio) -> None:
    first, second, other = trio.roles("k4")
    trio.set_down(second, True)
    version = trio.groups[other].set("k4", b"while-down")  # acknowledged: the first took it
    assert trio.held(second, "k4") is None
    stats = trio.groups[other].stats()
    assert (stats["hints"], stats["hints_pending"]) == (1, 1)
    trio.set_down(second, False)
    wait_for(lambda: trio.held(second, "k4") == (b"while-down", version), "the hint replayed")
    assert trio.groups[other].stats()["hints_replayed"] == 1
    assert trio.groups[other].stats()["hints_pending"] == 0


def test_a_delete_a_replica_missed_reaches_it_as_a_tombstone(trio: Trio) -> None:
    first, second, other = trio.roles("k5")
    trio.groups[first].set("k5", b"x")
    trio.set_down(second, True)
    _, version = trio.groups[first].delete_versioned("k5")
    assert trio.held(second, "k5")[0] == b"x"  # it missed the Delete
    trio.set_down(second, False)
    wait_for(lambda: trio.held(second, "k5") is None, "the Delete replayed")
    assert trio.groups[second]._tombstones.version_of("k5") == version


def test_the_newest_hint_of_a_key_is_the_one_replayed(trio: Trio) -> None:
    first, second, other = trio.roles("k6")
    trio.set_down(second, True)
    trio.groups[first].set("k6", b"one")
    newest = trio.groups[first].set("k6", b"two")
    assert trio.groups[first].stats()["hints_pending"] == 1  # one per key
    trio.set_down(second, False)
    wait_for(lambda: trio.held(second, "k6") == (b"two", newest), "the newest hint replayed")


def test_a_replay_never_overwrites_a_later_write(trio: Trio) -> None:
    first, second, other = trio.roles("k7")
    trio.set_down(second, True)
    trio.groups[first].set("k7", b"hinted")
    # A later write reaches the second replica by itself (as a newer hint or
    # a client's Set through it would) before the replay does.
    later = trio.pickers[first].clock.now()
    trio.groups[second].set("k7", b"later", forwarded=True, version=later)
    trio.set_down(second, False)
    wait_for(lambda: trio.groups[first].stats()["hints_pending"] == 0, "the replay")
    assert trio.held(second, "k7") == (b"later", later)
    assert trio.groups[second].stats()["superseded_writes"] == 1


def test_a_set_when_the_first_replica_is_down_is_ordered_here_and_handed_over(
        trio: Trio) -> None:
    first, second, other = trio.roles("k8")
    trio.set_down(first, True)
    version = trio.groups[other].set("k8", b"x")
    assert unpack(version)[2] == trio.node_of(other)
    assert trio.held(second, "k8") == (b"x", version)
    assert trio.groups[other].stats()["ordering_failures"] == 1
    trio.set_down(first, False)
    wait_for(lambda: trio.held(first, "k8") == (b"x", version), "the hint replayed")


def test_a_failed_replica_push_is_hinted_too(trio: Trio) -> None:
    first, second, other = trio.roles("k9")
    trio.set_down(second, True)
    assert trio.groups[first].get("k9") == b"value-9"  # loaded there, pushed to second
    wait_for(lambda: trio.groups[first].stats()["replica_push_failures"] == 1, "the push")
    trio.set_down(second, False)
    wait_for(lambda: trio.held(second, "k9") is not None, "the push replayed")
    assert trio.held(second, "k9") == trio.held(first, "k9")


# -- the hint table itself --------------------------------------------------------


class Counts(dict):
    def __call__(self, name: str) -> None:
        self[name] = self.get(name, 0) + 1


class Refusing:
    """A peer that reads as down: hints stay."""

    down = True


def test_hints_are_bounded_by_count_and_bytes_the_oldest_dropped() -> None:
    counts, peer = Counts(), Refusing()
    hints = Hints("g", counts, lambda: (peer,), max_hints=3, max_bytes=10)
    for i in range(5):
        hints.add(peer, f"k{i}", b"x", i + 1)
    assert hints.pending_for(peer) == 3 and counts["hints_dropped"] == 2
    hints.add(peer, "big", b"y" * 10, 9)  # 10 bytes: every other value goes
    assert hints.pending_for(peer) == 1 and counts["hints_dropped"] == 5
    hints.add(peer, "big", b"z", 8)  # older than the one held for that key: ignored
    assert hints.pending_for(peer) == 1
    hints.close()


def test_hints_of_a_peer_that_left_the_ring_or_whose_ttl_ended_are_dropped() -> None:
    counts = Counts()

    class Taking:
        down = False
        sets: list[str] = []

        def set(self, group, key, value, ttl, *, forwarded, version) -> int:
            self.sets.append(key)
            return version

    gone, here = Refusing(), Taking()
    members: tuple = (here,)
    hints = Hints("g", counts, lambda: members)
    hints.add(gone, "k", b"x", 1)
    hints.add(here, "expired", b"x", 1, ttl=0.001)
    hints.add(here, "kept", b"x", 2, ttl=60.0)
    time.sleep(0.01)
    hints.replay()
    assert counts["hints_dropped"] == 2  # gone's, and the expired one
    assert here.sets == ["kept"] and counts["hints_replayed"] == 1
    assert hints.pending() == 0
    hints.close()


def test_the_handoff_counters_reach_metrics(trio: Trio) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from distcache.monitoring.prometheus import DistcacheCollector

    first, second, other = trio.roles("k10")
    trio.set_down(second, True)
    trio.set_down(first, True)
    with pytest.raises(ConnectionError):  # no replica took it: the client is told
        trio.groups[other].set("k10", b"x")
    registry = CollectorRegistry()
    registry.register(DistcacheCollector())
    text = generate_latest(registry).decode()
    g = f'group="handoff_{other}"'
    assert f"distcache_ordering_failures_total{{{g}}} 1.0" in text
    assert f'distcache_hints_total{{{g},result="queued"}} 2.0' in text
    assert f"distcache_hints_pending{{{g}}} 2.0" in text
    trio.set_down(second, False)
    trio.set_down(first, False)
    wait_for(lambda: trio.groups[other].stats()["hints_pending"] == 0, "the replays")
    text = generate_latest(registry).decode()
    assert f'distcache_hints_total{{{g},result="replayed"}} 2.0' in text
