"""What monitoring costs: hits with a scraper running, and the time of one scrape.

    python -m asv_bench.monitoring           # make bench-metrics
    python -m asv_bench.monitoring --quick

Two measurements, in this process and this run:

- hit cost: LRUCache.get and Group.get hits for PHASE seconds with no
  monitoring, then as long with start_metrics_server() running (its sampler
  ticking every second) and a scraper thread fetching /metrics and /stats
  every second; the phases alternate, and a figure is the median over rounds
  of the ratio within a round (these machines are shared and noisy);
- scrape time: GET /metrics and GET /stats of a node with 10 groups and a
  GRPCPool of 3 live peers (gRPC servers on 127.0.0.1 in this process),
  wall time of the HTTP request, median and worst of SCRAPES scrapes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import distcache
from distcache.group.registry import _reset_groups
from distcache.monitoring.server import start_metrics_server

KEYS = [f"key:{i:06d}" for i in range(1000)]
VALUE = b"v" * 100


def _hits_per_second(get: Callable[[str], Any], seconds: float) -> float:
    keys = KEYS
    done = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for k in keys:
            get(k)
        done += len(keys)
    return done / (time.perf_counter() - start)


class _Scraper(threading.Thread):
    """GETs /metrics and /stats every second until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(name="bench-scraper", daemon=True)
        self.url, self.stop, self.scrapes = url, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            for page in ("/metrics", "/stats"):
                with urllib.request.urlopen(self.url + page, timeout=10) as r:
                    r.read()
            self.scrapes += 1
            self.stop.wait(1.0)


def hit_overhead(rounds: int, phase: float) -> dict[str, Any]:
    """ns per hit off and on, and the median ratio on/off, for both entry points."""
    _reset_groups()
    cache = distcache.LRUCache(64 << 20)
    group = distcache.new_group("bench", 64 << 20, lambda k: VALUE)
    for k in KEYS:
        cache[k] = VALUE
        group.get(k)
    out: dict[str, Any] = {}
    scrapes = 0
    for name, get in (("LRUCache.get", cache.get), ("Group.get", group.get)):
        off, on, ratios = [], [], []
        for _ in range(rounds):
            a = 1e9 / _hits_per_second(get, phase)
            server = start_metrics_server("127.0.0.1:0", interval=1.0)
            scraper = _Scraper(server.url)
            scraper.start()
            try:
                b = 1e9 / _hits_per_second(get, phase)
            finally:
                scraper.stop.set()
                scraper.join(10)
                server.stop()
            scrapes += scraper.scrapes
            off.append(a)
            on.append(b)
            ratios.append(b / a)
        out[name] = {"off_ns": statistics.median(off), "on_ns": statistics.median(on),
                     "ratio": statistics.median(ratios), "ratios": ratios}
    out["scrapes"] = scrapes
    group.close()
    return out


def scrape_time(scrapes: int) -> dict[str, Any]:
    """Wall time of /metrics and /stats of a node with 10 groups and 3 live peers."""
    from distcache.cluster import GRPCPool

    _reset_groups()
    peers = [GRPCPool("127.0.0.1:0") for _ in range(3)]
    addrs = []
    for p in peers:
        port = p.start("127.0.0.1:0")
        addrs.append(f"127.0.0.1:{port}")
    pool = GRPCPool("127.0.0.1:1")  # never serves: only its ring and its peers matter here
    pool.set_peers("127.0.0.1:1", *addrs)
    groups = []
    for i in range(10):
        g = distcache.new_group(f"group{i}", 8 << 20, lambda k: VALUE)
        g.register_peers(pool)
        for k in KEYS[:200]:
            g.get_local(k)
        groups.append(g)
    server = start_metrics_server("127.0.0.1:0", interval=1.0)
    times: dict[str, list[float]] = {"/metrics": [], "/stats": []}
    try:
        for _ in range(scrapes):
            for page, samples in times.items():
                start = time.perf_counter()
                with urllib.request.urlopen(server.url + page, timeout=10) as r:
                    body = r.read()
                samples.append(time.perf_counter() - start)
                assert body
        doc = json.loads(urllib.request.urlopen(server.url + "/stats", timeout=10).read())
        assert len(doc["groups"]) == 10 and len(doc["peers"]) == 3
    finally:
        server.stop()
        for g in groups:
            g.close()
        for p in peers:
            p.stop(0)
        pool.stop(0)
    return {page: {"median_ms": statistics.median(s) * 1e3, "max_ms": max(s) * 1e3,
                   "scrapes": len(s)} for page, s in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 1.2 s, 20 scrapes")
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = ap.parse_args(argv)
    rounds, phase, scrapes = (2, 1.2, 20) if args.quick else (5, 2.5, 100)
    overhead = hit_overhead(rounds, phase)
    scrape = scrape_time(scrapes)
    if args.json:
        print(json.dumps({"overhead": overhead, "scrape": scrape}, indent=2))
        return 0
    print(f"hit cost with monitoring on (server + a scraper every second) / off, "
          f"median of {rounds} rounds of {phase:g} s ({overhead['scrapes']} scrapes):")
    for name in ("LRUCache.get", "Group.get"):
        o = overhead[name]
        print(f"  {name:<13} off {o['off_ns']:6.1f} ns  on {o['on_ns']:6.1f} ns  "
              f"ratio {o['ratio']:.3f}  (target <= 1.05)")
    print("scrape of a node with 10 groups and 3 live peers (HTTP request wall time):")
    for page, s in scrape.items():
        print(f"  {page:<9} median {s['median_ms']:6.2f} ms  max {s['max_ms']:6.2f} ms  "
              f"over {s['scrapes']}  (target < 20 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
