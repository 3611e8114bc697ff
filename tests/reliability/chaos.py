"""Faults injected into real `distcache serve` nodes under a steady load, and what survived.

Each scenario starts its own nodes (tests/cluster/nodes.py; in network
namespaces for the membership and partition ones, tests/reliability/netns.py),
drives them with reader threads, one writer of fresh keys and two writers of
a hot set of source keys (through different nodes) through a client
generated from proto/distcache.proto, injects its fault, lets it heal, and
returns a Result: reads, failed reads, latency percentiles against the bound
the design gives, Sets acknowledged and lost, the history checker's diverged
keys and stale reads (history.py), and what the nodes' /stats counters said.
``Result.problems`` lists every promise that did not hold (empty is a pass);
tests/reliability/test_chaos.py runs every scenario for a few seconds and
asserts it, ``make chaos`` runs them longer:

    python -m tests.reliability.chaos [--seconds N] [--write-docs] [SCENARIO ...]

``--write-docs`` puts the table between ``<!-- chaos:begin -->`` and
``<!-- chaos:end -->`` in docs/reliability.md.

The promises checked (docs/reliability.md, "Faults on a real cluster", says
what each asserts; docs/grpc.md, "Placement, replicas and failover", the
design they come from):

- no read fails when a replica of its key or the local getter can answer:
  readers go through nodes that are not themselves the fault (a client of a
  SIGKILLed node does fail; that is not the cluster's doing);
- every read ends within the design's bound: two peer deadlines (the first
  replica, then the second) plus one load from the source, plus a slack for
  a loaded 2-core machine; the client's own deadline is set past the bound,
  so a read that breaks the bound shows as slow, not as a timeout;
- a Set acknowledged by a node is held by each replica the node could reach
  while the replica lived (a Set goes to every replica; a replica that was
  dead, stopped or cut off when it was sent cannot have it, and nothing
  hands it over later: those are counted, not failed);
- the history holds together (history.py): after the repair window every
  node answers a written key's newest acknowledged value, and no read that
  started after a Set was acknowledged returns an older value than that Set's;
- the counters tell the story: a dead or cut-off peer is seen down by the
  nodes that lose it and up again after, failovers and peer errors are
  counted, a restarted node is used by its peers again.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc

from distcache.cli.nodes import start_all, stop_all
from distcache.cluster.hashring import HashRing
from distcache.sqlite_getter import create_table
from tests.cluster.nodes import ROOT, Node, free_port, generate_stubs, make_source

from . import netns
from .history import ACKED, FAILED, UNKNOWN, Copy, History, ReadOp, WriteOp, check

GROUP = "items"
ROWS = 1000  # the source's keys: k0 .. k999 -> b"value-<i>"
# The hot set: source keys both hot writers write, through different nodes,
# and that readers read one time in HOT_SHARE (so non-replicas copy them hot).
HOT = [f"k{i}" for i in range(8)]
HOT_SHARE = 4
HOT_WRITERS = 2
# Seconds after a fault is over (the node seen up again, the link healed, the
# source back) by which every hint a node held has been replayed: the hint
# worker looks every 0.1 s, the prober every 0.25 s; the rest is slack for a
# loaded 2-core machine. Reads after it are held to every acknowledged Set.
REPAIR = 1.0
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- chaos:begin -->", "<!-- chaos:end -->"
# A proxy named in the environment must not carry loopback or namespace traffic.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Settings:
    """One run's knobs; the defaults are the short runs of test_chaos.py."""

    seconds: float = 4.0  # length of each scenario's fault phase (and of the calm around it)
    readers: int = 4  # reader threads
    peer_timeout: float = 0.5  # every node's --timeout: the deadline of a call to a peer
    slack: float = 1.0  # what a loaded 2-core machine may add to the design's bound
    keys: int = 600  # readers read k0 .. k<keys-1>
    slow_ms: float = 700.0  # the slow getter's --loader-delay-ms (past the peer deadline)
    hang_deadline: float = 2.0  # the client's deadline for keys whose getter hangs

    def bound(self, load: float = 0.0) -> float:
        """Seconds a read may take: two peer deadlines, one load, the slack."""
        return 2 * self.peer_timeout + load + self.slack


@dataclass
class Read:
    """One Get by a reader."""

    t: float  # when it started, seconds since the load started
    node: str
    key: str
    latency: float
    error: str  # "" when it returned the source's value


@dataclass
class Write:
    """One Set of a fresh key by the writer."""

    t: float
    node: str
    key: str
    value: bytes
    acked: bool
    latency: float
    error: str


@dataclass
class Result:
    """What one scenario measured; problems are the promises that did not hold."""

    scenario: str
    fault: str
    reads: int = 0
    failed: int = 0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    bound: float = 0.0
    sets_acked: int = 0
    sets_lost: int = 0
    sets_unreplicated: int = 0  # acked, but a replica that was down or cut off lacks it
    diverged_keys: int = 0  # written keys the nodes disagree on after the repair window
    stale_reads: int = 0  # reads older than a write acknowledged before they started
    history: str = ""  # what the history held, for the counters column
    set_max: float = 0.0  # the slowest Set, acknowledged or not
    counters: str = ""
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""

    def expect(self, ok: bool, what: str) -> None:
        """Records what as a problem unless ok."""
        if not ok:
            self.problems.append(what)


# ------------------------------------------------------------------ client


class Client:
    """Stubs generated from the .proto, one channel per node address."""

    def __init__(self, stubs: tuple[ModuleType, ModuleType]) -> None:
        self.pb, self._rpc = stubs
        # Guards _channels and _stubs.
        self._lock = threading.Lock()
        self._channels: list[grpc.Channel] = []
        self._stubs: dict[str, Any] = {}

    def stub(self, addr: str) -> Any:
        with self._lock:
            s = self._stubs.get(addr)
            if s is None:
                channel = grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)])
                self._channels.append(channel)
                s = self._stubs[addr] = self._rpc.CacheServiceStub(channel)
            return s

    def get(self, addr: str, key: str, deadline: float, *, forwarded: bool = False,
            cache_only: bool = False) -> Any:
        return self.stub(addr).Get(self.pb.GetRequest(group=GROUP, key=key, forwarded=forwarded,
                                                      cache_only=cache_only),
                                   timeout=deadline)

    def set(self, addr: str, key: str, value: bytes, deadline: float) -> Any:
        return self.stub(addr).Set(self.pb.SetRequest(group=GROUP, key=key, data=value),
                                   timeout=deadline)

    def close(self) -> None:
        with self._lock:
            channels, self._channels, self._stubs = self._channels, [], {}
        for channel in channels:
            channel.close()


