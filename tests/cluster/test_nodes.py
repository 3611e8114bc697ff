"""Real nodes on 127.0.0.1, reached by a client generated from proto/distcache.proto.

The client is generated here by grpcio-tools into a temporary directory, with
the service stubs the package does not ship: it is what any user with the
.proto would have, not our pool. Every node is a `distcache serve` process
that the test starts and stops by its pid.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

from distcache.cluster.hashring import HashRing

from .nodes import ROOT, Cluster, Node, free_port, generate_stubs, make_source

DEADLINE = 2.0  # seconds per client call; a node answers in milliseconds


@pytest.fixture(scope="module")
def client_stubs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """(messages, service stubs), generated here from the .proto (nodes.generate_stubs)."""
    return generate_stubs(tmp_path_factory.mktemp("client"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_source(tmp_path / "source.db")


@pytest.fixture
def cluster(db: Path) -> Iterator[Cluster]:
    c = Cluster(db, 3)
    try:
        yield c.start()
    finally:
        c.stop()


def stub(client_stubs: tuple[ModuleType, ModuleType], addr: str) -> Any:
    _, rpc = client_stubs
    return rpc.CacheServiceStub(grpc.insecure_channel(addr))


def test_a_generated_client_gets_sets_and_deletes(cluster: Cluster, client_stubs) -> None:
    pb, _ = client_stubs
    a, b, c = (stub(client_stubs, addr) for addr in cluster.addrs)
    r = a.Get(pb.GetRequest(group="items", key="k1"), timeout=DEADLINE)
    assert (r.found, r.data, r.err) == (True, b"value-1", "")
    for node in (b, c):  # every node answers for every key
        assert node.Get(pb.GetRequest(group="items", key="k1"), timeout=DEADLINE).data == b"value-1"
    missing = a.Get(pb.GetRequest(group="items", key="nope"), timeout=DEADLINE)
    assert (missing.found, missing.data) == (False, b"")  # status OK, found = false
    assert b.Set(pb.SetRequest(group="items", key="k2", data=b"new"), timeout=DEADLINE).success
    for node in (a, b, c):
        assert node.Get(pb.GetRequest(group="items", key="k2"), timeout=DEADLINE).data == b"new"
    assert c.Delete(pb.DeleteRequest(group="items", key="k2"), timeout=DEADLINE).success
    for node in (a, b, c):  # gone everywhere: the source's value again
        assert node.Get(pb.GetRequest(group="items", key="k2"),
                        timeout=DEADLINE).data == b"value-2"
    # No storm: the one client Set and the one client Delete were broadcast
    # once each, and no receiver broadcast them again.
    cluster.stop()
    totals: dict[str, int] = {}
    for node in cluster.nodes:
        lines = [line for line in node.output().splitlines()
                 if line.startswith("distcache serve: stats ")]
        # Each node stopped gracefully and said what it counted.
        assert len(lines) == 1, f"{node.addr} printed no stats:\n{node.output()}"
        for k, v in json.loads(lines[0].split("stats ", 1)[1])["items"].items():
            totals[k] = totals.get(k, 0) + v
    assert (totals["broadcasts"], totals["broadcast_errors"]) == (2, 0), totals


def test_a_generated_client_sees_the_version_of_its_writes_and_reads(
        cluster: Cluster, client_stubs) -> None:
    # SetResponse.version is the version the write took; a Get through either
    # replica answers that version, a later write through another node has a
    # greater one, and a Delete's version is greater still.
    pb, _ = client_stubs
    nodes = {addr: stub(client_stubs, addr) for addr in cluster.addrs}
    replicas = HashRing(cluster.addrs).get_n("k3", 2)
    versions = []
    for addr in cluster.addrs:
        r = nodes[addr].Set(pb.SetRequest(group="items", key="k3", data=addr.encode()),
                            timeout=DEADLINE)
        assert r.success and r.version > 0 and r.missed == 0, r  # both replicas took it
        versions.append(r.version)
        for at in replicas:
            # A replica whose call failed on a loaded machine gets the write
            # as a hint a moment later (docs/grpc.md, "Consistency").
            deadline = time.monotonic() + 10
            while True:
                got = nodes[at].Get(pb.GetRequest(group="items", key="k3"), timeout=DEADLINE)
                if (got.data, got.version) == (addr.encode(), r.version):
                    break
                assert time.monotonic() < deadline, (at, got, r)
                time.sleep(0.05)
    assert versions == sorted(versions) and len(set(versions)) == 3
    gone = nodes[cluster.addrs[0]].Delete(pb.DeleteRequest(group="items", key="k3"),
                                          timeout=DEADLINE)
    assert gone.success and gone.version > versions[-1]
    many = nodes[replicas[0]].GetMany(pb.GetManyRequest(group="items", keys=["k3", "k4"]),
                                      timeout=DEADLINE)
    assert [e.key for e in many.entries] == ["k3", "k4"]
    assert all(e.version > 0 for e in many.entries if e.key == "k3")


def test_bad_requests_get_status_codes_and_the_node_lives(cluster: Cluster, client_stubs) -> None:
    pb, _ = client_stubs
    a = stub(client_stubs, cluster.addrs[0])
    with pytest.raises(grpc.RpcError) as info:
        a.Get(pb.GetRequest(group="nosuch", key="k1"), timeout=DEADLINE)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        a.Get(pb.GetRequest(group="items", key="k" * 65536), timeout=DEADLINE)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "65536 bytes" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        a.Set(pb.SetRequest(group="items", key="k1", data=b"x", ttl=-1), timeout=DEADLINE)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert a.Get(pb.GetRequest(group="items", key="k1"), timeout=DEADLINE).data == b"value-1"


def test_sigkill_of_a_node_under_reads_fails_no_read(cluster: Cluster, client_stubs) -> None:
    pb, _ = client_stubs
    readers = [stub(client_stubs, addr) for addr in cluster.addrs[:2]]
    victim = cluster.nodes[2]
    failures: list[str] = []
    done = [0]
    stop = threading.Event()

    def read(s: Any, seed: int) -> None:
        i = seed
        while not stop.is_set():
            key = f"k{i % 300}"
            try:
                r = s.Get(pb.GetRequest(group="items", key=key), timeout=DEADLINE)
                if r.data != b"value-%d" % (i % 300):
                    failures.append(f"{key}: {r.data!r}")
            except grpc.RpcError as exc:
                failures.append(f"{key}: {exc.code()} {exc.details()}")
            done[0] += 1
            i += 7

    threads = [threading.Thread(target=read, args=(s, n)) for n, s in enumerate(readers * 2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        victim.kill()
        time.sleep(1.5)
        victim.start()  # restarts and rejoins on the same address
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert failures == [] and done[0] > 100, (failures[:5], done[0])
    again = stub(client_stubs, victim.addr)
    assert again.Get(pb.GetRequest(group="items", key="k5"), timeout=DEADLINE).data == b"value-5"


def test_a_token_is_required_and_the_health_service_stays_open(db: Path, client_stubs) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    pb, _ = client_stubs
    c = Cluster(db, 2, extra=["--token", "s3cret"])
    try:
        c.start()
        s = stub(client_stubs, c.addrs[0])
        for call, request in ((s.Get, pb.GetRequest(group="items", key="k1")),
                              (s.Set, pb.SetRequest(group="items", key="k1", data=b"evil")),
                              (s.Delete, pb.DeleteRequest(group="items", key="k1"))):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=DEADLINE)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError):
            s.Get(pb.GetRequest(group="items", key="k1"), timeout=DEADLINE,
                  metadata=(("authorization", "Bearer wrong"),))
        good = (("authorization", "Bearer s3cret"),)
        # The refused Set changed nothing; with the token, the nodes work together.
        for addr in c.addrs:
            r = stub(client_stubs, addr).Get(pb.GetRequest(group="items", key="k1"),
                                             timeout=DEADLINE, metadata=good)
            assert r.data == b"value-1"
        health = health_pb2_grpc.HealthStub(grpc.insecure_channel(c.addrs[0]))
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        c.stop()


def test_rings_that_disagree_still_answer(db: Path, client_stubs) -> None:
    pb, _ = client_stubs
    a, b = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    c = f"127.0.0.1:{free_port()}"  # listed by one node, never started
    loader = ["--group", "items:4MiB", "--loader", f"sqlite:{db}:items"]
    nodes = [Node(a, ["--peers", f"{a},{b}", *loader]),
             Node(b, ["--peers", f"{a},{b},{c}", *loader])]
    try:
        for n in nodes:
            n.start()
        for addr in (a, b):
            s = stub(client_stubs, addr)
            for i in range(50):
                r = s.Get(pb.GetRequest(group="items", key=f"k{i}"), timeout=DEADLINE)
                assert r.data == b"value-%d" % i
    finally:
        for n in nodes:
            n.stop()


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "distcache", "serve", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_startup_errors_are_one_line_and_exit_2(db: Path, tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    ok = ["--group", "items:1MiB", "--loader", f"sqlite:{db}:items"]
    cases = {
        "missing database": ["--addr", addr, "--group", "items:1MiB",
                             "--loader", f"sqlite:{tmp_path / 'none.db'}:items"],
        "missing table": ["--addr", addr, "--group", "items:1MiB",
                          "--loader", f"sqlite:{db}:nosuch"],
        "bad size": ["--addr", addr, "--group", "items:lots", "--loader", f"sqlite:{db}:items"],
        "own address missing": ["--addr", addr, "--peers", "127.0.0.1:1,127.0.0.1:2", *ok],
        "bad loader": ["--addr", addr, "--group", "items:1MiB", "--loader", "redis:x"],
    }
    for what, args in cases.items():
        r = run_serve(*args)
        assert r.returncode == 2, (what, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("distcache serve: "), (what, r.stderr)
    busy = Node(addr, ok).start()
    try:
        r = run_serve("--addr", addr, *ok)
        assert r.returncode == 2
        assert "cannot listen on" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    finally:
        busy.stop()


def test_get_many_through_one_node(cluster: Cluster, client_stubs) -> None:
    pb, _ = client_stubs
    s = stub(client_stubs, cluster.addrs[1])
    keys = [f"k{i}" for i in range(100)] + ["absent"]
    r = s.GetMany(pb.GetManyRequest(group="items", keys=keys), timeout=DEADLINE)
    assert [e.key for e in r.entries] == keys[:100]
    assert all(e.data == b"value-%d" % i for i, e in enumerate(r.entries))


def test_membership_from_dns(db: Path, client_stubs) -> None:
    pb, _ = client_stubs
    port = free_port()
    node = Node(f"127.0.0.1:{port}", ["--peers-dns", f"localhost:{port}", "--group",
                                       "items:1MiB", "--loader", f"sqlite:{db}:items"])
    try:
        node.start()
        r = stub(client_stubs, node.addr).Get(pb.GetRequest(group="items", key="k3"),
                                              timeout=DEADLINE)
        assert r.data == b"value-3"
    finally:
        node.stop()
    r2 = run_serve("--addr", f"127.0.0.1:{free_port()}", "--peers-dns", "nocolon",
                   "--group", "items:1MiB", "--loader", f"sqlite:{db}:items")
    assert r2.returncode == 2 and "--peers-dns takes NAME:PORT" in r2.stderr


def node_stats(node: Node) -> dict[str, int]:
    """The counters a stopped node printed for its last life."""
    lines = [ln for ln in node.output().splitlines() if ln.startswith("distcache serve: stats ")]
    return json.loads(lines[-1].split("stats ", 1)[1])["items"]  # type: ignore[no-any-return]


def test_replica_pushes_and_a_restarted_node_is_used_again(db: Path, client_stubs) -> None:
    from distcache.cluster.hashring import HashRing

    pb, _ = client_stubs
    c = Cluster(db, 3)
    a, b, third = c.addrs
    ring = HashRing(c.addrs)
    pushed = [k for k in (f"k{i}" for i in range(1000)) if ring.get_n(k, 2) == [a, b]][:20]
    # Keys a is no replica of, third the first: a forwards them to third.
    on_third = [k for k in (f"k{i}" for i in range(1000)) if ring.get_n(k, 2) == [third, b]]
    try:
        c.start()
        via_a, via_b = stub(client_stubs, a), stub(client_stubs, b)
        for k in pushed:  # a loads each once and pushes it to b
            assert via_a.Get(pb.GetRequest(group="items", key=k), timeout=DEADLINE).found
        time.sleep(0.5)
        for k in pushed:  # b answers from its cache: no load of its own
            assert via_b.Get(pb.GetRequest(group="items", key=k), timeout=DEADLINE).found
        c.nodes[2].kill()
        for k in on_third[:10]:  # third is down: a fails over to the other replica
            assert via_a.Get(pb.GetRequest(group="items", key=k), timeout=DEADLINE).found
        c.nodes[2].start()
        time.sleep(3.0)  # the channel reconnects within 1 s, then the prober marks third up
        for k in on_third[10:30]:
            assert via_a.Get(pb.GetRequest(group="items", key=k), timeout=DEADLINE).found
    finally:
        c.stop()
    sa, sb, st = (node_stats(n) for n in c.nodes)
    assert sa["replica_pushes"] >= len(pushed)
    assert sa["replica_push_failures"] <= 10  # only pushes to third while it was down
    # b loaded none of the pushed keys: only keys a failed over to it while third was down.
    assert sb["getter_loads"] <= 10
    assert sa["failovers"] >= 1  # while third was down
    assert st["gets"] == 20  # its second life answered all of a's forwarded gets
