"""The cluster's speed beside its floor and its peers, in one run on loopback.

    python -m asv_bench.cluster            # needs redis-server and memcached on PATH
    python -m asv_bench.cluster --quick    # fewer rounds

Measured in this run, every server a process of its own on 127.0.0.1, every
client in this process, one call at a time unless said otherwise:

- a bare grpcio unary echo of 100 bytes, sync server and grpc.aio server
  (the floor of gRPC in Python; the target holds distcache to the faster);
- distcache: a client Get of a 100-byte value that the node has cached
  (`distcache serve`, the client `distcache.grpcpool.connect`);
- redis-py -> redis-server GET, pymemcache -> memcached get, same value;
- GetMany of 100 keys against 100 single Gets (keys per second);
- 8 client threads for a few seconds: the 3-node cluster against redis-server.

Rounds interleave the systems (the order rotates every round) and a figure is
the median over rounds: these machines are shared and noisy, so the ratios,
taken within a round, are what to read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distcache.cli.nodes import Node, Process, free_port, stop_all

VALUE = b"v" * 100

ECHO_SYNC = r"""
import sys, time
from concurrent import futures
import grpc
def echo(req, ctx): return req
h = grpc.method_handlers_generic_handler("bench.Echo", {
    "Echo": grpc.unary_unary_rpc_method_handler(echo)})
