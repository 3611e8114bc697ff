"""What a Set leaves on the replicas of its key, on real `distcache serve` nodes.

These reproduce what a second outside test of the cluster found (docs/grpc.md,
"Consistency", says what holds); each waits a bounded time and every node is
stopped by its pid when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
