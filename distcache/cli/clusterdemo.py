"""`distcache demo`: a 3-node cluster on loopback, a read load, and a node killed part-way.

It creates an SQLite source of truth in a temporary directory, starts three
`distcache serve` processes on free 127.0.0.1 ports, and reads through them
with a Zipf-shaped load for a fixed time. A third of the way in, one node is
killed with SIGKILL; two thirds in, it is started again on the same address.
A client whose node fails asks the next node (counted as a client retry); a
node whose peer fails asks the key's other replica or loads the key itself.
At the end every node is stopped (also on Ctrl-C or an error) and prints its
counters, which the report adds up: the killed node's first life is lost
with it, so its counters cover only its second life.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..group.latency import NBUCKETS, bucket_of, percentiles
from ..peers import NotFound
from ..sqlite_getter import create_table
from .demo import _row_value, zipf_cum_weights
from .nodes import Node, free_port, stop_all

__all__ = ["ClusterDemoConfig", "print_cluster_report", "run_cluster_demo"]

PHASES = ("before", "during", "after")


@dataclass
class ClusterDemoConfig:
    """What the demo runs."""

    rows: int = 10_000
    zipf: float = 1.0
    threads: int = 4
    seconds: float = 12.0
    delay_ms: float = 1.0
    absent: float = 0.02
    cache_bytes: int = 32 << 20
    seed: int = 1
    progress: bool = True


class _Reader(threading.Thread):
    """Reads keys through the nodes, round robin, moving on to the next node on failure."""

    def __init__(self, clients: list[Any], keys: list[str], cum: list[float], absent: list[str],
                 cfg: ClusterDemoConfig, slot: int, clock: Any) -> None:
        super().__init__(name=f"demo-reader-{slot}", daemon=True)
        self.clients, self.keys, self.cum, self.absent = clients, keys, cum, absent
        self.cfg, self.slot, self.clock = cfg, slot, clock
        self.rng = random.Random(cfg.seed * 1000 + slot)
        self.counts = {p: [0] * NBUCKETS for p in PHASES}
        self.requests = self.not_found = self.errors = self.retries = 0
        self.stop = threading.Event()

    def run(self) -> None:
        rng, n = self.rng, len(self.clients)
        i = self.slot
        now = time.perf_counter_ns
        while not self.stop.is_set():
            key = (rng.choice(self.absent) if rng.random() < self.cfg.absent
                   else rng.choices(self.keys, cum_weights=self.cum)[0])
            start = now()
            for attempt in range(n):
                client = self.clients[(i + attempt) % n]
                try:
                    client.get("demo", key)
                except NotFound:
                    self.not_found += 1
                except Exception:
                    self.retries += 1
                    continue
                break
            else:
                self.errors += 1
            self.counts[self.clock()][bucket_of(now() - start)] += 1
            self.requests += 1
            i += 1


def run_cluster_demo(cfg: ClusterDemoConfig, err: TextIO | None = None) -> dict[str, Any]:
    """Runs the demo; returns its report. Every process it starts is stopped."""
    from ..cluster import connect

    err = sys.stderr if err is None else err
    with tempfile.TemporaryDirectory(prefix="distcache-demo-") as tmp:
        db = Path(tmp) / "source.db"
        create_table(db, "users", {f"user:{i}": _row_value(i) for i in range(cfg.rows)})
        addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        metrics = [f"127.0.0.1:{free_port()}" for _ in addrs]
        dashboards = [f"http://{m}/status" for m in metrics]
        common = ["--peers", ",".join(addrs), "--group", f"demo:{cfg.cache_bytes}",
                  "--loader", f"sqlite:{db}:users", "--loader-delay-ms", str(cfg.delay_ms)]
        nodes = [Node(a, [*common, "--metrics", m], log_dir=tmp)
                 for a, m in zip(addrs, metrics, strict=True)]
        clients: list[Any] = []
        readers: list[_Reader] = []
        try:
            for node in nodes:
                node.start()
            print(f"3 nodes serving: {', '.join(addrs)} (source: {cfg.rows:,} rows, "
                  f"{cfg.delay_ms:g} ms a read)", file=err)
            # Open one while the load runs (--seconds 120 for a longer look):
            # the killed node's peers turn it down, then up again.
            for node, dashboard in zip(nodes, dashboards, strict=True):
                print(f"  dashboard of {node.addr}: {dashboard}", file=err)
            clients = [connect(a, timeout=1.0) for a in addrs]
            report = _load(cfg, nodes, clients, readers, err)
        finally:
            for r in readers:
                r.stop.set()
            for r in readers:
                r.join(10)
            stop_all(nodes)
            stats = [node.stats() for node in nodes]
            for c in clients:
                c.close()
    report["nodes"] = addrs
    report["dashboards"] = dashboards
    report["killed"] = addrs[2]
    totals: dict[str, int] = {}
    for node_stats in stats:
        for name, value in node_stats.get("demo", {}).items():
            totals[name] = totals.get(name, 0) + value
    report["node_totals"] = totals
    return report


def _load(cfg: ClusterDemoConfig, nodes: list[Node], clients: list[Any],
          readers: list[_Reader], err: TextIO) -> dict[str, Any]:
    keys = [f"user:{i}" for i in range(cfg.rows)]
    random.Random(cfg.seed).shuffle(keys)  # popularity is not creation order
    cum = zipf_cum_weights(cfg.rows, cfg.zipf)
    absent = [f"user:{cfg.rows + j}" for j in range(1000)]
    phase = ["before"]
    started = time.monotonic()
    readers.extend(_Reader(clients, keys, cum, absent, cfg, s, lambda: phase[0])
                   for s in range(cfg.threads))
    for r in readers:
        r.start()
    kill_at, restart_at = cfg.seconds / 3, 2 * cfg.seconds / 3
    events = []
    while (elapsed := time.monotonic() - started) < cfg.seconds:
        if phase[0] == "before" and elapsed >= kill_at:
            nodes[2].kill()
            phase[0] = "during"
            events.append(f"{elapsed:4.1f} s: SIGKILL {nodes[2].addr}")
        elif phase[0] == "during" and elapsed >= restart_at:
            nodes[2].start()
            phase[0] = "after"
            events.append(f"{time.monotonic() - started:4.1f} s: {nodes[2].addr} restarted")
        if cfg.progress:
            frac = min(1.0, elapsed / cfg.seconds)
            done = sum(r.requests for r in readers)
            err.write(f"\r[{'#' * int(frac * 30):<30}] {frac:4.0%} {elapsed:5.1f} s "
                      f"{done:>9,} requests  ({phase[0]} the kill)   ")
            err.flush()
        time.sleep(0.1)
    if cfg.progress:
        err.write("\n")
    for r in readers:
        r.stop.set()
    for r in readers:
        r.join(10)
    latency = {}
    for p in PHASES:
        merged = [sum(r.counts[p][b] for r in readers) for b in range(NBUCKETS)]
        p50, p95, p99 = percentiles(merged, (0.5, 0.95, 0.99))
        latency[p] = {"requests": int(sum(merged)), "p50": p50, "p95": p95, "p99": p99}
    return {
        "seconds": cfg.seconds,
        "requests": sum(r.requests for r in readers),
        "not_found": sum(r.not_found for r in readers),
        "errors": sum(r.errors for r in readers),
        "client_retries": sum(r.retries for r in readers),
        "latency": latency,
        "events": events,
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def print_cluster_report(report: dict[str, Any], out: TextIO | None = None) -> None:
    """The demo's figures, for a person."""
    out = sys.stdout if out is None else out
    t = report["node_totals"]
    gets = t.get("gets", 0)
    loads = t.get("getter_loads", 0)
    print(f"\nnodes {', '.join(report['nodes'])}; killed and restarted {report['killed']}",
          file=out)
    for event in report["events"]:
        print(f"  {event}", file=out)
    print(f"client requests  {report['requests']:,} in {report['seconds']:g} s "
          f"({report['not_found']:,} for absent keys)", file=out)
    print(f"errors           {report['errors']} (client retries on another node: "
          f"{report['client_retries']})", file=out)
    print(f"node gets        {gets:,} (client requests plus requests between nodes)", file=out)
    print(f"hit rate         {t.get('local_hits', 0) + t.get('hot_hits', 0):,} local or hot "
          f"hits of {gets:,} node gets = "
          f"{(t.get('local_hits', 0) + t.get('hot_hits', 0)) / gets if gets else 0:.1%}",
          file=out)
    print(f"getter loads     {loads:,} for {report['requests']:,} client requests "
          f"({1 - loads / report['requests'] if report['requests'] else 0:.1%} saved)", file=out)
    print(f"failovers        {t.get('failovers', 0)}; degraded loads "
          f"{t.get('degraded_loads', 0)}; peer errors {t.get('peer_errors', 0)}; "
          f"replica pushes {t.get('replica_pushes', 0)}", file=out)
    print("latency          " + "; ".join(
        f"{p} the kill: p50 {_ms(v['p50'])} p95 {_ms(v['p95'])} p99 {_ms(v['p99'])} "
        f"({v['requests']:,})" for p, v in report["latency"].items()), file=out)
    print("(node counters cover each node's last life: the killed node's first is lost)",
          file=out)