def _rpc_error(exc: grpc.RpcError) -> str:
    return f"{exc.code().name}: {exc.details()}"


class Load:
    """Reader threads, one writer of fresh keys and two of the hot set, through the
    nodes named in targets; every Get and Set is recorded into history."""

    def __init__(self, client: Client, targets: list[str], settings: Settings,
                 deadline: float, *, keys: Callable[[random.Random], int] | None = None,
                 tag: str = "w") -> None:
        self._client = client
        self.history = History(self.now)
        self._settings = settings
        self._deadline = deadline
        self._keys = keys or (lambda rng: rng.randrange(settings.keys))
        self._tag = tag
        # Guards _targets (the scenario changes it while the threads read it).
        self._lock = threading.Lock()
        self._targets = list(targets)
        self._inflight: dict[str, int] = {}  # node -> calls to it not returned yet
        # Appended by the threads, read after stop(): list.append is atomic.
        self.reads: list[Read] = []
        self.writes: list[Write] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.t0 = time.monotonic()

    @property
    def targets(self) -> list[str]:
        with self._lock:
            return list(self._targets)

    @targets.setter
    def targets(self, addrs: list[str]) -> None:
        with self._lock:
            self._targets = list(addrs)

    def retarget(self, addrs: list[str]) -> None:
        """Sends the load to addrs only, once the calls to the others have returned."""
        self.targets = addrs
        deadline = time.monotonic() + self._deadline + 1
        while time.monotonic() < deadline:
            with self._lock:
                if not any(n for a, n in self._inflight.items() if a not in addrs):
                    return
            time.sleep(0.005)

    def _pick(self, n: int) -> str:
        with self._lock:
            node = self._targets[n % len(self._targets)]
            self._inflight[node] = self._inflight.get(node, 0) + 1
            return node

    def _done(self, node: str) -> None:
        with self._lock:
            self._inflight[node] -= 1

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _read(self, seed: int) -> None:
        rng = random.Random(seed)
        n = seed
        while not self._stop.is_set():
            node = self._pick(n)
            n += 1
            i = rng.randrange(len(HOT)) if rng.randrange(HOT_SHARE) == 0 else self._keys(rng)
            key = f"k{i}"
            hot = key in HOT
            t = self.now()
            start = time.perf_counter()
            value: bytes | None = None
            version = 0
            try:
                r = self._client.get(node, key, self._deadline)
                value, version = (r.data, r.version) if r.found else (None, 0)
                # A hot key's value may be any write's: the history judges it.
                error = "" if hot or r.data == b"value-%d" % i else f"wrong value {r.data[:40]!r}"
            except grpc.RpcError as exc:
                error = _rpc_error(exc)
            finally:
                self._done(node)
            latency = time.perf_counter() - start
            self.reads.append(Read(t, node, key, latency, error))
            self.history.read(ReadOp(f"r{seed}", key, node, t, self.now(), value, version, error))

    def _write(self) -> None:
        n = 0
        while not self._stop.wait(0.02):
            node = self._pick(n)
            key, value = f"{self._tag}-{n}", b"set-%d" % n
            n += 1
            t = self.now()
            start = time.perf_counter()
            acked, error = self._set("set", node, key, value, t)
            self.writes.append(Write(t, node, key, value, acked, time.perf_counter() - start,
                                     error))

    def _write_hot(self, j: int) -> None:
        rng = random.Random(1000 + j)
        n = 0
        while not self._stop.wait(0.02):
            # The two writers ask different nodes at each step (targets rotate).
            node = self._pick(n + j)
            key, value = rng.choice(HOT), b"w%d-%d" % (j, n)
            n += 1
            self._set(f"w{j}", node, key, value, self.now())

    def _set(self, writer: str, node: str, key: str, value: bytes, t: float
             ) -> tuple[bool, str]:
        """One Set, recorded into history; (acknowledged, error). The caller picked node."""
        version = missed = 0
        try:
            r = self._client.set(node, key, value, self._deadline)
            acked, error, version, missed = r.success, r.err, r.version, r.missed
            outcome = ACKED if acked else FAILED
        except grpc.RpcError as exc:
            # No answer: the node may have stored it and passed it on.
            acked, error, outcome = False, _rpc_error(exc), UNKNOWN
        finally:
            self._done(node)
        self.history.write(WriteOp(writer, key, value, node, t, self.now(), outcome,
                                   version if acked else 0, error, missed if acked else 0))
        return acked, error

    def start(self) -> Load:
        self.t0 = time.monotonic()
        self._threads = [threading.Thread(target=self._read, args=(i,), daemon=True,
                                          name=f"chaos-reader-{i}")
                         for i in range(self._settings.readers)]
        self._threads.append(threading.Thread(target=self._write, daemon=True,
                                              name="chaos-writer"))
        self._threads += [threading.Thread(target=self._write_hot, args=(j,), daemon=True,
                                           name=f"chaos-hot-writer-{j}")
                          for j in range(HOT_WRITERS)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stops the threads; each ends within one client deadline (else: an error)."""
        self._stop.set()
        for t in self._threads:
            t.join(self._deadline + 10)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            raise RuntimeError(f"load threads did not stop: {stuck}")


class Observer:
    """Reads each node's /stats every quarter second: peer states seen, last counters."""

    def __init__(self, metrics: dict[str, str], clock: Callable[[], float]) -> None:
        self._metrics = metrics  # node address -> its /stats URL
        self._clock = clock
        # Guards the three records below.
        self._lock = threading.Lock()
        self.last: dict[str, dict[str, Any]] = {}  # node -> its last /stats document
        # (observer, peer) -> [(t, state)] each time the state seen changed
        self.states: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def fetch(self, node: str) -> dict[str, Any] | None:
        try:
            with _HTTP.open(self._metrics[node] + "/stats", timeout=1.0) as r:
                doc: dict[str, Any] = json.loads(r.read())
        except (OSError, ValueError):
            return None
        with self._lock:
            self.last[node] = doc
            for peer in doc["peers"]:
                seen = self.states.setdefault((node, peer["addr"]), [])
                if not seen or seen[-1][1] != peer["state"]:
                    seen.append((self._clock(), peer["state"]))
        return doc

    def _run(self, node: str) -> None:
        while not self._stop.wait(0.25):
            self.fetch(node)

    def watch(self, node: str) -> None:
        t = threading.Thread(target=self._run, args=(node,), daemon=True,
                             name=f"chaos-observer-{node}")
        self._threads.append(t)
        t.start()

    def saw(self, node: str, peer: str, state: str) -> bool:
        with self._lock:
            return any(s == state for _, s in self.states.get((node, peer), []))

    def counters(self, node: str) -> dict[str, int]:
        with self._lock:
            doc = self.last.get(node)
        return dict(doc["groups"][0]["counters"]) if doc else {}

    def wait(self, what: Callable[[], bool], timeout: float) -> bool:
        """Polls until what() is true; False after timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return True
            time.sleep(0.1)
        return what()

    def peer_view(self, node: str) -> dict[str, str] | None:
        """node's peers and their states now, or None when it does not answer."""
        doc = self.fetch(node)
        return None if doc is None else {p["addr"]: p["state"] for p in doc["peers"]}

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)


