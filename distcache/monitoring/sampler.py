"""The sampler behind /stats's windows, and the records it fills in.

It reads each group's counters and latency buckets every ``interval`` seconds
and keeps ``history`` samples: the window figures are differences between two
samples, so they describe the last ``window`` seconds, not the life of the
node. A leaf: it reads groups and the pool through their public methods.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..group.latency import percentiles
from .schema import BloomStats, GroupStats, History, HotKey, PeerStats

__all__ = ["Sampler", "group_stats", "peer_stats", "process_start_time"]


def process_start_time() -> float:
    """This process's start, unix seconds (Linux /proc; elsewhere the import of this module)."""
    try:
        with open(f"/proc/{os.getpid()}/stat", "rb") as f:
            # Field 22 is the start in clock ticks after boot; the name (field 2)
            # may hold spaces, so count from its closing parenthesis.
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED


_IMPORTED = time.time()

# The figures of one group at one instant, as the sampler keeps them.
_Point = tuple[float, int, int, list[float]]  # (unix time, gets, hits, latency bucket counts)


def _point(group: Any, stats: dict[str, Any]) -> _Point:
    """The sampler's figures of group now, stats being its stats() just read."""
    hits = stats["local_hits"] + stats["hot_hits"] + stats["remote_hits"]
    return (time.time(), stats["gets"], hits, group.latency_buckets()[0])


def _between(a: _Point, b: _Point) -> tuple[float, float, float | None, list[float]]:
    """(seconds, qps, hit rate, latency bucket counts) from point a to the later b."""
    span = max(b[0] - a[0], 1e-9)
    gets = b[1] - a[1]
    hits = b[2] - a[2]
    buckets = [max(0.0, y - x) for x, y in zip(a[3], b[3], strict=True)]
    return span, gets / span, (hits / gets if gets > 0 else None), buckets


class Sampler:
    """Samples every group's counters each interval seconds, in a daemon thread.

    groups() is read at every tick, so groups created later are sampled too.
    """

    def __init__(self, groups: Callable[[], Sequence[Any]], *, interval: float = 1.0,
                 window: float = 10.0, history: int = 300) -> None:
        if not interval > 0 or not window >= interval or history < 2:
            raise ValueError("need interval > 0, window >= interval and history >= 2")
        self.interval = interval
        self.window = window
        self._groups = groups
        self._history = history
        # Guards _points (written by the sampling thread, read by /stats).
        self._lock = threading.Lock()
        self._points: dict[str, deque[_Point]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="distcache-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        """Takes one point of every group now."""
        points = {group.name: _point(group, group.stats()) for group in self._groups()}
        with self._lock:
            for name in list(self._points):
                if name not in points:
                    del self._points[name]  # a closed group
            for name, point in points.items():
                self._points.setdefault(name, deque(maxlen=self._history)).append(point)

    def _series(self, name: str) -> list[_Point]:
        with self._lock:
            return list(self._points.get(name, ()))

    def window_of(self, name: str, now_point: _Point) -> tuple[float, float, float | None,
                                                               list[float]]:
        """(seconds, qps, hit rate, percentiles p50/p95/p99) from the oldest point in the
        window to now_point; zeros when there is no earlier point."""
        series = self._series(name)
        start = next((p for p in series if now_point[0] - p[0] <= self.window + 1e-6), None)
        if start is None or now_point[0] <= start[0]:
            return 0.0, 0.0, None, [0.0, 0.0, 0.0]
        span, qps, rate, buckets = _between(start, now_point)
        return span, qps, rate, percentiles(buckets, (0.50, 0.95, 0.99))

    def history_of(self, name: str) -> History:
        series = self._series(name)
        out = History([], [], [], [], [])
        for a, b in zip(series, series[1:], strict=False):
            _, qps, rate, buckets = _between(a, b)
            p50, p99 = percentiles(buckets, (0.50, 0.99))
            out.t.append(round(b[0], 3))
            out.qps.append(round(qps, 3))
            out.hit_rate.append(None if rate is None else round(rate, 5))
            out.p50.append(p50)
            out.p99.append(p99)
        return out


def group_stats(group: Any, sampler: Sampler, top: int = 10) -> GroupStats:
    """The /stats record of one group now."""
    stats = group.stats()
    span, qps, rate, (p50, p95, p99) = sampler.window_of(group.name, _point(group, stats))
    negative = stats["negative"]
    bloom = None
    if negative is not None:
        neg, pos, fp = (negative["bloom_negative"], negative["bloom_positive"],
                        negative["bloom_false_positive"])
        bloom = BloomStats(neg + pos + fp, neg, pos, fp, fp / (fp + neg) if fp + neg else 0.0)
    hot = stats["hot"]
    items = stats["main"]["items"] + (hot["items"] if hot else 0)
    counters = {k: v for k, v in stats.items() if type(v) is int}
    return GroupStats(
        name=group.name,
        gets=stats["gets"],
        hit_rate=stats["hit_rate"],
        window_seconds=round(span, 3),
        qps=qps,
        window_hit_rate=rate,
        p50=p50,
        p95=p95,
        p99=p99,
        items=items,
        bytes=stats["nbytes"],
        max_bytes=stats["max_bytes"],
        hot_keys=[HotKey(k, c) for k, c in group.top_hot_keys(top)],
        bloom=bloom,
        counters=counters,
        history=sampler.history_of(group.name),
    )


def peer_stats(pool: Any) -> list[PeerStats]:
    if pool is None:
        return []
    return [PeerStats(p["addr"], "up" if p["up"] else "down", p["errors"], p["last_error"])
            for p in pool.peer_states()]
