"""Soak runner: a real node under mixed load, and millions of core cycles, watched for leaks.

    python -m tests.reliability.soak --seconds 60               # what `make soak` runs
    python -m tests.reliability.soak --seconds 6 --cycles 200000

Two soaks, each judged after its warm-up (the first quarter of its run, when
caches fill, thread pools reach their size and the allocator its working set):

- node: one `distcache serve --metrics` process (tests/cluster/nodes.py) over
  an SQLite source, driven by client threads through stubs generated from
  proto/distcache.proto (tests.cluster.nodes.generate_stubs): gets of hot
  and cold keys and of keys the source lacks, GetMany, Set and Delete. The
  node's RSS (/proc/<pid>/status VmRSS), open fds (/proc/<pid>/fd) and
  threads (/proc/<pid>/task) are sampled every second. Checked: zero client
  errors and zero wrong answers; RSS growth over the second half of the
  post-warm-up samples under RSS_SLACK_MIB; fds and threads never differ
  from their first post-warm-up value.
- cycles: a Python child running the C core: set/get with eviction on a plain
  and a TinyLFU cache, get_many and set_many batches, values of 64 KiB,
  short ttls, deletes, clears, and loads through a group (misses, source
  absences, sets, deletes). tracemalloc runs from the start; snapshots after
  warm-up and at the end must differ by under TRACED_SLACK_KIB of traced
  Python memory (the top growing lines are printed on failure). RSS, fds and
  threads as for the node.

Each soak prints its figures; the runner exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WARMUP_FRACTION = 0.25
# Bounds, from measured noise (docs/reliability.md, "Soak and leaks", gives the
# figures): a leak of one small object per request exceeds them many times over.
RSS_SLACK_MIB = 2.0  # the cycles child: 0.02-0.08 MiB measured
# The node: after warm-up single samples swing by up to 1.9 MiB (allocator
# arenas of 43 threads, SQLite page caches); the medians compared vary less.
NODE_RSS_SLACK_MIB = 4.0
TRACED_SLACK_KIB = 64.0
ROWS = 5_000  # source rows k0..k4999 -> b"value-<i>"
HOT_KEYS = 50


@dataclass
class Sample:
    """One reading of a process's resources."""

    t: float  # seconds since the soak started
    rss_kib: int
    fds: int
    threads: int


def read_proc(pid: int, t: float) -> Sample:
    """pid's VmRSS, open fds and threads, now."""
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return Sample(t, rss, len(os.listdir(f"/proc/{pid}/fd")),
                  len(os.listdir(f"/proc/{pid}/task")))