s = grpc.server(futures.ThreadPoolExecutor(max_workers=16)); s.add_generic_rpc_handlers((h,))
s.add_insecure_port(sys.argv[1]); s.start(); print("ready", flush=True); s.wait_for_termination()
"""

ECHO_AIO = r"""
import asyncio, sys
import grpc
async def echo(req, ctx): return req
async def main():
    h = grpc.method_handlers_generic_handler("bench.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo)})
    s = grpc.aio.server(); s.add_generic_rpc_handlers((h,))
    s.add_insecure_port(sys.argv[1]); await s.start(); print("ready", flush=True)
    await s.wait_for_termination()
asyncio.run(main())
"""


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def latency_ns(call: Callable[[], Any], n: int) -> float:
    """The median of n timed calls, in ns."""
    now = time.perf_counter_ns
    times = []
    for _ in range(n):
        t = now()
        call()
        times.append(now() - t)
    return statistics.median(times)


def throughput(make_call: Callable[[], Callable[[], Any]], threads: int, seconds: float) -> float:
    """Calls per second of `threads` threads, each with its own client, for `seconds`."""
    counts = [0] * threads
    stop = threading.Event()
    calls = [make_call() for _ in range(threads)]

    def run(i: int) -> None:
        call = calls[i]
        while not stop.is_set():
            call()
            counts[i] += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--smoke", action="store_true", help="a few calls each (the test's)")
    args = ap.parse_args(argv)
    rounds, calls = (2, 50) if args.smoke else (5, 500) if args.quick else (15, 2000)
    for tool in ("redis-server", "memcached"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install redis-server memcached)")
            return 2
    import grpc
    import pymemcache.client.base
    import redis

    from distcache.cluster import connect
    from distcache.sqlite_getter import create_table

    procs: list[Process] = []  # every process the run starts, all stopped by pid at the end
    closers: list[Callable[[], Any]] = []  # every client and channel, closed at the end
    tmp = Path(tempfile.mkdtemp(prefix="distcache-bench-"))
    try:
        create_table(tmp / "src.db", "items",
                     {f"k{i}": VALUE for i in range(1000)})
        ports = {name: free_port() for name in
                 ("sync", "aio", "redis", "memcached", "n0", "n1", "n2")}
        nodes = [f"127.0.0.1:{ports[n]}" for n in ("n0", "n1", "n2")]
        as_root = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses root without it
        procs += [
            Process([sys.executable, "-c", ECHO_SYNC, f"127.0.0.1:{ports['sync']}"],
                    lambda: _port_open(ports["sync"]), name="grpc-echo-sync"),
            Process([sys.executable, "-c", ECHO_AIO, f"127.0.0.1:{ports['aio']}"],
                    lambda: _port_open(ports["aio"]), name="grpc-echo-aio"),
            Process(["redis-server", "--port", str(ports["redis"]), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no"], lambda: _port_open(ports["redis"])),
            Process(["memcached", "-p", str(ports["memcached"]), "-l", "127.0.0.1", "-U", "0",
                     *as_root], lambda: _port_open(ports["memcached"])),
            *(Node(addr, ["--peers", ",".join(nodes), "--group", "items:16MiB",
                          "--loader", f"sqlite:{tmp / 'src.db'}:items"]) for addr in nodes),
        ]
        for proc in procs:  # one after the other, each waited for
            proc.start()

        def echo(port: int) -> Callable[[], Any]:
            ch = grpc.insecure_channel(f"127.0.0.1:{port}")
            closers.append(ch.close)
            stub = ch.unary_unary("/bench.Echo/Echo")
            stub(VALUE, timeout=5)
            return lambda: stub(VALUE, timeout=5)

        client = connect(nodes[0], timeout=5.0)
        closers.append(client.close)
        # A key node 0 is a replica of, cached there: one RPC, one cache hit.
        key = next(f"k{i}" for i in range(1000)
                   if nodes[0] in _owners(nodes, f"k{i}"))
        client.get("items", key)
        r = redis.Redis(port=ports["redis"])
        closers.append(r.close)
        r.set(key, VALUE)
        m = pymemcache.client.base.Client(("127.0.0.1", ports["memcached"]))
        closers.append(m.close)
        m.set(key, VALUE)
        # A key node 0 is no replica of: a Set through node 0 goes to the key's
        # first replica, which orders it, then to the second (three calls in a row).
        set_key = next(f"k{i}" for i in range(1000)
                       if nodes[0] not in _owners(nodes, f"k{i}"))
        systems: dict[str, Callable[[], Any]] = {
            "grpc echo (sync server)": echo(ports["sync"]),
            "grpc echo (aio server)": echo(ports["aio"]),
            "distcache Get": lambda: client.get("items", key),
            "distcache Set (non-replica)": lambda: client.set("items", set_key, VALUE),
            "redis-py GET": lambda: r.get(key),
            "pymemcache get": lambda: m.get(key),
        }
        keys100 = [f"k{i}" for i in range(100)]
        client.get_many("items", keys100)
        systems["distcache GetMany(100)"] = lambda: client.get_many("items", keys100)
        results: dict[str, list[float]] = {name: [] for name in systems}
        names = list(systems)
        for rnd in range(rounds):
            for name in names[rnd % len(names):] + names[: rnd % len(names)]:
                results[name].append(latency_ns(systems[name],
                                                calls // 10 if "GetMany" in name else calls))
        med = {n: statistics.median(v) for n, v in results.items()}

        def ratio(a: str, b: str) -> float:
            return statistics.median(x / y for x, y in zip(results[a], results[b], strict=True))

        floor = min(("grpc echo (sync server)", "grpc echo (aio server)"), key=lambda n: med[n])
        print(f"{'system':28} {'p50 per call':>14}")
        for n in names:
            print(f"{n:28} {med[n] / 1e3:11.1f} us")
        print(f"\ndistcache Get / {floor}: {ratio('distcache Get', floor):.2f} (target <= 1.2)")
        print(f"distcache Set through a non-replica / {floor}: "
              f"{ratio('distcache Set (non-replica)', floor):.2f} (target <= 2.5)")
        echo_redis = ratio("grpc echo (sync server)", "redis-py GET")
        print(f"grpc echo sync / redis-py GET: {echo_redis:.2f}")
        print(f"distcache Get / redis-py GET: {ratio('distcache Get', 'redis-py GET'):.2f}")
        print(f"distcache Get / pymemcache get: {ratio('distcache Get', 'pymemcache get'):.2f}")
        per_key = 100 / (med["distcache GetMany(100)"]) * 1e9
        single = 1 / med["distcache Get"] * 1e9
        print(f"GetMany(100): {per_key:,.0f} keys/s vs single Gets {single:,.0f} keys/s = "
              f"{per_key / single:.1f}x (target >= 10)")
        seconds = 0.3 if args.smoke else 1.5 if args.quick else 3.0
        cluster_qps = throughput(lambda: _round_robin(nodes, connect, key, closers), 8, seconds)

        def redis_client() -> Callable[[], Any]:
            c = redis.Redis(port=ports["redis"])
            closers.append(c.close)
            return lambda: c.get(key)

        redis_qps = throughput(redis_client, 8, seconds)
        hot_ns, plain_ns, hot_ratio = hot_hit_ratio(rounds, 20_000 if args.smoke else 200_000)
        print(f"promoted remote key: Group.get {hot_ns:.1f} ns, LRUCache.get {plain_ns:.1f} ns "
              f"= {hot_ratio:.2f} (target <= 2)")
        print(f"8 client threads, {seconds:g} s: 3-node cluster {cluster_qps:,.0f} gets/s, "
              f"redis-server {redis_qps:,.0f} gets/s = {cluster_qps / redis_qps:.2f}")
    finally:
        for close in closers:
            close()
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


class _Owner:
    """A peer that owns every key and answers from memory (no network)."""

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        return VALUE


class _Elsewhere:
    """A picker for which every key lives on _Owner."""

    def __init__(self) -> None:
        self.owner = _Owner()

    def placement(self, key: str) -> Any:
        from distcache.peers import Placement

        return Placement((self.owner,))

    def peers(self) -> tuple[Any, ...]:
        return (self.owner,)


def hot_hit_ratio(rounds: int, number: int) -> tuple[float, float, float]:
    """(promoted remote key's Group.get ns, LRUCache.get ns, median paired ratio)."""
    import timeit

    import distcache
    from distcache.group import new_group

    g = new_group("hot-bench", 1 << 20, lambda k: VALUE, _promote_at=2)
    g.register_peers(_Elsewhere())
    try:
        for _ in range(5):
            g.get("hot")
        assert g.stats()["promotions"] == 1
        c = distcache.LRUCache(1 << 20)
        c.set("hot", VALUE)
        env = {"g": g, "c": c, "k": "hot"}
        hot, plain = [], []
        for r in range(rounds):
            pair = [("g.get(k)", hot), ("c.get(k)", plain)]
            for stmt, out in pair if r % 2 else pair[::-1]:
                out.append(timeit.timeit(stmt, globals=env, number=number) / number * 1e9)
    finally:
        g.close()
    return min(hot), min(plain), statistics.median(a / b for a, b in zip(hot, plain, strict=True))


def _owners(nodes: list[str], key: str) -> list[str]:
    from distcache.cluster.hashring import HashRing

    return HashRing(nodes).get_n(key, 2)


def _round_robin(nodes: list[str], connect: Any, key: str,
                 closers: list[Callable[[], Any]]) -> Callable[[], Any]:
    clients = [connect(a, timeout=5.0) for a in nodes]
    closers.extend(c.close for c in clients)
    i = [0]

    def call() -> Any:
        i[0] += 1
        return clients[i[0] % 3].get("items", key)

    return call


if __name__ == "__main__":
    sys.exit(main())