# ------------------------------------------------------------------- nodes


class Nodes:
    """The scenario's node processes: started in parallel, all stopped by pid at the end."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.metrics: dict[str, str] = {}  # address -> http://HOST:PORT

    def add(self, addr: str, metrics: str, args: list[str], prefix: list[str] | None = None
            ) -> Node:
        node = Node(addr, [*args, "--metrics", metrics], prefix=prefix or [])
        self.nodes[addr] = node
        self.metrics[addr] = f"http://{metrics}"
        return node

    def start(self, *addrs: str) -> None:
        """Starts the nodes at addrs (all by default) at once, then waits for each."""
        start_all(self.nodes[a] for a in addrs or self.nodes)

    def stop(self) -> None:
        """Stops every node by its pid, all at once (each may take its 1 s grace)."""
        stop_all(self.nodes.values())


@contextmanager
def _run(settings: Settings, stubs: tuple[ModuleType, ModuleType], nodes: Nodes,
         targets: list[str], **load_kw: Any) -> Iterator[tuple[Client, Load, Observer]]:
    """Load and observer over started nodes; everything stopped on the way out."""
    client = Client(stubs)
    load = Load(client, targets, settings, settings.bound() + 1.0, **load_kw)
    observer = Observer(nodes.metrics, load.now)
    try:
        for addr in nodes.metrics:
            observer.watch(addr)
        load.start()
        yield client, load, observer
    finally:
        try:
            load.stop()
        finally:
            observer.stop()
            nodes.stop()
            client.close()


def _node_args(db: Path, settings: Settings, *extra: str) -> list[str]:
    return ["--group", f"{GROUP}:8MiB", "--loader", f"sqlite:{db}:items",
            "--timeout", str(settings.peer_timeout), *extra]


def _summarize_reads(result: Result, reads: list[Read], bound: float) -> None:
    result.reads = len(reads)
    failed = [r for r in reads if r.error]
    result.failed = len(failed)
    latencies = sorted(r.latency for r in reads) or [0.0]
    result.p50 = statistics.median(latencies)
    result.p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    result.max = latencies[-1]
    result.bound = bound
    result.expect(result.reads > 0, "no read was made")
    result.expect(not failed, f"{len(failed)} reads failed, e.g. "
                  + "; ".join(f"t={r.t:.2f} {r.node} {r.key}: {r.error}" for r in failed[:3]))
    result.expect(result.max <= bound,
                  f"a read took {result.max:.3f} s, over the bound of {bound:.3f} s")


def _check_sets(result: Result, client: Client, writes: list[Write], settings: Settings,
                must_hold: Callable[[Write], list[str]], replicas: Callable[[Write], list[str]],
                ) -> None:
    """Reads every acknowledged Set back from its replicas' own caches (cache_only)."""
    acked = [w for w in writes if w.acked]
    result.sets_acked = len(acked)
    # A Set waits for each other node in turn: two peer deadlines at most here.
    result.set_max = max((w.latency for w in writes), default=0.0)
    result.expect(result.set_max <= settings.bound(),
                  f"a Set took {result.set_max:.3f} s, over the bound of {settings.bound():.3f} s")
    result.expect(bool(acked), "no Set was acknowledged")
    lost: list[str] = []
    unreplicated = 0
    for w in acked:
        holding = []
        for addr in replicas(w):
            try:
                # cache_only: a forwarded Get to a replica that lacks the key would
                # take the other replica's copy first (docs/grpc.md), hiding the gap.
                r = client.get(addr, w.key, settings.bound() + 1.0, cache_only=True)
                if r.found and r.data == w.value:
                    holding.append(addr)
            except grpc.RpcError:
                pass
        missing = [a for a in must_hold(w) if a not in holding]
        if missing or not holding:
            lost.append(f"{w.key} (t={w.t:.2f} via {w.node}) missing on {missing or 'all'}")
        elif len(holding) < len(replicas(w)):
            unreplicated += 1
    result.sets_lost = len(lost)
    result.sets_unreplicated = unreplicated
    result.expect(not lost, f"{len(lost)} acknowledged Sets lost: " + "; ".join(lost[:3]))


REPAIR = 1.0  # seconds between the load's end and the final sweep: replica pushes are queued


def _source(key: str) -> bytes | None:
    """The source's value of key (make_source's rows)."""
    i = key[1:]
    return b"value-%s" % i.encode() if key[:1] == "k" and i.isdigit() and int(i) < ROWS else None


