"""Limits: a message over gRPC's size limit, a key of 65,536 bytes, 10,000 concurrent
calls against one node, 1,000 groups.

Each limit gets a clear error or a bounded slowdown, never a crash or memory
without bound. What is about a node runs against a real `distcache serve`
process, stopped by its pid when the test ends; memory is the node's VmRSS
from /proc/<pid>/status. Times are printed (run with -s to see them), never
asserted: the machine is shared.
"""

from __future__ import annotations

import collections
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import grpc
import pytest

from distcache.cluster import distcache_pb2 as pb
from distcache.cluster.wire import MAX_CONCURRENT_CALLS, MAX_KEY_BYTES, MAX_MESSAGE, MAX_VALUE
from distcache.group import new_group
from distcache.group.registry import _reset_groups
from distcache.monitoring.server import start_metrics_server

from .cluster.nodes import Node, free_port, make_source

MiB = 1 << 20
DEADLINE = 60.0  # seconds per call: generous, a queue of 10,000 calls drains in seconds
SERVICE = "/distcache.CacheService/"


@pytest.fixture(autouse=True)
def _forget_groups() -> Iterator[None]:
    """Every group a test made is forgotten after it (the registry is process-wide)."""
    _reset_groups()
    yield
    _reset_groups()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The nodes' SQLite source: k<i> -> value-<i> for i < 1000."""
    return make_source(tmp_path_factory.mktemp("limits") / "source.db", rows=1000)


def rss(pid: int | str = "self") -> int:
    """Resident memory of a process in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def node(*args: str, timeout: float = 120.0) -> Iterator[Node]:
    """A running `distcache serve` on a free port; stopped by its pid afterwards."""
    n = Node(f"127.0.0.1:{free_port()}", list(args))
    try:
        yield n.start(timeout=timeout)
    finally:
        n.stop()
    assert "Traceback" not in n.output(), n.output()


def raw_channel(addr: str) -> grpc.Channel:
    """A client channel that sends and receives up to twice the node's message limit,
    so that the node's own limit is the one met."""
    return grpc.insecure_channel(addr, options=[
        ("grpc.max_send_message_length", 2 * MAX_MESSAGE),
        ("grpc.max_receive_message_length", 2 * MAX_MESSAGE)])


def call(channel: grpc.Channel, method: str, request: bytes, timeout: float = DEADLINE) -> bytes:
    """One CacheService call with identity serializers: the reply's bytes."""
    return channel.unary_unary(SERVICE + method)(request, timeout=timeout)  # type: ignore[no-any-return]


def get(channel: grpc.Channel, group: str, key: str) -> pb.GetResponse:
    return pb.GetResponse.FromString(
        call(channel, "Get", pb.GetRequest(group=group, key=key).SerializeToString()))


# --- a message over the limit ----------------------------------------------------


def test_a_message_over_the_limit_is_resource_exhausted_and_the_node_lives(source: Path) -> None:
    with node("--group", "items:256MiB", "--loader", f"sqlite:{source}:items") as n:
        assert n.proc is not None
        channel = raw_channel(n.addr)
        # The largest Set the node takes: a MAX_VALUE-byte value under the
        # longest key, its envelope within MAX_MESSAGE.
        key = "k" * MAX_KEY_BYTES
        at_limit = pb.SetRequest(group="items", key=key, data=bytes(MAX_VALUE), ttl=60.0,
                                 forwarded=True, ring_version=1 << 63, version=(1 << 64) - 1)
        assert at_limit.ByteSize() <= MAX_MESSAGE
        before = rss(n.proc.pid)
        started = time.perf_counter()
        assert pb.SetResponse.FromString(call(channel, "Set", at_limit.SerializeToString())).success
        took = time.perf_counter() - started
        assert get(channel, "items", key).data == bytes(MAX_VALUE)  # and it comes back whole
        # One byte more of value is refused by its size, not by the transport.
        over_value = pb.SetRequest(group="items", key="big2", data=bytes(MAX_VALUE + 1))
        with pytest.raises(grpc.RpcError) as info:
            call(channel, "Set", over_value.SerializeToString())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"the limit is {MAX_VALUE}" in (info.value.details() or "")
        # A message over MAX_MESSAGE is refused by gRPC before any handler runs.
        over = pb.SetRequest(group="items", key="big3", data=bytes(MAX_MESSAGE))
        with pytest.raises(grpc.RpcError) as info:
            call(channel, "Set", over.SerializeToString())
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = info.value.details() or ""
        assert details.startswith("SERVER: Received message larger than max (")
        assert details.endswith(f" vs. {MAX_MESSAGE})"), details
        # The refused Sets stored nothing; the node answers as before.
        assert get(channel, "items", "big2").found is False
        assert get(channel, "items", "big3").found is False
        assert get(channel, "items", "k1").data == b"value-1"
        after = rss(n.proc.pid)
        channel.close()
    print(f"\nmessage limit: a {MAX_VALUE}-byte value under a {MAX_KEY_BYTES}-byte key took "
          f"{took:.2f} s; node RSS {before / MiB:.0f} -> {after / MiB:.0f} MiB; a larger "
          f"message: {details}")


