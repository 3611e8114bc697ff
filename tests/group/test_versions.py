"""Versioned writes between replicas, in process: a peer's write is applied only when newer.

The real-node cases are in tests/cluster/test_replication.py; here the rules
of Writes._set_here and of a load's version, on both cores.
"""

from __future__ import annotations

import threading
from types import ModuleType

from distcache.group import new_group
from distcache.hlc import HybridClock

from .fakes import GroupPeer, RingPicker
from .test_group import Source

BOUND = 20.0


class ClockedPicker(RingPicker):
    """A RingPicker that versions writes, as GRPCPool does with its clock."""

    def __init__(self, me: str, peers: dict[str, GroupPeer], replicas: int = 2) -> None:
        super().__init__(me, peers, replicas)
        self.clock = HybridClock(sorted([me, *peers]).index(me) + 1)


def pair(core: ModuleType, src: Source) -> tuple:
    """Groups a and b, replicas of every key, each reaching the other through a GroupPeer."""
    to_a, to_b = GroupPeer("a"), GroupPeer("b")
    a = new_group("versions_a", 1 << 20, src, _core=core)
    b = new_group("versions_b", 1 << 20, src, _core=core)
    to_a.group, to_b.group = a, b
    a.register_peers(ClockedPicker("a", {"b": to_b}))
    b.register_peers(ClockedPicker("b", {"a": to_a}))
    return a, b


def test_a_peer_write_older_than_the_held_value_changes_nothing(core: ModuleType) -> None:
    a, b = pair(core, Source({}))
    b.set("k", b"new", forwarded=True, version=200)
    b.set("k", b"old", forwarded=True, version=100)  # a late push of an older load
    assert b.get("k") == b"new"
    assert b.stats()["superseded_writes"] == 1
    b.set("k", b"newer", forwarded=True, version=300)
    assert b.get("k") == b"newer"
    a.close()
    b.close()


def test_sets_through_both_replicas_converge(core: ModuleType) -> None:
    a, b = pair(core, Source({}))
    a.set("k", b"from-a")
    b.set("k", b"from-b")  # made after: a larger version, on both
    assert a.get("k") == b.get("k") == b"from-b"
    a.close()
    b.close()


class GatedPeer(GroupPeer):
    """A GroupPeer whose pushes (sets from the push thread) wait for a gate."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.gate = threading.Event()

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = True, version: int = 0) -> None:
        if threading.current_thread().name.startswith("distcache-push"):
            assert self.gate.wait(BOUND), "the gate was never opened"
        super().set(group, key, value, ttl, forwarded=forwarded, version=version)


def test_a_push_queued_before_a_set_and_delivered_after_it_is_refused(
        core: ModuleType) -> None:
    # a loads k and queues its push to b; a Set of k through a is acknowledged
    # while the push waits; then the push reaches b: b keeps the Set.
    src = Source({"k": b"source"})
    to_a, to_b = GroupPeer("a"), GatedPeer("b")
    a = new_group("versions_a", 1 << 20, src, _core=core)
    b = new_group("versions_b", 1 << 20, src, _core=core)
    to_a.group, to_b.group = a, b
    a.register_peers(ClockedPicker("a", {"b": to_b}))
    b.register_peers(ClockedPicker("b", {"a": to_a}))
    assert a.get("k") == b"source"  # loaded on a, its push to b queued behind the gate
    a.set("k", b"written")  # reaches b at once (not a push)
    assert b.get("k") == b"written"
    to_b.gate.set()
    assert a._pusher.flush(BOUND)
    assert b.get("k") == b"written" and a.get("k") == b"written"
    assert b.stats()["superseded_writes"] == 1
    a.close()
    b.close()


def test_a_replica_that_misses_takes_the_other_replica_s_copy(core: ModuleType) -> None:
    src = Source({"k": b"source"})
    a, b = pair(core, src)
    a.set("k", b"written")
    b._main.delete("k")  # b restarted empty, as far as k goes
    assert b.get("k") == b"written"
    assert src.calls == [] and b.stats()["co_replica_hits"] == 1
    a.close()
    b.close()


def test_the_version_counters_reach_metrics(core: ModuleType) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from distcache.monitoring.prometheus import DistcacheCollector

    src = Source({"k": b"source"})
    a, b = pair(core, src)
    b.set("k", b"new", forwarded=True, version=200)
    b.set("k", b"old", forwarded=True, version=100)
    a.get("k")  # a misses and takes b's copy
    registry = CollectorRegistry()
    registry.register(DistcacheCollector())
    text = generate_latest(registry).decode()
    assert 'distcache_superseded_writes_total{group="versions_b"} 1.0' in text
    assert 'distcache_co_replica_hits_total{group="versions_a"} 1.0' in text
    a.close()
    b.close()


def test_a_push_queued_before_a_delete_does_not_bring_the_key_back(core: ModuleType) -> None:
    # a loads k and queues its push to b; a Delete of k through a follows;
    # then the push reaches b: b's tombstone refuses it, k stays deleted.
    src = Source({"k": b"source"})
    to_a, to_b = GroupPeer("a"), GatedPeer("b")
    a = new_group("versions_a", 1 << 20, src, _core=core)
    b = new_group("versions_b", 1 << 20, src, _core=core)
    to_a.group, to_b.group = a, b
    a.register_peers(ClockedPicker("a", {"b": to_b}))
    b.register_peers(ClockedPicker("b", {"a": to_a}))
    assert a.get("k") == b"source"  # its push to b waits behind the gate
    b.set("k", b"written")  # b holds a newer value, then the Delete comes
    a.delete("k")
    to_b.gate.set()
    assert a._pusher.flush(BOUND)
    assert b._main.get("k") is None  # the older push did not bring it back
    assert b.stats()["superseded_writes"] == 1
    a.close()
    b.close()


def test_a_write_newer_than_the_delete_is_applied(core: ModuleType) -> None:
    a, b = pair(core, Source({}))
    b.delete("k", forwarded=True, version=500)
    b.set("k", b"older", forwarded=True, version=400)
    assert b._main.get("k") is None
    b.set("k", b"newer", forwarded=True, version=600)
    assert b._main.get("k") == b"newer"
    a.close()
    b.close()


def test_tombstones_live_a_bounded_time_in_a_bounded_table() -> None:
    from distcache.group.tombstones import Tombstones

    now = [0.0]
    t = Tombstones(capacity=2, lifetime=10.0, clock=lambda: now[0])
    t.record("a", 5)
    t.record("a", 3)  # an older Delete keeps the newer version
    assert t.version_of("a") == 5
    t.record("b", 1)
    t.record("c", 1)  # over capacity: the oldest ("a") goes, counted
    assert t.version_of("a") == 0 and t.dropped == 1 and len(t) == 2
    now[0] = 10.0
    assert t.version_of("b") == 0  # its lifetime is over
    t.forget("c")
    assert len(t) == 0