def _final_sweep(client: Client, history: History, addrs: list[str], settings: Settings
                 ) -> None:
    """Every written key from every node in addrs: its own copy (cache_only), then a Get."""
    time.sleep(REPAIR)
    deadline = settings.bound() + 1.0

    def sweep(key: str) -> None:
        # Every node's own copy before any Get: a Get may copy a replica's value.
        cached: dict[str, tuple[bytes | None, int, str]] = {}
        for a in addrs:
            try:
                r = client.get(a, key, deadline, cache_only=True)
                cached[a] = (r.data, r.version, "") if r.found else (None, 0, "")
            except grpc.RpcError as exc:
                cached[a] = (None, 0, "cache_only: " + _rpc_error(exc))
        for a in addrs:
            held, held_version, error = cached[a]
            value: bytes | None = None
            version = 0
            try:
                r = client.get(a, key, deadline)
                if r.found:
                    value, version = r.data, r.version
                else:
                    error = error or "not found"
            except grpc.RpcError as exc:
                error = _rpc_error(exc)
            history.final(Copy(key, a, held, held_version, value, version, error))

    with ThreadPoolExecutor(4, thread_name_prefix="chaos-sweep") as pool:
        list(pool.map(sweep, history.written_keys()))


def _judge(result: Result, load: Load, client: Client, addrs: list[str], settings: Settings,
           excused: Callable[[ReadOp, WriteOp], bool] | None = None,
           named: list[str] | None = None, repaired_at: float = 0.0) -> None:
    """The final sweep through addrs, then the history checker's verdict into result
    (with the nodes of named, default addrs, called n0, n1, ...). repaired_at: when
    the faults were over plus REPAIR (history.check)."""
    history = load.history
    _final_sweep(client, history, addrs, settings)
    verdict = check(history, _source, excused=excused or (lambda r, w: False),
                    repaired_at=repaired_at)
    result.diverged_keys = verdict.diverged_keys
    result.stale_reads = verdict.stale_reads
    named = named or addrs
    short = _short(named)
    for problem in verdict.problems:
        for a in sorted(named, key=len, reverse=True):  # 127.0.0.1:4903 is in ...:49037
            problem = problem.replace(a, short(a))
        result.problems.append(problem)
    hot = [w for w in history.writes if w.key in HOT]
    reads = sum(1 for r in history.reads if r.key in HOT)
    outcomes = {o: sum(1 for w in hot if w.outcome == o) for o in (ACKED, FAILED, UNKNOWN)}
    result.history = (f"hot set: {len(hot)} Sets of {len(HOT)} keys by {HOT_WRITERS} writers "
                      f"({outcomes[ACKED]} acked, {outcomes[FAILED]} failed, "
                      f"{outcomes[UNKNOWN]} unknown), {reads} reads of them; "
                      f"{len(history.written_keys())} keys swept on {len(addrs)} nodes")
    if verdict.stale:
        # A node that answered with a version answered from its own main copy:
        # a replica that missed a write (what hinted handoff is for); 0 is a
        # node that holds none (a hot copy, or a replica's answer passed on).
        own = sum(1 for r in verdict.stale if r.version)
        result.history += (f"; stale reads: {own} answered from the node's own older copy, "
                           f"{len(verdict.stale) - own} from no copy of its own")
    if verdict.missed_reads:
        result.history += (f"; {verdict.missed_reads} older reads of Sets a replica missed, "
                           f"before the repair")
    if verdict.excused_reads:
        result.history += f"; {verdict.excused_reads} older reads excused"
    if verdict.unjudged_reads:
        result.history += f"; {verdict.unjudged_reads} reads of a lost write of unknown version"


def _short(addrs: list[str]) -> Callable[[str], str]:
    names = {a: f"n{i}" for i, a in enumerate(addrs)}
    return lambda a: names.get(a, a)


def _totals(observer: Observer, addrs: list[str], *names: str) -> dict[str, int]:
    out = dict.fromkeys(names, 0)
    for a in addrs:
        c = observer.counters(a)
        for n in names:
            out[n] += c.get(n, 0)
    return out


def _describe(totals: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in totals.items())


# --------------------------------------------------------------- scenarios


def sigkill(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path) -> Result:
    """SIGKILL of one of 3 nodes under load, then its restart and rejoin."""
    result = Result("sigkill", "SIGKILL of n2, restart")
    nodes, addrs = _plain_cluster(settings, make_source(work / "kill.db", ROWS))
    name = _short(addrs)
    victim, survivors = addrs[2], addrs[:2]
    ring = HashRing(addrs)
    marks: dict[str, float] = {}
    with _run(settings, stubs, nodes, addrs, tag="kill") as (client, load, observer):
        time.sleep(settings.seconds / 2)
        load.retarget(survivors)  # its clients go elsewhere; the nodes must cope
        marks["killed"] = load.now()
        nodes.nodes[victim].kill()
        result.events.append(f"t={marks['killed']:.1f} SIGKILL n2")
        time.sleep(settings.seconds)
        nodes.nodes[victim].start()
        marks["restarted"] = load.now()
        result.events.append(f"t={marks['restarted']:.1f} n2 restarted")
        back = observer.wait(lambda: all(
            (observer.peer_view(s) or {}).get(victim) == "up" for s in survivors), 10.0)
        marks["rejoined"] = load.now()
        result.expect(back, "the survivors did not see the restarted node up within 10 s")
        result.events.append(f"t={marks['rejoined']:.1f} both survivors see n2 up")
        observer.fetch(victim)
        before = observer.counters(victim).get("gets", 0)
        sent_before = sum(1 for r in load.reads if r.node == victim)
        load.targets = addrs
        # Keys no reader reads, n2 their first replica and n0 none: n0 must
        # forward each to n2 now that it is back.
        probes = [k for k in (f"k{i}" for i in range(settings.keys, ROWS))
                  if ring.get_n(k, 2)[0] == victim and survivors[0] not in ring.get_n(k, 2)][:20]
        for k in probes:
            client.get(survivors[0], k, settings.bound() + 1.0)
        time.sleep(settings.seconds / 2)
        load.stop()
        observer.fetch(victim)
        served = observer.counters(victim).get("gets", 0) - before
        sent = sum(1 for r in load.reads if r.node == victim) - sent_before
        _summarize_reads(result, load.reads, settings.bound())

        def must_hold(w: Write) -> list[str]:
            reps = ring.get_n(w.key, 2)
            return reps if w.t >= marks["rejoined"] else [a for a in reps if a != victim]

        _check_sets(result, client, load.writes, settings, must_hold,
                    lambda w: ring.get_n(w.key, 2))
        # No excuse: the restarted n2 holds no hot copy; a replica that missed
        # a write while dead gets it as a hint once it is up again.
        _judge(result, load, client, addrs, settings,
               repaired_at=marks["rejoined"] + REPAIR)
        for a in addrs:
            observer.fetch(a)
        totals = _totals(observer, survivors, "failovers", "peer_errors", "degraded_loads",
                         "broadcast_errors")
    for s in survivors:
        result.expect(observer.saw(s, victim, "down"), f"{name(s)} never saw n2 down")
    result.expect(totals["peer_errors"] > 0, "no peer error was counted for the dead node")
    # Peers use it again: it answered more gets than its own clients sent it.
    result.expect(served >= sent + len(probes) > sent,
                  f"the restarted n2 answered {served} gets, its clients sent {sent}: "
                  f"its peers did not forward the {len(probes)} probes to it")
    result.counters = (f"{_describe(totals)} (n0+n1); n2 seen down, up again after "
                       f"{marks['rejoined'] - marks['restarted']:.1f} s; its 2nd life served "
                       f"{served - sent} forwarded gets")
    return result


