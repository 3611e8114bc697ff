"""What a Set leaves on the replicas of its key, on real `distcache serve` nodes.

These reproduce what a second outside test of the cluster found (docs/grpc.md,
"Consistency", says what holds); each waits a bounded time and every node is
stopped by its pid when the test ends.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distcache.cluster import Client
from distcache.cluster.hashring import HashRing
from distcache.cluster.wire import MAX_KEY_BYTES, MAX_VALUE

from .nodes import Cluster, make_source

CALL = 30.0  # seconds per call: a 64 MiB value crosses loopback in well under a second


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(make_source(tmp_path / "source.db"), 3, group="items:512MiB")
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Cluster]:
    """Three nodes over 2,000 source rows, each serving /stats."""
    c = Cluster(make_source(tmp_path / "source.db", rows=2000), 3, group="items:64MiB",
                metrics=True)
    try:
        yield c.start()
    finally:
        c.stop()


def counters(cluster: Cluster, i: int) -> dict[str, Any]:
    """Node i's counters of the group "items", from its /stats."""
    with urllib.request.urlopen(cluster.metrics_urls[i] + "/stats", timeout=10) as r:
        document = json.load(r)
    (group,) = [g for g in document["groups"] if g["name"] == "items"]
    return group["counters"]  # type: ignore[no-any-return]


