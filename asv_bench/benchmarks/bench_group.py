"""Groups: a Group.get hit beside the LRUCache.get it wraps, an aget hit, an @cached hit.

The time benchmarks make 1,000 hits of 1,000 keys per call (divide by 1,000
for one hit); the API is a parameter, so the four figures of one commit come
from one harness. The track benchmarks follow the ratios that have targets,
each paired within one process so that a commit's figure does not move with
the machine's speed: Group.get / LRUCache.get (<= 1.1, docs/optimization.md)
and aget / get of a local hit (<= 3, docs/async.md).
"""

import asyncio
import io
import itertools

import distcache
from asv_bench.workload import keys, value

N = 1000
_names = itertools.count()  # group names are registered: one of its own per setup


def _group() -> distcache.Group:
    return distcache.new_group(f"asv-{next(_names)}", 4 << 20)


class Hits:
    """1,000 hits through one API."""

    params = ["LRUCache.get", "Group.get", "Group.aget", "@cached (json)", "@cached (json, memo)"]
    param_names = ["api"]

    def setup(self, api: str) -> None:
        self.keys = keys(N)
        self.group = _group()
        self.loop = asyncio.new_event_loop()
        data = value(0)
        if api == "LRUCache.get":
            self.cache = distcache.LRUCache(4 << 20, admission="tinylfu")
            for k in self.keys:
                self.cache.set(k, data)
        elif api.startswith("@cached"):
            memo = N if "memo" in api else 0

            @distcache.cached(self.group, name="asv.row", memo=memo)
            def row(i: int) -> dict:
                return {"id": i, "name": f"user {i}", "active": True}

            self.row = row
            for i in range(N):
                row(i)
        else:
            for k in self.keys:
                self.group.set(k, data)
        self.time_hits(api)  # warm, and fail here rather than in a timed call

    def teardown(self, api: str) -> None:
        self.loop.close()
        self.group.close()

    def time_hits(self, api: str) -> None:
        if api == "LRUCache.get":
            get = self.cache.get
            for k in self.keys:
                get(k)
        elif api == "Group.get":
            get = self.group.get
            for k in self.keys:
                get(k)
        elif api == "Group.aget":
            self.loop.run_until_complete(self._agets())
        else:
            row = self.row
            for i in range(N):
                row(i)

    async def _agets(self) -> None:
        aget = self.group.aget
        for k in self.keys:
            await aget(k)


def track_group_get_over_lrucache_get() -> float:
    """Median of paired rounds: Group.get hit / LRUCache.get hit (<= 1.1: what a group may add)."""
    from asv_bench.experiments import measure_hit_path

    return measure_hit_path(rounds=11, number=100_000, out=io.StringIO())["ratio"]


track_group_get_over_lrucache_get.unit = "ratio"  # type: ignore[attr-defined]


def track_aget_over_get_local_hit() -> float:
    """Median of paired rounds: aget / get of a local hit (<= 3: what the event loop may add)."""
    from asv_bench.asyncio_bench import local_hit

    return local_hit(rounds=11, number=20_000)["ratio"]


track_aget_over_get_local_hit.unit = "ratio"  # type: ignore[attr-defined]