def sigstop(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path) -> Result:
    """SIGSTOP of one of 3 nodes (a hang, so peer deadlines must fire), then SIGCONT."""
    result = Result("sigstop", "SIGSTOP of n2, SIGCONT")
    nodes, addrs = _plain_cluster(settings, make_source(work / "stop.db", ROWS))
    victim, survivors = addrs[2], addrs[:2]
    ring = HashRing(addrs)
    marks: dict[str, float] = {}
    with _run(settings, stubs, nodes, addrs, tag="stop") as (client, load, observer):
        time.sleep(settings.seconds / 2)
        load.retarget(survivors)
        marks["stopped"] = load.now()
        nodes.nodes[victim].pause(True)
        result.events.append(f"t={marks['stopped']:.1f} SIGSTOP n2")
        time.sleep(settings.seconds)
        nodes.nodes[victim].pause(False)
        marks["continued"] = load.now()
        result.events.append(f"t={marks['continued']:.1f} SIGCONT n2")
        back = observer.wait(lambda: all(
            (observer.peer_view(s) or {}).get(victim) == "up" for s in survivors), 10.0)
        marks["back"] = load.now()
        result.expect(back, "the survivors did not see n2 up within 10 s of SIGCONT")
        load.targets = addrs
        time.sleep(settings.seconds / 2)
        load.stop()
        _summarize_reads(result, load.reads, settings.bound())

        # Every replica, the stopped one too: a Set it missed reached it as a
        # hint once it was up again.
        _check_sets(result, client, load.writes, settings, lambda w: ring.get_n(w.key, 2),
                    lambda w: ring.get_n(w.key, 2))
        repaired = marks["back"] + REPAIR

        def hot_copy(r: ReadOp, w: WriteOp) -> bool:
            # A Set tells every other node to drop its hot copy of the key; the
            # stopped n2 missed that for w, so a copy it holds of a key it is no
            # replica of outlives w until the hint of that drop reaches it.
            return (r.node == victim and victim not in ring.get_n(r.key, 2)
                    and marks["stopped"] - settings.bound() <= w.start < marks["back"]
                    and r.start < repaired)

        _judge(result, load, client, addrs, settings, hot_copy, repaired_at=repaired)
        for a in addrs:
            observer.fetch(a)
        totals = _totals(observer, survivors, "failovers", "peer_errors", "degraded_loads",
                         "broadcast_errors")
        errors = [p["last_error"] for a in survivors
                  for p in observer.last.get(a, {}).get("peers", []) if p["addr"] == victim]
    for s in survivors:
        result.expect(observer.saw(s, victim, "down"), f"{s} never saw n2 down")
    result.expect(totals["peer_errors"] > 0, "no peer error was counted for the stopped node")
    result.expect(any("DEADLINE_EXCEEDED" in e for e in errors),
                  f"the stopped node's calls did not end by their deadline: {errors}")
    result.counters = (f"{_describe(totals)} (n0+n1); n2 seen down (DEADLINE_EXCEEDED), "
                       f"up {marks['back'] - marks['continued']:.1f} s after SIGCONT")
    return result


def _plain_cluster(settings: Settings, db: Path, *extra: str) -> tuple[Nodes, list[str]]:
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    nodes = Nodes()
    for a in addrs:
        nodes.add(a, f"127.0.0.1:{free_port()}",
                  _node_args(db, settings, "--peers", ",".join(addrs), *extra))
    nodes.start()
    return nodes, addrs


def slow_getter(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path) -> Result:
    """Every load from the source takes slow_ms, past the peer deadline."""
    delay = settings.slow_ms / 1000
    result = Result("slow-getter", f"getter sleeps {settings.slow_ms:.0f} ms "
                    f"(peer deadline {settings.peer_timeout * 1000:.0f} ms)")
    db = make_source(work / "slow.db", ROWS)
    nodes, addrs = _plain_cluster(settings, db, "--loader-delay-ms", str(settings.slow_ms))
    ring = HashRing(addrs)
    with _run(settings, stubs, nodes, addrs, tag="slow") as (client, load, observer):
        time.sleep(2 * settings.seconds)
        load.stop()
        _summarize_reads(result, load.reads, settings.bound(delay))
        _check_sets(result, client, load.writes, settings, lambda w: ring.get_n(w.key, 2),
                    lambda w: ring.get_n(w.key, 2))
        _judge(result, load, client, addrs, settings)
        for a in addrs:
            observer.fetch(a)
        totals = _totals(observer, addrs, "getter_loads", "failovers", "degraded_loads",
                         "peer_errors")
    result.expect(totals["getter_loads"] > 0, "the getter was never called")
    result.counters = _describe(totals) + " (all nodes)"
    return result


def calm(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path) -> Result:
    """No fault: the baseline of the history's figures (a stale read here is no fault's)."""
    result = Result("calm", "none (baseline)")
    nodes, addrs = _plain_cluster(settings, make_source(work / "calm.db", ROWS))
    ring = HashRing(addrs)
    with _run(settings, stubs, nodes, addrs, tag="calm") as (client, load, observer):
        time.sleep(2 * settings.seconds)
        load.stop()
        _summarize_reads(result, load.reads, settings.bound())
        _check_sets(result, client, load.writes, settings, lambda w: ring.get_n(w.key, 2),
                    lambda w: ring.get_n(w.key, 2))
        _judge(result, load, client, addrs, settings)
        for a in addrs:
            observer.fetch(a)
        totals = _totals(observer, addrs, "failovers", "peer_errors", "promotions",
                         "broadcast_errors")
    result.counters = _describe(totals) + " (all nodes)"
    return result