@dataclass
class Verdict:
    """A soak's figures and its checks (what, passed, the figure)."""

    name: str
    seconds: float
    ops: int
    errors: int
    samples: list[Sample]
    warm: int  # index of the first sample after warm-up
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def judge_resources(self, rss_slack_mib: float = RSS_SLACK_MIB) -> None:
        """RSS flat over the second half of the post-warm-up samples; fds, threads constant."""
        after = self.samples[self.warm:]
        assert len(after) >= 4, f"{self.name}: too few samples after warm-up ({len(after)})"
        half = after[len(after) // 2:]
        # The median of 3 readings at each end: one reading taken mid-burst is
        # not growth.
        head = statistics.median(s.rss_kib for s in half[:3])
        tail = statistics.median(s.rss_kib for s in half[-3:])
        growth = (tail - head) / 1024
        self.figures.update({
            "rss_start_mib": round(self.samples[0].rss_kib / 1024, 1),
            "rss_warm_mib": round(after[0].rss_kib / 1024, 1),
            "rss_end_mib": round(after[-1].rss_kib / 1024, 1),
            "rss_max_after_warmup_mib": round(max(s.rss_kib for s in after) / 1024, 1),
            "rss_growth_second_half_mib": round(growth, 2),
            "fds": sorted({s.fds for s in after}),
            "threads": sorted({s.threads for s in after}),
        })
        self.checks.append((f"RSS growth over the second half < {rss_slack_mib} MiB",
                            growth < rss_slack_mib, f"{growth:.2f} MiB"))
        self.checks.append(("open fds constant after warm-up",
                            len({s.fds for s in after}) == 1, str(self.figures["fds"])))
        self.checks.append(("threads constant after warm-up",
                            len({s.threads for s in after}) == 1, str(self.figures["threads"])))

    def report(self) -> str:
        lines = [f"== soak {self.name}: {self.seconds:.1f} s, {self.ops:,} ops, "
                 f"{self.errors} errors"]
        for k, v in self.figures.items():
            lines.append(f"   {k}: {v}")
        for what, ok, figure in self.checks:
            lines.append(f"   [{'ok' if ok else 'FAILED'}] {what}: {figure}")
        return "\n".join(lines)


# ------------------------------------------------------------------ node soak


class Load:
    """Client threads driving one node with a mix of every CacheService call."""

    def __init__(self, pb: ModuleType, rpc: ModuleType, addr: str, threads: int) -> None:
        import grpc

        self.pb = pb
        self.channels = [grpc.insecure_channel(addr) for _ in range(threads)]
        self.stubs = [rpc.CacheServiceStub(ch) for ch in self.channels]
        self.stop = threading.Event()
        # Guards ops, errors and failures.
        self._lock = threading.Lock()
        self.ops = 0
        self.errors = 0
        self.started = 0  # client threads that have had 20 answers: their channel is up
        self.failures: list[str] = []  # the first few errors, for the report
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)
        for ch in self.channels:
            ch.close()

    def _failed(self, what: str) -> None:
        with self._lock:
            self.errors += 1
            if len(self.failures) < 5:
                self.failures.append(what)

    def _check(self, key: str, found: bool, data: bytes) -> None:
        """A key k<i> answers the source's value or one a Set wrote; absent keys nothing."""
        if key.startswith("absent-"):
            if found:
                self._failed(f"{key}: found {data[:40]!r}")
        elif not found:
            self._failed(f"{key}: not found")
        elif data != b"value-" + key[1:].encode() and not data.startswith(
                b"set|" + key.encode() + b"|"):
            self._failed(f"{key}: wrong value {data[:40]!r}")

    def _run(self, index: int) -> None:
        pb, stub = self.pb, self.stubs[index]
        rng = random.Random(index)
        done = 0

        def key() -> str:
            return f"k{rng.randrange(HOT_KEYS) if rng.random() < 0.7 else rng.randrange(ROWS)}"

        while not self.stop.is_set():
            r = rng.random()
            try:
                if r < 0.55:
                    k = key()
                    reply = stub.Get(pb.GetRequest(group="items", key=k), timeout=5.0)
                    self._check(k, reply.found, reply.data)
                elif r < 0.62:
                    k = f"absent-{rng.randrange(100_000)}"
                    reply = stub.Get(pb.GetRequest(group="items", key=k), timeout=5.0)
                    self._check(k, reply.found, reply.data)
                elif r < 0.77:
                    keys = list({key() for _ in range(rng.randrange(2, 17))})
                    reply = stub.GetMany(pb.GetManyRequest(group="items", keys=keys),
                                         timeout=5.0)
                    got = {e.key: e.data for e in reply.entries}
                    if reply.err or set(got) != set(keys):
                        self._failed(f"GetMany: {reply.err!r}, {len(got)} of {len(keys)}")
                    for k, v in got.items():
                        self._check(k, True, v)
                elif r < 0.92:
                    k = key()
                    size = rng.choice([10, 100, 1000, 8000, 40_000])
                    data = b"set|%s|" % k.encode() + b"x" * size
                    ttl = rng.choice([0.0, 0.0, 0.5, 30.0])
                    reply = stub.Set(pb.SetRequest(group="items", key=k, data=data, ttl=ttl),
                                     timeout=5.0)
                    if not reply.success:
                        self._failed(f"Set {k}: {reply.err}")
                else:
                    reply = stub.Delete(pb.DeleteRequest(group="items", key=key()), timeout=5.0)
                    if not reply.success:
                        self._failed(f"Delete: {reply.err}")
            except Exception as exc:  # an RPC error is a client error: counted
                self._failed(f"{type(exc).__name__}: {str(exc)[:200]}")
            done += 1
            if done == 20:
                with self._lock:
                    self.started += 1
            if done % 100 == 0:
                with self._lock:
                    self.ops += 100
        with self._lock:
            self.ops += done % 100


