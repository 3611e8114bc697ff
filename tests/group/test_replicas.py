"""Replica, failover and broadcast rules on an in-process cluster of groups (no sockets).

Three nodes, each key on two of them (rendezvous placement in the fakes): a
replica loads a key once and pushes it to the other replica; a non-replica
asks the replicas in ring order and loads itself (uncached) when none
answers; a forwarded request is never forwarded again; a client set or
delete reaches each other node exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import ModuleType

import pytest

from distcache.group import NotFound, new_group

from .fakes import FakeCluster, GroupPeer, RingPicker
from .test_group import Source

FLUSH = 5.0  # seconds a test waits for replica pushes; they take microseconds


@pytest.fixture
def cluster(core: ModuleType) -> Iterator[tuple[FakeCluster, Source]]:
    src = Source({f"k{i}": b"value-%d" % i for i in range(200)})
    c = FakeCluster(lambda node: new_group(f"users-{node}", 1 << 20, src, _core=core,
                                           _promote_at=3))
    yield c, src
    c.close()


def roles(c: FakeCluster, key: str) -> tuple[list[str], str]:
    """(the key's replicas in ring order, a node that is not one)."""
    owners = c.picker(c.names[0]).owners(key)
    return owners, next(n for n in c.names if n not in owners)


def flush(c: FakeCluster) -> None:
    for g in c.groups.values():
        assert g._pusher.flush(FLUSH)


def test_a_replica_loads_once_and_pushes_to_the_other(cluster) -> None:
    c, src = cluster
    (first, second), _ = roles(c, "k1")
    assert c.groups[first].get("k1") == b"value-1"
    flush(c)
    assert src.calls == ["k1"]
    assert c.groups[first].stats()["replica_pushes"] == 1
    assert "k1" in c.groups[second]._main  # pushed: a hit there, no load
    assert c.groups[second].get("k1") == b"value-1"
    assert src.calls == ["k1"]


def test_a_non_replica_asks_the_first_replica_and_keeps_no_copy(cluster) -> None:
    c, src = cluster
    (first, second), other = roles(c, "k2")
    g = c.groups[other]
    assert g.get("k2") == b"value-2"
    assert c.links[other][first].calls == [("get", "k2")]
    assert c.links[other][second].calls == []
    assert "k2" not in g._main
    st = g.stats()
    assert (st["remote_hits"], st["peer_loads"], st["failovers"], st["degraded_loads"]) == (
        1, 1, 0, 0)


def test_failover_to_the_second_replica_then_degraded(cluster) -> None:
    c, src = cluster
    (first, second), other = roles(c, "k3")
    g = c.groups[other]
    c.set_down(first)
    assert g.get("k3") == b"value-3"  # from the second replica
    assert c.links[other][second].calls == [("get", "k3")]
    c.set_down(second)
    assert g.get("k3") == b"value-3"  # nobody answers: the getter here
    assert "k3" not in g._main  # degraded loads are not cached
    st = g.stats()
    assert st["failovers"] == 2 and st["peer_errors"] == 3 and st["degraded_loads"] == 1
    assert st["errors"] == 0
    c.set_down(first, False)
    c.set_down(second, False)
    assert g.get("k3") == b"value-3"
    assert g.stats()["remote_hits"] == 2


def test_absent_keys_answer_not_found_through_a_replica(cluster) -> None:
    c, _ = cluster
    owners, other = roles(c, "nope")
    with pytest.raises(NotFound):
        c.groups[other].get("nope")
    with pytest.raises(NotFound):  # remembered: the replica is not asked again
        c.groups[other].get("nope")
    assert c.links[other][owners[0]].calls == [("get", "nope")]


def test_rings_that_disagree_cannot_cycle(core: ModuleType) -> None:
    # a thinks b owns every key, b thinks a does: a forwarded get is answered
    # where it lands, never forwarded back.
    src = Source({"x": b"1"})
    a = new_group("ring-a", 1 << 20, src, _core=core)
    b = new_group("ring-b", 1 << 20, src, _core=core)
    to_b, to_a = GroupPeer("b"), GroupPeer("a")
    to_b.group, to_a.group = b, a

    class Elsewhere(RingPicker):
        def owners(self, key: str) -> list[str]:
            return [n for n in self.nodes if n != self.me]

    a.register_peers(Elsewhere("a", {"b": to_b}, replicas=1))
    b.register_peers(Elsewhere("b", {"a": to_a}, replicas=1))
    assert a.get("x") == b"1" and b.get("x") == b"1"
    assert src.calls == ["x"]  # b loaded it for a; then b's own get hit
    assert to_b.calls == [("get", "x")] and to_a.calls == []
    a.close()
    b.close()


def test_concurrent_gets_at_a_non_replica_forward_once(cluster) -> None:
    c, src = cluster
    (first, _), other = roles(c, "k4")
    g = c.groups[other]
    barrier = threading.Barrier(20)
    results: list[bytes] = []

    def read() -> None:
        barrier.wait(FLUSH)
        results.append(g.get("k4"))

    threads = [threading.Thread(target=read) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(FLUSH)
    assert results == [b"value-4"] * 20
    assert len(c.links[other][first].calls) <= 20
    assert src.calls.count("k4") == 1


def test_a_client_set_reaches_each_node_once(cluster) -> None:
    c, src = cluster
    (first, second), other = roles(c, "k5")
    hot = c.groups[other]
    for _ in range(5):  # hot at the non-replica: promoted into its hot cache
        hot.get("k5")
    assert hot.stats()["promotions"] == 1 and "k5" in hot._hot
    flush(c)

    def total() -> int:
        return sum(len(c.calls_to(n)) for n in c.names)

    before = total()
    to_second, to_other = c.links[first][second].calls, c.links[first][other].calls
    seen = len(to_second), len(to_other)
    c.groups[first].set("k5", b"new")
    # One call to each other node: a set to the replica, a delete to the rest,
    # and the receivers did not pass it on: no storm.
    assert total() == before + 2
    assert to_second[seen[0]:] == [("set", "k5")]
    assert to_other[seen[1]:] == [("delete", "k5")]
    assert "k5" not in hot._hot
    calls_before = len(src.calls)
    assert c.groups[second].get("k5") == b"new" and c.groups[first].get("k5") == b"new"
    assert hot.get("k5") == b"new"
    assert len(src.calls) == calls_before  # the source was not asked, nor changed
    assert src.data["k5"] == b"value-5"


def test_a_set_through_a_non_replica_stores_on_the_replicas(cluster) -> None:
    c, src = cluster
    (first, second), other = roles(c, "k6")
    c.groups[other].set("k6", b"via-other")
    assert "k6" not in c.groups[other]._main
    assert c.groups[first].get("k6") == b"via-other" == c.groups[second].get("k6")
    assert src.calls == []
    c.set_down(first)
    c.set_down(second)
    with pytest.raises(ConnectionError):  # no replica took it: the client is told
        c.groups[other].set("k6", b"lost")
    assert c.groups[other].stats()["broadcast_errors"] == 2


def test_a_delete_reaches_owner_replica_and_hot_copies(cluster) -> None:
    c, src = cluster
    (first, second), other = roles(c, "k7")
    for _ in range(5):
        c.groups[other].get("k7")
    flush(c)
    assert "k7" in c.groups[first]._main and "k7" in c.groups[second]._main
    assert "k7" in c.groups[other]._hot
    assert c.groups[other].delete("k7") is True  # its hot copy
    for n in (first, second):
        assert "k7" not in c.groups[n]._main
    assert "k7" not in c.groups[other]._hot
    assert [c.calls_to(n).count(("delete", "k7")) for n in c.names].count(1) == 2
    before = src.calls.count("k7")
    assert c.groups[first].get("k7") == b"value-7"  # loaded again from the source
    assert src.calls.count("k7") == before + 1


def test_get_many_asks_each_replica_once_and_keeps_order(cluster) -> None:
    c, src = cluster
    g = c.groups["node0"]
    keys = [f"k{i}" for i in range(40)] + ["nope"]
    g.get("k0")  # one key already cached here or at its replica
    got = g.get_many(keys)
    assert list(got) == keys[:40] and all(got[k] == src.data[k] for k in got)
    # One GetMany per other node at most, not one call per key.
    for n in ("node1", "node2"):
        calls = [m for m, _ in c.links["node0"][n].calls]
        assert calls.count("get_many") <= 1
    assert g.get_many([]) == {}
    c.set_down("node1")
    c.set_down("node2")
    again = g.get_many(keys)  # the replicas are down: loaded here, degraded
    assert list(again) == keys[:40]
    assert g.stats()["degraded_loads"] > 0