class Prober:
    """One thread reading keys no reader reads (k<first>...), expecting them to fail."""

    def __init__(self, client: Client, targets: list[str], first: int, deadline: float,
                 clock: Callable[[], float]) -> None:
        self._client = client
        self._targets = targets
        self._first = first
        self._deadline = deadline
        self._clock = clock
        self.reads: list[Read] = []  # appended by the thread, read after stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-prober")

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            node = self._targets[n % len(self._targets)]
            key = f"k{self._first + n}"
            n += 1
            t = self._clock()
            start = time.perf_counter()
            try:
                self._client.get(node, key, self._deadline)
                error = ""
            except grpc.RpcError as exc:
                error = _rpc_error(exc)
            self.reads.append(Read(t, node, key, time.perf_counter() - start, error))

    def start(self) -> Prober:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._deadline + 10)
        if self._thread.is_alive():
            raise RuntimeError("the prober did not stop")


WARM = 300  # readers of the getter-fault scenarios read k0..k299, cached before the fault


def _warm(client: Client, addrs: list[str], settings: Settings) -> None:
    """Reads k0..k<WARM-1> through every node: each replica holds each (load + push)."""
    for i in range(WARM):
        for a in addrs:
            client.get(a, f"k{i}", settings.bound() + 1.0)
    time.sleep(0.5)  # the replica pushes are asynchronous