# The node's gRPC executor has 32 workers (GRPCPool's default), started one at a
# time when a call finds none idle, and each opens its own SQLite connection
# (one fd) at its first load. Four clients reach the cap slowly and at random
# (a reply can arrive before its worker is idle again): a 60 s run grew 4
# threads and 3 fds late in the run. The warm-up therefore starts with more
# concurrent loads than workers, so the pools are at their caps before the
# samples that are judged.
BURST_CLIENTS = 48


def burst(pb: ModuleType, rpc: ModuleType, addr: str) -> None:
    """BURST_CLIENTS clients at once, 25 loads of cold keys each."""
    import grpc

    def run(i: int) -> None:
        with grpc.insecure_channel(addr) as channel:
            stub = rpc.CacheServiceStub(channel)
            for j in range(25):
                stub.Get(pb.GetRequest(group="items", key=f"k{(i * 25 + j) * 7 % ROWS}"),
                         timeout=10.0)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(BURST_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def read_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/stats", timeout=10) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def node_soak(seconds: float, threads: int = 4) -> Verdict:
    """One `distcache serve` node under mixed load for seconds; its verdict."""
    from distcache.sqlite_getter import create_table
    from tests.cluster.nodes import Node, free_port, generate_stubs

    with tempfile.TemporaryDirectory(prefix="distcache-soak-") as tmp:
        db = Path(tmp) / "source.db"
        create_table(db, "items", {f"k{i}": b"value-%d" % i for i in range(ROWS)})
        pb, rpc = generate_stubs(Path(tmp))
        addr = f"127.0.0.1:{free_port()}"
        metrics = f"127.0.0.1:{free_port()}"
        url = f"http://{metrics}"
        # 256 KiB holds a fraction of the rows and of what Sets write: every
        # second brings evictions, loads and negative-cache rotations.
        node = Node(addr, ["--peers", addr, "--group", "items:256KiB", "--loader",
                           f"sqlite:{db}:items", "--metrics", metrics])
        load: Load | None = None
        try:
            node.start()
            assert node.proc is not None
            pid = node.proc.pid
            load = Load(pb, rpc, addr, threads)
            start = time.monotonic()
            samples = [read_proc(pid, 0.0)]
            burst(pb, rpc, addr)
            load.start()
            warmup = seconds * WARMUP_FRACTION
            warm_stats: dict[str, Any] | None = None
            warm = 0
            while (now := time.monotonic() - start) < seconds:
                time.sleep(max(0.0, len(samples) - now))
                samples.append(read_proc(pid, time.monotonic() - start))
                # Warm until every client's channel is connected and served by a
                # worker of the node's pool: on a loaded machine a client thread
                # may make its first call seconds late (one more fd and thread).
                if (warm_stats is None and samples[-1].t >= warmup
                        and load.started == len(load.threads)):
                    warm = len(samples) - 1
                    warm_stats = read_stats(url)  # after the sample: its socket is not counted
            load.finish()
            end_stats = read_stats(url)
            elapsed = time.monotonic() - start
        finally:
            if load is not None:
                load.stop.set()
            node.stop()
        assert warm_stats is not None
        assert end_stats["node"]["pid"] == pid
        verdict = Verdict("node", elapsed, load.ops, load.errors, samples, warm)
        group = end_stats["groups"][0]
        verdict.figures.update({
            "node_gets_after_warmup": group["gets"] - warm_stats["groups"][0]["gets"],
            "node_gets": group["gets"],
            "hit_rate": round(group["hit_rate"], 3),
            "getter_loads": group["counters"]["getter_loads"],
            "items": group["items"],
            "bytes": group["bytes"],
        })
        verdict.checks.append(("zero client errors and wrong answers", load.errors == 0,
                               f"{load.errors} {load.failures}"))
        verdict.checks.append(("the node exited cleanly on SIGTERM",
                               node.proc is not None and node.proc.returncode == 0,
                               str(node.proc.returncode if node.proc else None)))
        verdict.judge_resources(NODE_RSS_SLACK_MIB)
        return verdict


# ------------------------------------------------------------------ cycles soak


def cycles_child(cycles: int, seed: int, leak_every: int = 0) -> None:
    """The child's work: `cycles` set/get cycles with eviction and everything around
    them; a JSON sample line every ~0.5 s, then a JSON report line. leak_every > 0
    keeps one new 100-byte object every that many cycles: the detector's own test."""
    import gc
    import tracemalloc

    tracemalloc.start(1)
    import distcache
    from distcache import NotFound
    from distcache.group import new_group

    assert distcache.IMPLEMENTATION == "c", distcache.IMPLEMENTATION
    core = importlib.import_module("distcache._core")
    rng = random.Random(seed)
    randrange = rng.randrange
    values = [b"v" * n for n in (10, 50, 100, 300, 1000, 3000)]
    large = b"L" * (64 * 1024)  # stored and read without the GIL
    kept: list[bytes] = []  # the injected leak

    def getter(key: str) -> bytes:
        i = int(key[2:])
        if i % 10 == 9:
            raise NotFound(key)
        return values[i % len(values)]

    # Keys are made on the fly (200,000 distinct ones, ~35,000 of which fit):
    # nearly every set evicts, and no key list fills the snapshots.
    plain = core.LRUCache(4 << 20)
    tiny = core.LRUCache(1 << 20, admission="tinylfu", shards=16)
    group = new_group("soak", 2 << 20, getter, negative_ttl=0.2)
    pid = os.getpid()
    warm_at = int(cycles * WARMUP_FRACTION)
    snapshot = None
    start = last = time.monotonic()

    def sample(i: int) -> None:
        s = read_proc(pid, time.monotonic() - start)
        print(json.dumps({"i": i, "t": s.t, "rss_kib": s.rss_kib, "fds": s.fds,
                          "threads": s.threads}), flush=True)

    group_gets = 0
    for i in range(cycles):
        k = f"key:{randrange(200_000)}"
        plain.set(k, values[i % 6])
        plain.get(f"key:{randrange(200_000)}")
        # A small key space: hits, refusals by admission, and entries whose
        # millisecond ttl has passed when they are read again.
        tiny.set(f"key:{i % 5000}", values[i % 6], ttl=0.001 if i % 7 == 0 else None)
        tiny.get(f"key:{randrange(5000)}")
        if i % 16 == 0:
            batch = [f"key:{randrange(200_000)}" for _ in range(16)]
            plain.get_many(batch)
            plain.set_many({b: values[j % 6] for j, b in enumerate(batch)})
            plain.set(k, large)
            plain.get(k)
            plain.delete(batch[0])
            g = f"g:{randrange(50_000)}"
            try:
                group.get(g)
            except NotFound:
                pass
            group_gets += 1
            if i % 64 == 0:
                group.get_many([f"g:{randrange(50_000)}" for _ in range(8)])
                group.set(g, values[i % 6], ttl=0.5)
                group.delete(f"g:{randrange(50_000)}")
        if i % 100_000 == 99_999:
            tiny.clear()
        if leak_every and i % leak_every == 0:
            kept.append(b"%100d" % i)
        if i == warm_at:
            # Cyclic garbage (an exception and its traceback's frames) waits for
            # the collector: collected first, it is not counted as growth.
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            sample(i)  # after the snapshot, which holds some MiB of its own
        if time.monotonic() - last >= 0.5:
            last = time.monotonic()
            sample(i)
    sample(cycles)  # before the second snapshot, which holds as much as the first
    gc.collect()
    end = tracemalloc.take_snapshot()
    assert snapshot is not None
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = end.filter_traces(own).compare_to(snapshot.filter_traces(own), "lineno")
    growth = sum(d.size_diff for d in diff)
    plain._check_invariants()
    tiny._check_invariants()
    gstats = group.stats()
    print(json.dumps({
        "report": True,
        "traced_growth_bytes": growth,
        "traced_end_bytes": sum(st.size for st in end.statistics("filename")),
        "top_growth": [str(d) for d in diff[:10]],  # largest growth first
        "plain": plain.stats(), "tiny": tiny.stats(),
        "group_gets": group_gets, "group_loads": gstats["getter_loads"],
        "group_evictions": gstats["main"]["evictions"],
    }), flush=True)


def cycles_soak(cycles: int, *, leak_every: int = 0, seconds_limit: float = 900.0) -> Verdict:
    """cycles_child in a subprocess, stopped by its pid if it hangs; its verdict."""
    from tests.isolated import run_python

    code = ("from tests.reliability.soak import cycles_child; "
            f"cycles_child({cycles}, 1, {leak_every})")
    start = time.monotonic()
    # Always the C core, also in the twin run: the soak looks for memory the C code
    # keeps, and tracemalloc would count the twin's entries (Python objects whose
    # number varies with the value sizes) as growth.
    outcome = run_python(code, quiet=60.0, limit=seconds_limit,
                         env={"DISTCACHE_PURE_PYTHON": "0"})
    elapsed = time.monotonic() - start
    lines = [json.loads(x) for x in outcome.stdout.splitlines() if x.startswith("{")]
    report = next((x for x in lines if x.get("report")), None)
    samples = [Sample(x["t"], x["rss_kib"], x["fds"], x["threads"]) for x in lines if "i" in x]
    verdict = Verdict("cycles", elapsed, cycles, 0 if report else 1, samples, 0)
    ran = outcome.returncode == 0 and report is not None
    verdict.checks.append(("the child ran to its end", ran, "yes" if ran else outcome.describe()))
    if report is None:
        return verdict
    # The first sample at or after the warm-up's end is the one taken after the snapshot.
    at = [x["i"] for x in lines if "i" in x]
    verdict.warm = next(n for n, i in enumerate(at) if i >= int(cycles * WARMUP_FRACTION))
    plain, tiny = report["plain"], report["tiny"]
    verdict.figures.update({
        "ops": {"plain sets": plain["sets"], "plain gets": plain["hits"] + plain["misses"],
                "plain evictions": plain["evictions"], "tinylfu sets": tiny["sets"],
                "tinylfu expirations": tiny["expirations"],
                "tinylfu admission_rejects": tiny["admission_rejects"],
                "group gets": report["group_gets"], "group loads": report["group_loads"],
                "group evictions": report["group_evictions"]},
        "traced_growth_kib": round(report["traced_growth_bytes"] / 1024, 1),
        "traced_end_kib": round(report["traced_end_bytes"] / 1024, 1),
    })
    growth = report["traced_growth_bytes"] / 1024
    verdict.checks.append((f"traced Python memory growth after warm-up < {TRACED_SLACK_KIB} KiB",
                           growth < TRACED_SLACK_KIB,
                           f"{growth:.1f} KiB" + ("" if growth < TRACED_SLACK_KIB else
                                                  "; top growth:\n      "
                                                  + "\n      ".join(report["top_growth"]))))
    verdict.judge_resources()
    return verdict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the node soak")
    p.add_argument("--cycles", type=int, default=1_000_000, help="set/get cycles of the child")
    p.add_argument("--only", choices=["node", "cycles"], help="run one soak only")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON too")
    args = p.parse_args(argv)
    verdicts = []
    if args.only in (None, "node"):
        verdicts.append(node_soak(args.seconds))
        print(verdicts[-1].report(), flush=True)
    if args.only in (None, "cycles"):
        verdicts.append(cycles_soak(args.cycles))
        print(verdicts[-1].report(), flush=True)
    if args.json:
        print(json.dumps([{"name": v.name, "passed": v.passed, "ops": v.ops, "errors": v.errors,
                           "figures": v.figures, "checks": v.checks} for v in verdicts]))
    return 0 if all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