# --- a key of 65,536 bytes ------------------------------------------------------

LIMIT_TEXT = r"^key is 65536 bytes; the limit is 65535$"
EUROS = "€" * (MAX_KEY_BYTES // 3)  # 21,845 three-byte characters: 65,535 bytes


def test_a_key_of_65536_bytes_is_refused_by_the_core_and_65535_taken(core: ModuleType) -> None:
    c = core.LRUCache(1 * MiB)
    for key in ("k" * MAX_KEY_BYTES, EUROS, b"k" * MAX_KEY_BYTES):
        assert c.set(key, b"v") is True
        assert c.get(key) == b"v"
    for key in ("k" * 65536, EUROS + "k", b"k" * 65536):
        with pytest.raises(ValueError, match=LIMIT_TEXT):
            c.set(key, b"v")
        with pytest.raises(ValueError, match=LIMIT_TEXT):
            c.get(key)
    assert len(c) == 2  # "k" * 65535 and its bytes are one key


def test_a_key_of_65536_bytes_is_refused_by_a_group_and_65535_loaded(core: ModuleType) -> None:
    asked: list[int] = []

    def getter(key: str) -> bytes:
        asked.append(len(key.encode()))
        return b"loaded"

    g = new_group("keys", 4 * MiB, getter, _core=core)
    assert g.get("k" * MAX_KEY_BYTES) == b"loaded"
    assert g.get(EUROS) == b"loaded"
    g.set("s" * MAX_KEY_BYTES, b"set")
    assert g.get("s" * MAX_KEY_BYTES) == b"set"
    assert g.get_many(["k" * MAX_KEY_BYTES]) == {"k" * MAX_KEY_BYTES: b"loaded"}
    for call_ in (lambda: g.get("k" * 65536), lambda: g.get(EUROS + "k"),
                  lambda: g.set("k" * 65536, b"v"), lambda: g.get_many(["a", "k" * 65536])):
        with pytest.raises(ValueError, match=LIMIT_TEXT):
            call_()
    assert asked == [MAX_KEY_BYTES, MAX_KEY_BYTES]  # no refused key reached the getter


def test_a_key_of_65536_bytes_is_invalid_argument_over_grpc_and_65535_served(source: Path) -> None:
    with node("--group", "items:4MiB", "--loader", f"sqlite:{source}:items") as n:
        channel = raw_channel(n.addr)
        for key in ("k" * MAX_KEY_BYTES, EUROS):
            request = pb.SetRequest(group="items", key=key, data=b"v").SerializeToString()
            assert pb.SetResponse.FromString(call(channel, "Set", request)).success
            reply = get(channel, "items", key)
            assert (reply.found, reply.data) == (True, b"v")
        many = pb.GetManyResponse.FromString(call(channel, "GetMany", pb.GetManyRequest(
            group="items", keys=["k" * MAX_KEY_BYTES, EUROS]).SerializeToString()))
        assert [len(e.key) for e in many.entries] == [MAX_KEY_BYTES, len(EUROS)]
        absent = get(channel, "items", "a" * MAX_KEY_BYTES)  # asks the source: no such row
        assert absent.found is False
        for method, request in (
                ("Get", pb.GetRequest(group="items", key="k" * 65536)),
                ("Get", pb.GetRequest(group="items", key=EUROS + "k")),
                ("Set", pb.SetRequest(group="items", key="k" * 65536, data=b"v")),
                ("Delete", pb.DeleteRequest(group="items", key="k" * 65536)),
                ("GetMany", pb.GetManyRequest(group="items", keys=["k1", "k" * 65536]))):
            with pytest.raises(grpc.RpcError) as info:
                call(channel, method, request.SerializeToString())
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            assert info.value.details() == "key is 65536 bytes; the limit is 65535", method
        assert get(channel, "items", "k" * MAX_KEY_BYTES).data == b"v"  # nothing refused changed it
        channel.close()


# --- 10,000 concurrent calls -----------------------------------------------------

CALLS = 10_000
# Statuses a client can act on when a node is full; anything else (CANCELLED
# from gRPC core's own queue, INTERNAL, ...) fails the test.
CLEAR = {"OK", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"}
WATCHDOG = 240.0  # seconds for one round of 10,000 calls; each call has its own DEADLINE
# A round may hold every call at once: MAX_CONCURRENT_CALLS in the Python
# server and twice that in gRPC core's queue of calls not yet taken, each a
# request, an HTTP/2 stream and a call's state (measured ~3-8 KiB). 256 MiB
# is 12,288 calls at 21 KiB each: room for the allocator, not for a leak.
ROUND_GROWTH = 256 * MiB
# A second round reuses what the first allocated: a leak of even 3 KiB per
# call would add 30 MiB.
SECOND_ROUND_GROWTH = 24 * MiB


def _round(channel: grpc.Channel) -> tuple[collections.Counter[str], float]:
    """CALLS Gets at once from one channel (futures), over the 1,000 keys of the source:
    the statuses they ended with, and the seconds the round took."""
    stub = channel.unary_unary(SERVICE + "Get")
    requests = [pb.GetRequest(group="items", key=f"k{i % 1000}").SerializeToString()
                for i in range(CALLS)]
    started = time.perf_counter()
    futures = [stub.future(r, timeout=DEADLINE) for r in requests]
    ends: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + WATCHDOG
    try:
        for i, f in enumerate(futures):
            left = deadline - time.monotonic()
            try:
                reply = pb.GetResponse.FromString(f.result(timeout=max(left, 0.0)))
                ends["OK" if reply.data == b"value-%d" % (i % 1000) else "WRONG DATA"] += 1
            except grpc.RpcError as exc:
                ends[f"{exc.code().name}"] += 1
                if exc.code().name not in CLEAR:
                    ends[f"{exc.code().name}: {exc.details()}"] += 1
            except grpc.FutureTimeoutError:
                pytest.fail(f"{CALLS - i} calls still pending after the {WATCHDOG} s watchdog")
    finally:
        for f in futures:
            f.cancel()
    return ends, time.perf_counter() - started


def test_10000_concurrent_calls_end_clearly_and_memory_is_bounded(source: Path) -> None:
    assert MAX_CONCURRENT_CALLS < CALLS < 3 * MAX_CONCURRENT_CALLS  # the bound above holds
    with node("--group", "items:64MiB", "--loader", f"sqlite:{source}:items") as n:
        assert n.proc is not None
        pid = n.proc.pid
        channel = grpc.insecure_channel(n.addr)
        assert get(channel, "items", "k0").found  # warm: the process's own start is not counted
        start = rss(pid)
        rounds = []
        for _ in range(2):
            ends, took = _round(channel)
            rounds.append((ends, took, rss(pid)))
            assert set(ends) <= CLEAR, ends
            assert sum(ends.values()) == CALLS
        assert n.proc.poll() is None
        assert get(channel, "items", "k1").data == b"value-1"  # the node answers after
        channel.close()
    (first, took1, after1), (second, took2, after2) = rounds
    print(f"\n{CALLS} concurrent Gets: round 1 {dict(first)} in {took1:.1f} s, round 2 "
          f"{dict(second)} in {took2:.1f} s; node RSS {start / MiB:.0f} -> {after1 / MiB:.0f} "
          f"-> {after2 / MiB:.0f} MiB")
    assert after1 - start < ROUND_GROWTH, (start, after1)
    assert after2 - after1 < SECOND_ROUND_GROWTH, (after1, after2)


# --- 1,000 groups ---------------------------------------------------------------

GROUPS = 1000
# Measured about 113 KiB per empty 1 MiB group on either core (the negative
# cache's bloom filters for 10,000 keys, the main cache's frequency sketch,
# 256 shard heads, latency histograms); four times that leaves the allocator
# room, and a group that kept its budget's worth would be 1 MiB.
PER_GROUP = 512 << 10


def _scrape(url: str) -> tuple[bytes, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        assert r.status == 200
        return r.read(), time.perf_counter() - started


def test_1000_groups_in_one_process(core: ModuleType) -> None:
    before = rss()
    started = time.perf_counter()
    groups = [new_group(f"g{i}", 1 * MiB, lambda key: b"v" * 100, _core=core)
              for i in range(GROUPS)]
    made = time.perf_counter() - started
    for g in groups:
        assert g.get("k") == b"v" * 100
    per_group = (rss() - before) / GROUPS
    srv = start_metrics_server("127.0.0.1:0")
    try:
        metrics, metrics_s = _scrape(srv.url + "/metrics")
        stats, stats_s = _scrape(srv.url + "/stats")
    finally:
        srv.stop()
    for i in (0, GROUPS // 2, GROUPS - 1):  # every group is in both pages
        assert f'distcache_cache_size_bytes{{group="g{i}"}}'.encode() in metrics
        assert f'"name": "g{i}"'.encode() in stats or f'"name":"g{i}"'.encode() in stats
    assert metrics.count(b"distcache_getter_loads_total{") == GROUPS
    print(f"\n{GROUPS} groups ({core.__name__}): made in {made:.2f} s, {per_group / 1024:.0f} KiB "
          f"each; /metrics {len(metrics) / MiB:.1f} MiB in {metrics_s:.2f} s, /stats "
          f"{len(stats) / MiB:.1f} MiB in {stats_s:.2f} s")
    assert per_group < PER_GROUP


def test_1000_groups_on_one_node(source: Path) -> None:
    loader = ["--loader", f"sqlite:{source}:items"]
    with node("--group", "items:1MiB", *loader) as one:
        assert one.proc is not None
        channel = grpc.insecure_channel(one.addr)
        assert get(channel, "items", "k1").found
        channel.close()
        baseline = rss(one.proc.pid)
    metrics_addr = f"127.0.0.1:{free_port()}"
    flags = [arg for i in range(GROUPS) for arg in ("--group", f"g{i}:1MiB")]
    started = time.perf_counter()
    with node(*flags, *loader, "--metrics", metrics_addr) as n:
        up = time.perf_counter() - started
        assert n.proc is not None
        channel = grpc.insecure_channel(n.addr)
        for i in range(GROUPS):  # every group answers, from the one source
            assert get(channel, f"g{i}", f"k{i}").data == b"value-%d" % i
        channel.close()
        per_group = (rss(n.proc.pid) - baseline) / (GROUPS - 1)
        metrics, metrics_s = _scrape(f"http://{metrics_addr}/metrics")
        stats, stats_s = _scrape(f"http://{metrics_addr}/stats")
        assert metrics.count(b"distcache_getter_loads_total{") == GROUPS
    print(f"\n{GROUPS} groups on a node: serving {up:.1f} s after exec, {per_group / 1024:.0f} KiB "
          f"each beyond a 1-group node ({baseline / MiB:.0f} MiB); /metrics "
          f"{len(metrics) / MiB:.1f} MiB in {metrics_s:.2f} s, /stats {len(stats) / MiB:.1f} MiB "
          f"in {stats_s:.2f} s")
    assert per_group < PER_GROUP