def _getter_fault(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path,
                  kind: str) -> Result:
    """The source raising (its table dropped) or hanging (an exclusive lock held)."""
    raising = kind == "raising"
    result = Result(f"{kind}-getter",
                    "table dropped: getter raises" if raising
                    else "exclusive lock held: getter hangs 5 s")
    db = make_source(work / f"{kind}.db", ROWS)
    nodes, addrs = _plain_cluster(settings, db)
    ring = HashRing(addrs)
    warm = Client(stubs)
    try:
        _warm(warm, addrs, settings)
    except BaseException:
        nodes.stop()
        raise
    finally:
        warm.close()
    deadline = settings.bound() + 1.0 if raising else settings.hang_deadline
    lock: sqlite3.Connection | None = None
    with _run(settings, stubs, nodes, addrs, tag=kind,
              keys=lambda rng: rng.randrange(WARM)) as (client, load, observer):
        time.sleep(settings.seconds / 2)
        if raising:
            with sqlite3.connect(db) as conn:
                conn.execute("DROP TABLE items")
            conn.close()
        else:
            # SQLite's readers wait for an exclusive lock up to their busy
            # timeout (Python's default, 5 s), then raise "database is locked".
            lock = sqlite3.connect(db, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
        result.events.append(f"t={load.now():.1f} source {'dropped' if raising else 'locked'}")
        prober = Prober(client, addrs, WARM, deadline, load.now).start()
        try:
            time.sleep(settings.seconds)
        finally:
            prober.stop()
            if raising:
                create_table(db, "items", {f"k{i}": b"value-%d" % i for i in range(ROWS)})
            elif lock is not None:
                lock.execute("ROLLBACK")
                lock.close()
        restored = load.now()
        result.events.append(f"t={restored:.1f} source restored")
        time.sleep(settings.seconds / 2)
        load.stop()
        _summarize_reads(result, load.reads, settings.bound())
        _check_sets(result, client, load.writes, settings, lambda w: ring.get_n(w.key, 2),
                    lambda w: ring.get_n(w.key, 2))
        _judge(result, load, client, addrs, settings, repaired_at=restored + REPAIR)
        # Errors are not cached: the keys that failed load now, through every node.
        after = []
        for r in prober.reads[:20]:
            for a in addrs:
                try:
                    got = client.get(a, r.key, settings.bound() + 1.0).data
                    after.append(got == b"value-%s" % r.key[1:].encode())
                except grpc.RpcError:
                    after.append(False)
        for a in addrs:
            observer.fetch(a)
        totals = _totals(observer, addrs, "errors", "failovers", "degraded_loads",
                         "peer_errors")
    probes = prober.reads
    result.expect(len(probes) > 0, "the prober made no read")
    if raising:
        clear = [p for p in probes if p.error.startswith("UNAVAILABLE")
                 and "no such table: items" in p.error]
        result.expect(len(clear) == len(probes), "a read of a key the dropped table held did "
                      "not get UNAVAILABLE with the getter's text: "
                      + "; ".join({p.error for p in probes if p not in clear}))
        what = f"{len(clear)}/{len(probes)} cold reads got UNAVAILABLE '{probes[0].error[13:]}'"
    else:
        timed_out = [p for p in probes if p.error.startswith("DEADLINE_EXCEEDED")]
        result.expect(len(timed_out) == len(probes),
                      "a read of a locked key did not end by the client's deadline: "
                      + "; ".join({p.error for p in probes if p not in timed_out}))
        slowest = max((p.latency for p in probes), default=0.0)
        result.expect(slowest <= deadline + settings.slack,
                      f"a cold read took {slowest:.3f} s with a {deadline} s deadline")
        what = (f"{len(timed_out)}/{len(probes)} cold reads hit their {deadline:.1f} s "
                f"deadline (max {slowest:.2f} s)")
    result.expect(bool(after) and all(after),
                  f"after the source came back, {after.count(False)} of {len(after)} reads of "
                  f"the failed keys still failed")
    result.counters = f"{what}; {_describe(totals)} (all nodes)"
    return result


def raising_getter(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path
                   ) -> Result:
    """The getter raises for every key not cached: its table is dropped, then restored."""
    return _getter_fault(settings, stubs, work, "raising")


def hanging_getter(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path
                   ) -> Result:
    """The getter hangs past every deadline: the test holds an exclusive SQLite lock."""
    return _getter_fault(settings, stubs, work, "hanging")


PORT = 7000  # every node's gRPC port inside the namespaces (one address each)
METRICS_PORT = 9100


def membership(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path) -> Result:
    """DNS membership under load: a 4th node joins, then one leaves (hosts file rewrites)."""
    result = Result("membership", "n3 joins, then n1 leaves (--peers-dns)")
    why = netns.available()
    if why:
        result.skipped = why
        return result
    db = make_source(work / "members.db", ROWS)
    net, ns, hosts = netns.shared(4)
    with net:
        ips = [net.node_ip(i) for i in range(4)]
        addrs = [f"{ip}:{PORT}" for ip in ips]
        nodes = Nodes()
        for ip, a in zip(ips, addrs, strict=True):
            nodes.add(a, f"{ip}:{METRICS_PORT}",
                      _node_args(db, settings, "--peers-dns", f"members:{PORT}"),
                      prefix=net.exec_prefix(ns))
        netns.write_hosts(hosts, "members", ips[:3])
        nodes.start(*addrs[:3])
        marks: dict[str, float] = {}
        rings = {"3": HashRing(addrs[:3]), "4": HashRing(addrs),
                 "-n1": HashRing([addrs[0], addrs[2], addrs[3]])}

        def converged(members: list[str]) -> bool:
            views = [observer.peer_view(a) for a in members]
            return all(v is not None and set(v) == set(members) - {a}
                       for a, v in zip(members, views, strict=True))

        with _run(settings, stubs, nodes, addrs[:3], tag="ring") as (client, load, observer):
            time.sleep(settings.seconds / 2)
            marks["join"] = load.now()
            nodes.start(addrs[3])
            observer.watch(addrs[3])
            netns.write_hosts(hosts, "members", ips)
            result.events.append(f"t={marks['join']:.1f} n3 started, hosts lists 4")
            ok = observer.wait(lambda: converged(addrs), 15.0)
            marks["joined"] = load.now()
            result.expect(ok, "the 4 nodes did not agree on a 4-node ring within 15 s")
            result.events.append(f"t={marks['joined']:.1f} all 4 rings agree")
            load.targets = addrs
            time.sleep(settings.seconds / 2)
            gets_n3 = observer.counters(addrs[3]).get("gets", 0)
            marks["leave"] = load.now()
            load.retarget([addrs[0], addrs[2], addrs[3]])
            netns.write_hosts(hosts, "members", [ips[0], ips[2], ips[3]])
            nodes.nodes[addrs[1]].stop()
            result.events.append(f"t={marks['leave']:.1f} hosts drops n1, n1 stopped")
            left = [addrs[0], addrs[2], addrs[3]]
            ok = observer.wait(lambda: converged(left), 15.0)
            marks["left"] = load.now()
            result.expect(ok, "the 3 remaining nodes did not agree within 15 s")
            result.events.append(f"t={marks['left']:.1f} the 3 rings agree")
            time.sleep(settings.seconds / 2)
            load.stop()
            _summarize_reads(result, load.reads, settings.bound())

            def ring_at(w: Write) -> HashRing | None:
                if w.t < marks["join"]:
                    return rings["3"]
                if marks["joined"] <= w.t < marks["leave"]:
                    return rings["4"]
                if w.t >= marks["left"]:
                    return rings["-n1"]
                return None  # the nodes disagreed: no replica is promised

            def must_hold(w: Write) -> list[str]:
                ring = ring_at(w)
                return [] if ring is None else [a for a in ring.get_n(w.key, 2)
                                                if a != addrs[1]]

            def replicas(w: Write) -> list[str]:
                ring = ring_at(w) or rings["-n1"]
                return [a for a in ring.get_n(w.key, 2) if a != addrs[1]]

            _check_sets(result, client, load.writes, settings, must_hold, replicas)
            def disagreeing(r: ReadOp, w: WriteOp) -> bool:
                # While the nodes re-resolve the name (every 5 s) their rings
                # differ: a Set reaches the replicas of its node's ring and a
                # read may be forwarded by the other ring to a node that is
                # none of them. No promise holds then but convergence after.
                return any(marks[a] <= r.start < marks[b] + REPAIR
                           for a, b in (("join", "joined"), ("leave", "left")))

            _judge(result, load, client, left, settings, disagreeing, named=addrs,
                   repaired_at=marks["left"] + REPAIR)
            # Read back through every live node under the final ring: keys whose
            # replicas moved lose what was Set on the old ones.
            everywhere = 0
            acked = [w for w in load.writes if w.acked]
            for w in acked:
                try:
                    everywhere += all(client.get(a, w.key, settings.bound() + 1.0).data == w.value
                                      for a in left)
                except grpc.RpcError:
                    pass
            for a in left:
                observer.fetch(a)
            totals = _totals(observer, left, "failovers", "peer_errors", "degraded_loads")
            forwarded_to_n3 = observer.counters(addrs[3]).get("gets", 0)
        sent_n3 = sum(1 for r in load.reads if r.node == addrs[3])
        result.expect(forwarded_to_n3 > sent_n3,
                      f"n3 answered {forwarded_to_n3} gets, its clients sent {sent_n3}: "
                      "its peers never forwarded to it")
        joined, left = marks["joined"] - marks["join"], marks["left"] - marks["leave"]
        result.counters = (f"{_describe(totals)}; rings agreed {joined:.1f} s after the join, "
                           f"{left:.1f} s after the leave; n3 served "
                           f"{forwarded_to_n3 - sent_n3} forwarded gets (n3 had {gets_n3} "
                           f"before n1 left); {everywhere}/{len(acked)} Sets read back through "
                           f"every node at the end")
        nodes.stop()
    leftovers = net.leftovers()
    result.expect(not leftovers, f"namespaces or links left behind: {leftovers}")
    return result


def partition(settings: Settings, stubs: tuple[ModuleType, ModuleType], work: Path) -> Result:
    """n0 and n2 lose each other; both still reach n1 and the client; then the link heals."""
    result = Result("partition", "n0-n2 link cut, both reach n1")
    why = netns.available()
    if why:
        result.skipped = why
        return result
    db = make_source(work / "part.db", ROWS)
    with netns.mesh(3) as net:
        ips = [net.node_ip(i) for i in range(3)]
        addrs = [f"{ip}:{PORT}" for ip in ips]
        ring = HashRing(addrs)
        nodes = Nodes()
        for i, (ip, a) in enumerate(zip(ips, addrs, strict=True)):
            nodes.add(a, f"{ip}:{METRICS_PORT}",
                      _node_args(db, settings, "--peers", ",".join(addrs)),
                      prefix=net.exec_prefix(net.namespaces[i]))
        nodes.start()
        marks: dict[str, float] = {}
        with _run(settings, stubs, nodes, addrs, tag="part") as (client, load, observer):
            time.sleep(settings.seconds / 2)
            marks["cut"] = load.now()
            net.cut(0, 2)
            result.events.append(f"t={marks['cut']:.1f} n0-n2 cut")
            time.sleep(settings.seconds)
            net.heal(0, 2)
            marks["healed"] = load.now()
            result.events.append(f"t={marks['healed']:.1f} n0-n2 healed")
            back = observer.wait(lambda: (observer.peer_view(addrs[0]) or {}).get(addrs[2]) == "up"
                                 and (observer.peer_view(addrs[2]) or {}).get(addrs[0]) == "up",
                                 10.0)
            marks["back"] = load.now()
            result.expect(back, "n0 and n2 did not see each other up within 10 s of the heal")
            time.sleep(settings.seconds / 2)
            load.stop()
            _summarize_reads(result, load.reads, settings.bound())
            cut = {addrs[0]: addrs[2], addrs[2]: addrs[0]}

            # Every replica, the cut-off one too: the hints crossed once healed.
            _check_sets(result, client, load.writes, settings,
                        lambda w: ring.get_n(w.key, 2), lambda w: ring.get_n(w.key, 2))
            repaired = marks["back"] + REPAIR

            def hot_copy(r: ReadOp, w: WriteOp) -> bool:
                # As in sigstop: w's Set, made on one side of the cut, could not
                # tell the other side to drop its hot copy of a key that side is
                # no replica of; the copy lasts until the hint of that drop crosses.
                return (cut.get(r.node) == w.node and r.node not in ring.get_n(r.key, 2)
                        and marks["cut"] - settings.bound() <= w.start < marks["back"]
                        and r.start < repaired)

            _judge(result, load, client, addrs, settings, hot_copy, repaired_at=repaired)
            for a in addrs:
                observer.fetch(a)
            totals = _totals(observer, addrs, "failovers", "peer_errors", "degraded_loads",
                             "broadcast_errors")
            n1 = _totals(observer, [addrs[1]], "peer_errors")["peer_errors"]
        for a, b in ((0, 2), (2, 0)):
            result.expect(observer.saw(addrs[a], addrs[b], "down"), f"n{a} never saw n{b} down")
        n1_saw = []
        for a in (0, 2):
            down = observer.saw(addrs[1], addrs[a], "down")
            result.expect(not down, f"n1 saw n{a} down, though their link stayed up")
            n1_saw.append(f"n{a} {'down' if down else 'up'}")
        result.counters = (f"{_describe(totals)} (all nodes; n1: {n1} peer errors); n0 and n2 "
                           f"saw each other down, n1 saw {' and '.join(n1_saw)}; up again "
                           f"{marks['back'] - marks['healed']:.1f} s after the heal")
        nodes.stop()
    leftovers = net.leftovers()
    result.expect(not leftovers, f"namespaces or links left behind: {leftovers}")
    return result


SCENARIOS: dict[str, Callable[[Settings, tuple[ModuleType, ModuleType], Path], Result]] = {
    "calm": calm,
    "sigkill": sigkill,
    "sigstop": sigstop,
    "slow-getter": slow_getter,
    "raising-getter": raising_getter,
    "hanging-getter": hanging_getter,
    "membership": membership,
    "partition": partition,
}


# ------------------------------------------------------------------ report


def _ms(s: float) -> str:
    return f"{s * 1000:.0f}"


def table(results: list[Result], settings: Settings) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | fault | reads | failed | p50 ms | p99 ms | max ms | bound ms "
        "| Sets acked | lost | not on every replica | Set max ms | diverged keys | stale reads "
        "| what the counters said |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.scenario} | {r.fault} | skipped: {r.skipped} ||||||||||||")
            continue
        lines.append(f"| {r.scenario} | {r.fault} | {r.reads} | {r.failed} | {_ms(r.p50)} "
                     f"| {_ms(r.p99)} | {_ms(r.max)} | {_ms(r.bound)} | {r.sets_acked} "
                     f"| {r.sets_lost} | {r.sets_unreplicated} | {_ms(r.set_max)} "
                     f"| {r.diverged_keys} | {r.stale_reads} "
                     f"| {'; '.join(x for x in (r.counters, r.history) if x)} |")
    return "\n".join(lines)