def wait_for(done: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def values_everywhere(cluster: Cluster, key: str) -> list[bytes]:
    """What each node answers for key, node by node."""
    out = []
    for addr in cluster.addrs:
        with Client(addr, timeout=CALL) as client:
            out.append(client.get("items", key))
    return out


def test_a_queued_push_of_an_older_load_does_not_overwrite_a_later_set(watched: Cluster) -> None:
    # A loads 400 keys of which it is the first replica and B the second, and
    # queues a push of each to B; a Set of the last one is acknowledged while
    # the pushes are still queued. The push of the older load must not
    # overwrite the Set on B: every node answers the written value.
    ring = HashRing(watched.addrs)
    a, b, _ = watched.addrs
    keys = [k for k in (f"k{i}" for i in range(2000)) if ring.get_n(k, 2) == [a, b]][:400]
    assert len(keys) >= 100, len(keys)
    last = keys[-1]
    with Client(a, timeout=CALL) as client:
        loaded = client.get_many("items", keys)
        assert loaded[last] == b"value-" + last[1:].encode()
        client.set("items", last, b"written")
    pushed = ("replica_pushes", "replica_push_failures", "replica_push_dropped")
    wait_for(lambda: sum(counters(watched, 0)[c] for c in pushed) >= len(keys), 30,
             "A's pushes sent")
    assert values_everywhere(watched, last) == [b"written"] * 3


def test_two_sets_at_once_through_both_replicas_end_the_same_everywhere(
        cluster: Cluster) -> None:
    # Two Sets of one key sent at the same moment through its two replicas:
    # whichever wins, every node must answer the same value afterwards.
    ring = HashRing(cluster.addrs)
    diverged = []
    for attempt in range(30):
        key = f"race-{attempt}"
        first, second = ring.get_n(key, 2)
        clients = [Client(first, timeout=CALL), Client(second, timeout=CALL)]
        start = threading.Barrier(2, timeout=CALL)

        def write(i: int, clients: list[Client] = clients, key: str = key,
                  start: threading.Barrier = start) -> None:
            start.wait()
            clients[i].set("items", key, b"from-%d" % i)

        threads = [threading.Thread(target=write, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CALL)
            assert not t.is_alive(), "a Set is stuck (watchdog)"
        for c in clients:
            c.close()
        seen = values_everywhere(cluster, key)
        if len(set(seen)) != 1:
            diverged.append((key, seen))
    assert not diverged, f"{len(diverged)} of 30 keys diverged: {diverged[:3]}"


def test_the_largest_value_set_through_a_non_replica_reaches_both_replicas(
        cluster: Cluster) -> None:
    # A 64 MiB value under a long key, set through the node that is not one
    # of its replicas: both replicas must hold it, so that a read through any
    # node answers it (the forwarded copy used to be refused 2 bytes over the
    # message limit, after the Set was acknowledged).
    ring = HashRing(cluster.addrs)
    key = next(k for k in (("k" * (MAX_KEY_BYTES - 8)) + f"{i:08d}" for i in range(1000))
               if len(set(ring.get_n(k, 2))) == 2)
    replicas = ring.get_n(key, 2)
    (outsider,) = [a for a in cluster.addrs if a not in replicas]
    value = bytes(range(256)) * (MAX_VALUE // 256)
    assert len(value) == MAX_VALUE
    with Client(outsider, timeout=CALL) as client:
        client.set("items", key, value, ttl=300)
    for addr in replicas:  # each replica answers from its own cache
        with Client(addr, timeout=CALL) as client:
            assert client.get("items", key) == value, addr


def test_a_value_over_the_limit_is_refused_before_anything_is_stored(cluster: Cluster) -> None:
    with Client(cluster.addrs[0], timeout=CALL) as client:
        with pytest.raises(ValueError, match=f"at most {MAX_VALUE} bytes"):
            client.set("items", "k1", bytes(MAX_VALUE + 1))
        assert client.get("items", "k1") == b"value-1"  # the source's value: nothing stored


def test_a_group_with_peers_refuses_a_value_its_peers_cannot_take() -> None:
    from distcache.cluster import GRPCPool
    from distcache.group import new_group
    from distcache.group.registry import _reset_groups

    pool = GRPCPool("127.0.0.1:1", replicas=2)
    pool.set_peers("127.0.0.1:1", "127.0.0.1:2")
    g = new_group("too_big_for_peers", 1 << 30, lambda key: b"source")
    g.register_peers(pool)
    try:
        with pytest.raises(ValueError, match=f"peers take at most {MAX_VALUE}"):
            g.set("k", bytes(MAX_VALUE + 1))
        assert g.stats()["sets"] == 0 and g.stats()["nbytes"] == 0
    finally:
        g.close()
        pool.stop()
        _reset_groups()


def test_a_restarted_replica_takes_the_survivor_s_write_instead_of_the_source_s(
        watched: Cluster) -> None:
    # After an acknowledged Set, replica B is SIGKILLed and restarted empty;
    # a read through B must answer the written value (B asks A, the other
    # replica, before the source), and the write must stay on every node.
    ring = HashRing(watched.addrs)
    key = next(k for k in (f"k{i}" for i in range(2000)) if ring.get_n(k, 2)[1] ==
               watched.addrs[1])
    a, b = ring.get_n(key, 2)
    with Client(a, timeout=CALL) as client:
        client.set("items", key, b"written")
    node_b = watched.nodes[watched.addrs.index(b)]
    node_b.kill()
    node_b.restart()
    with Client(b, timeout=CALL) as client:
        assert client.get("items", key) == b"written"
    i = watched.addrs.index(b)
    assert counters(watched, i)["co_replica_hits"] == 1
    assert counters(watched, i)["getter_loads"] == 0
    time.sleep(0.5)  # any push B would make has gone by now
    assert values_everywhere(watched, key) == [b"written"] * 3


def test_a_hot_copy_expires_with_the_value_it_copies(cluster: Cluster) -> None:
    # A Set with ttl=1 s through a replica; the node that is not a replica
    # reads the key often enough to keep a hot copy. Once the ttl has passed,
    # every node answers the source's value: the hot copy did not outlive it.
    ring = HashRing(cluster.addrs)
    key = "k7"
    replicas = ring.get_n(key, 2)
    (outsider,) = [a for a in cluster.addrs if a not in replicas]
    with Client(replicas[0], timeout=CALL) as client:
        client.set("items", key, b"written", ttl=1.0)
    with Client(outsider, timeout=CALL) as client:
        for _ in range(50):  # hot: copied into the outsider's hot cache
            assert client.get("items", key) == b"written"
    time.sleep(2.5)
    assert values_everywhere(cluster, key) == [b"value-7"] * 3


def test_a_paused_co_replica_does_not_make_its_replica_miss_a_forwarded_get(
        tmp_path: Path) -> None:
    # Replica B of a key is paused (SIGSTOP). A Get through the node that is
    # not a replica goes to A, the first replica, which asks B for its copy
    # before the source. That ask must give up early enough for A to load the
    # key and answer inside the caller's timeout: the caller must not see A
    # fail (and mark it down) because of B. The Get comes at once, before
    # the prober (one probe a second, each waiting the 2 s timeout) has
    # marked B down on A.
    c = Cluster(make_source(tmp_path / "source.db"), 3, group="items:64MiB", metrics=True,
                extra=["--timeout", "2"])
    try:
        c.start()
        ring = HashRing(c.addrs)
        key = "k11"
        a, b = ring.get_n(key, 2)
        (outsider,) = [x for x in c.addrs if x not in (a, b)]
        # A Set of another key of the same two replicas, through A: A's
        # channel to B is connected (a connect to a paused node fails fast).
        warm = next(k for k in (f"k{i}" for i in range(12, 1000)) if ring.get_n(k, 2) == [a, b])
        with Client(a, timeout=CALL) as client:
            client.set("items", warm, b"warm")
        node_b = c.nodes[c.addrs.index(b)]
        node_b.pause(True)
        try:
            with Client(outsider, timeout=CALL) as client:
                assert client.get("items", key) == b"value-11"
            seen = counters(c, c.addrs.index(outsider))
            assert (seen["peer_errors"], seen["failovers"]) == (0, 0), seen
            at_a = counters(c, c.addrs.index(a))
            assert (at_a["peer_errors"], at_a["getter_loads"]) == (1, 1), at_a
        finally:
            node_b.pause(False)
    finally:
        c.stop()


def test_a_replica_stopped_during_a_set_gets_it_when_it_continues(watched: Cluster) -> None:
    # Hinted handoff: replica B is stopped (SIGSTOP) while a Set goes through
    # the node that is not a replica; the Set is acknowledged by A. Once B
    # continues, it must answer the Set's value from its own cache, not the
    # value it held before, within a bounded time.
    ring = HashRing(watched.addrs)
    key = "k21"
    a, b = ring.get_n(key, 2)
    (outsider,) = [x for x in watched.addrs if x not in (a, b)]
    with Client(outsider, timeout=CALL) as client:
        client.set("items", key, b"before")
    node_b = watched.nodes[watched.addrs.index(b)]
    node_b.pause(True)
    try:
        with Client(outsider, timeout=CALL) as client:
            client.set("items", key, b"during")
        seen = counters(watched, watched.addrs.index(outsider))
        assert seen["hints"] >= 1 and seen["hints_replayed"] == 0, seen
    finally:
        node_b.pause(False)
    with Client(b, timeout=CALL) as client:
        wait_for(lambda: client.get("items", key) == b"during", 10.0, "B took the hint")
    assert counters(watched, watched.addrs.index(outsider))["hints_replayed"] >= 1
    assert values_everywhere(watched, key) == [b"during"] * 3


def test_a_replica_restarted_empty_is_handed_the_keys_it_should_hold(watched: Cluster) -> None:
    # Replica B of 20 written keys is SIGKILLed and restarted empty. Once A
    # sees it up again, A hands it every key B is a replica of: B then
    # answers each from its own cache, without asking A or the source.
    ring = HashRing(watched.addrs)
    a, b = watched.addrs[0], watched.addrs[1]
    keys = [k for k in (f"k{i}" for i in range(1000)) if set(ring.get_n(k, 2)) == {a, b}][:20]
    with Client(a, timeout=CALL) as client:
        for k in keys:
            client.set("items", k, b"written-" + k.encode())
    # A tells a restart by the incarnation in B's health answers: it must
    # have had one answer before (its prober asks every peer once a second).
    time.sleep(1.5)
    node_b = watched.nodes[watched.addrs.index(b)]
    node_b.kill()
    node_b.restart()
    i = watched.addrs.index(b)
    wait_for(lambda: counters(watched, watched.addrs.index(a))["handoffs"] >= len(keys), 10.0,
             "A handed B its keys")
    with Client(b, timeout=CALL) as client:
        for k in keys:
            assert client.get("items", k) == b"written-" + k.encode()
    seen = counters(watched, i)
    assert (seen["co_replica_hits"], seen["getter_loads"], seen["peer_loads"]) == (0, 0, 0), seen