def write_docs(text: str, path: Path = DOC) -> None:
    """Replaces what is between the chaos markers of path with text."""
    doc = path.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    path.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])


def main(argv: list[str] | None = None) -> int:
    """Runs the scenarios; 1 when a promise did not hold."""
    p = argparse.ArgumentParser(prog="python -m tests.reliability.chaos", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="fault phase of each scenario")
    p.add_argument("--write-docs", action="store_true", help=f"write the table into {DOC}")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"any of {', '.join(SCENARIOS)} (default: all)")
    args = p.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario {unknown[0]!r}")
    settings = Settings(seconds=args.seconds)
    results = []
    with tempfile.TemporaryDirectory(prefix="distcache-chaos-") as tmp:
        work = Path(tmp)
        stubs = generate_stubs(work)
        for name in args.scenarios or SCENARIOS:
            started = time.monotonic()
            r = SCENARIOS[name](settings, stubs, work)
            results.append(r)
            verdict = "skipped: " + r.skipped if r.skipped else (
                "ok" if not r.problems else "FAILED: " + " | ".join(r.problems))
            print(f"{name}: {time.monotonic() - started:.0f} s, {r.reads} reads, {r.failed} "
                  f"failed, max {_ms(r.max)} ms; {verdict}", flush=True)
            for e in r.events:
                print(f"    {e}", flush=True)
    text = table(results, settings)
    print(text)
    if args.write_docs:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_docs(f"{text}\n\n`make chaos` (`python -m tests.reliability.chaos --seconds "
                   f"{args.seconds:g} --write-docs`), {stamp}, {len(results)} scenarios, "
                   f"{settings.readers} reader threads, 1 writer of fresh keys and "
                   f"{HOT_WRITERS} of {len(HOT)} hot keys, peer deadline "
                   f"{settings.peer_timeout} s.")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
