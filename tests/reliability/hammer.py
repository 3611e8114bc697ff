"""Eight threads mixing every operation on one cache, group or in-process cluster.

This is the child side of tests/reliability/test_concurrency.py: the test runs
``python -c "from tests.reliability.hammer import main; main(CONFIG)"`` in a
subprocess (tests/isolated.py), and the same code on a free-threaded
interpreter when the machine has one. It imports nothing but the standard
library, distcache and tests.group.fakes, so that it runs on an interpreter
that has no pytest.

What every run checks while it runs:

- every value read names its key, its writer and that writer's serial, and
  carries exactly the filler its header announces (a torn, truncated or
  misrouted value fails);
- no value comes from a serial its writer has not reached yet;
- each thread also owns keys no other thread writes: reading one gives
  its last stored value or nothing, and nothing once its ttl has passed
  (measured from after the set returned, so a pass is certain);
- ``nbytes <= max_bytes`` whenever stats are read.

A watchdog (the main thread) fails the run when a worker stops making
progress for ``stall`` seconds, printing every thread's stack from
``sys._current_frames()``; faulthandler, re-armed at each tick from the main
thread, dumps the stacks and exits if the main thread itself cannot run (a
livelock that holds the GIL). The parent test kills a child that goes quiet.
The last stdout line is a JSON report.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

SOURCE = -1  # the writer number of values that the group's getter made


@dataclass
class Config:
    """One run: what to hammer, on which core, how long."""

    kind: str  # "cache", "group" or "cluster"
    module: str  # "distcache._core" or "distcache._pycore"
    shards: int | None = None
    admission: str | None = None
    max_bytes: int = 1 << 20
    seconds: float = 1.5
    threads: int = 8
    # 10 us instead of CPython's 5 ms: GIL hand-offs between most operations.
    switch_interval: float = 1e-5
    stall: float = 10.0  # seconds without progress of one worker = a hang
    seed: int = 0
    path: list[str] = field(default_factory=list)  # put first on sys.path (the built tree)


# ------------------------------------------------------------------ values


def make_value(key: bytes, writer: int, serial: int, fill: int) -> bytes:
    """A value that names its key, its writer and serial, and its filler length."""
    return b"%s|%d|%d|%d|" % (key, writer, serial, fill) + b"x" * fill


def parse_value(key: bytes, value: object) -> tuple[int, int, int]:
    """(writer, serial, filler length) of value, which must be a whole value of key."""
    assert type(value) is bytes, type(value)
    parts = value[:160].split(b"|", 4)
    assert len(parts) == 5, (key, value[:80])
    name, writer, serial, fill = parts[:4]
    assert name == key, (key, value[:80])
    n = int(fill)
    start = len(name) + len(writer) + len(serial) + len(fill) + 4
    assert len(value) == start + n, (key, len(value), start + n)
    assert value.count(b"x", start) == n, (key, "filler damaged")
    return int(writer), int(serial), n


class Serials:
    """Each writer's serial: the newest value it may have written."""

    def __init__(self, writers: int) -> None:
        # One slot per writer, written by its own thread only: no lock needed.
        self.last = [0] * writers

    def next(self, writer: int) -> int:
        self.last[writer] += 1
        return self.last[writer]

    def check(self, key: bytes, value: object, source_fill: Callable[[int], int] | None) -> int:
        """Checks value (read under key); its filler length."""
        writer, serial, fill = parse_value(key, value)
        if writer == SOURCE:
            assert source_fill is not None, (key, "a source value in a plain cache")
            assert fill == source_fill(serial), (key, "not the source's value")
            assert key == b"g:%d" % serial, (key, serial)
        else:
            assert 0 <= writer < len(self.last), (key, writer)
            assert 1 <= serial <= self.last[writer], (key, writer, serial, self.last[writer])
        return fill


# ------------------------------------------------------------------ workers


class Stop(Exception):
    """Raised in a worker when the run is over."""


@dataclass
class Worker:
    """One thread's state: its random stream, its progress, its own keys."""

    index: int
    rng: random.Random
    progress: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    # key -> (value stored or None, monotonic time after the set returned, ttl)
    own: dict[bytes, tuple[bytes | None, float, float | None]] = field(default_factory=dict)
    expired_checked: int = 0  # reads of own keys whose ttl had surely passed
    error: str | None = None

    def did(self, op: str) -> None:
        self.ops[op] = self.ops.get(op, 0) + 1
        self.progress += 1


SHARED = [b"k:%d" % i for i in range(64)]
LARGE = [b"L:%d" % i for i in range(16)]  # values of 32 KiB and more: the GIL-free path
LARGE_MIN, LARGE_MAX = 32 * 1024, 160 * 1024
TTLS = [None, None, None, None, 0.002, 0.02, 30.0]


def own_keys(index: int) -> list[bytes]:
    return [b"own:%d:%d" % (index, i) for i in range(8)]


class CacheHammer:
    """Every LRUCache operation, and a bloom filter and a sketch beside it."""

    def __init__(self, core: Any, cfg: Config) -> None:
        self.cache = core.LRUCache(cfg.max_bytes, shards=cfg.shards, admission=cfg.admission)
        self.bloom = core.BloomFilter(500, 0.01)
        self.sketch = core.CountMinSketch(64, 4, halve_every=5_000)
        self.serials = Serials(cfg.threads)
        self.bloom_added: list[list[bytes]] = [[] for _ in range(cfg.threads)]
        self.ops: list[Callable[[Worker], None]] = [
            self.get, self.get, self.get, self.getitem, self.set, self.set, self.setitem,
            self.get_many, self.get_many, self.set_many, self.delete, self.delitem,
            self.contains, self.large_set, self.large_get, self.own_set, self.own_get,
            self.own_get, self.own_delete, self.read_stats, self.clear,
            self.bloom_ops, self.sketch_ops,
        ]
        if self.cache.tracks_frequency:
            self.ops.append(self.frequency)

    def value(self, w: Worker, key: bytes, large: bool = False) -> bytes:
        fill = w.rng.randrange(LARGE_MIN, LARGE_MAX) if large else w.rng.randrange(0, 900)
        return make_value(key, w.index, self.serials.next(w.index), fill)

    def check(self, key: bytes, value: object) -> None:
        if value is not None:
            self.serials.check(key, value, None)

    def check_own(self, w: Worker, key: bytes, value: bytes | None, before: float) -> None:
        """A read of one of w's own keys, begun at monotonic time before."""
        stored, after, ttl = w.own.get(key, (None, 0.0, None))
        if ttl is not None and before >= after + ttl:
            w.expired_checked += 1
            assert value is None, (key, "returned after its ttl")
        if value is not None:
            assert value == stored, (key, value[:60], (stored or b"")[:60])

    def get(self, w: Worker) -> None:
        key = w.rng.choice(SHARED)
        self.check(key, self.cache.get(key) if w.rng.random() < 0.5 else self.cache.get(
            key.decode()))
        w.did("get")

    def getitem(self, w: Worker) -> None:
        key = w.rng.choice(SHARED)
        try:
            self.check(key, self.cache[key])
        except KeyError:
            pass
        assert self.cache.get(key, b"default") is not None
        w.did("getitem")

    def set(self, w: Worker) -> None:
        key = w.rng.choice(SHARED)
        assert self.cache.set(key, self.value(w, key), ttl=w.rng.choice(TTLS)) in (True, False)
        w.did("set")

    def setitem(self, w: Worker) -> None:
        key = w.rng.choice(SHARED)
        self.cache[key.decode()] = self.value(w, key)
        w.did("setitem")

    def get_many(self, w: Worker) -> None:
        pool = SHARED + LARGE + own_keys(w.index)
        keys = w.rng.sample(pool, w.rng.randrange(4, 33))
        before = time.monotonic()
        found = self.cache.get_many(keys)
        assert set(found) <= set(keys)
        for key, value in found.items():
            if key.startswith(b"own:"):
                self.check_own(w, key, value, before)
            else:
                self.check(key, value)
        w.did("get_many")

    def set_many(self, w: Worker) -> None:
        keys = w.rng.sample(SHARED + LARGE, w.rng.randrange(2, 17))
        batch = {k: self.value(w, k, large=k in LARGE) for k in keys}
        self.cache.set_many(batch, ttl=w.rng.choice(TTLS))
        w.did("set_many")

    def delete(self, w: Worker) -> None:
        assert self.cache.delete(w.rng.choice(SHARED + LARGE)) in (True, False)
        w.did("delete")

    def delitem(self, w: Worker) -> None:
        try:
            del self.cache[w.rng.choice(SHARED)]
        except KeyError:
            pass
        w.did("delitem")

    def contains(self, w: Worker) -> None:
        assert (w.rng.choice(SHARED + LARGE) in self.cache) in (True, False)
        w.did("contains")

    def large_set(self, w: Worker) -> None:
        key = w.rng.choice(LARGE)
        self.cache.set(key, self.value(w, key, large=True))
        w.did("large_set")

    def large_get(self, w: Worker) -> None:
        key = w.rng.choice(LARGE)
        value = self.cache.get(key)
        self.check(key, value)
        w.did("large_get" if value is None else "large_hit")

    def own_set(self, w: Worker) -> None:
        key = w.rng.choice(own_keys(w.index))
        value = self.value(w, key, large=w.rng.random() < 0.1)
        ttl = w.rng.choice([None, 0.002, 0.002, 0.02])
        stored = self.cache.set(key, value, ttl=ttl)
        w.own[key] = (value if stored else None, time.monotonic(), ttl)
        w.did("own_set")

    def own_get(self, w: Worker) -> None:
        key = w.rng.choice(own_keys(w.index))
        before = time.monotonic()
        self.check_own(w, key, self.cache.get(key), before)
        w.did("own_get")

    def own_delete(self, w: Worker) -> None:
        key = w.rng.choice(own_keys(w.index))
        self.cache.delete(key)
        w.own[key] = (None, time.monotonic(), None)
        w.did("own_delete")

    def read_stats(self, w: Worker) -> None:
        stats = self.cache.stats()
        assert stats["nbytes"] <= stats["max_bytes"], stats
        assert self.cache.nbytes <= self.cache.max_bytes
        assert len(self.cache) >= 0
        w.did("stats")

    def clear(self, w: Worker) -> None:
        if w.rng.random() < 0.02:  # about one op in 1,000
            self.cache.clear()
            w.did("clear")

    def frequency(self, w: Worker) -> None:
        assert 0 <= self.cache.frequency(w.rng.choice(SHARED)) <= 2**32 - 1
        assert self.cache.frequency_stats()["additions"] >= 0
        w.did("frequency")

    def bloom_ops(self, w: Worker) -> None:
        keys = w.rng.sample(SHARED, 3)
        if w.rng.random() < 0.5:
            self.bloom.add(keys[0])
            self.bloom_added[w.index].append(keys[0])
        else:
            self.bloom.add_many(keys)
            self.bloom_added[w.index].extend(keys)
        assert keys[0] in self.bloom  # a bit once set is never lost
        w.did("bloom")

    def sketch_ops(self, w: Worker) -> None:
        key = w.rng.choice(SHARED)
        assert 0 <= self.sketch.add(key, w.rng.randrange(1, 5)) <= 2**32 - 1
        assert 0 <= self.sketch.estimate(key) <= 2**32 - 1
        if w.rng.random() < 0.01:
            self.sketch.halve()
        w.did("sketch")

    def finish(self) -> dict[str, Any]:
        """Checks the quiescent structures; their figures for the report."""
        c = self.cache
        c._check_invariants()
        stats = c.stats()
        assert c.nbytes <= c.max_bytes and stats["items"] == len(c), stats
        for key in SHARED + LARGE:
            self.check(key, c.get(key))
        c._check_invariants()
        assert all(k in self.bloom for keys in self.bloom_added for k in keys), "a bit was lost"
        return {"stats": stats, "frequency": c.frequency_stats(),
                "bloom_bits_set": self.bloom.bits_set, "sketch_halvings": self.sketch.halvings}


# Source keys g:0 .. g:4999; one in ten is absent from the source; hot = the first 16.
SOURCE_KEYS = 5_000
HOT = 16


def source_fill(i: int) -> int:
    """The filler length of the source's value of g:<i> (one in 50 is >= 32 KiB)."""
    return 40_000 + i if i % 50 == 0 else i % 700


class Source:
    """The getter: the source of truth of every group key, counting its loads."""

    def __init__(self) -> None:
        # Guards loads (an int += is not atomic without the GIL).
        self._lock = threading.Lock()
        self.loads = 0

    def __call__(self, key: str) -> bytes:
        from distcache import NotFound

        with self._lock:
            self.loads += 1
        i = int(key.split(":", 1)[1])
        if i % 10 == 9:
            raise NotFound(key)
        return make_value(key.encode(), SOURCE, i, source_fill(i))


class GroupHammer:
    """get, get_many, set, delete, stats and top_hot_keys on hot and cold keys of
    one group ("group") or of the three nodes of an in-process cluster ("cluster")."""

    def __init__(self, core: Any, cfg: Config) -> None:
        from distcache.group import new_group

        self.source = Source()
        self.serials = Serials(cfg.threads)
        name = f"hammer-{cfg.kind}"
        if cfg.kind == "group":
            self.groups = [new_group(name, cfg.max_bytes, self.source, negative_ttl=0.05,
                                     admission=cfg.admission, _core=core)]
            self.cluster = None
        else:
            from tests.group.fakes import FakeCluster

            self.cluster = FakeCluster(
                lambda node: new_group(f"{name}-{node}", cfg.max_bytes, self.source,
                                       negative_ttl=0.05, admission=cfg.admission, _core=core,
                                       _promote_at=3))
            self.groups = list(self.cluster.groups.values())
        self.ops: list[Callable[[Worker], None]] = [
            self.get_hot, self.get_hot, self.get_hot, self.get_cold, self.get_many,
            self.set, self.set_large, self.delete, self.read_stats,
        ]

    def key(self, w: Worker, hot: bool) -> str:
        return f"g:{w.rng.randrange(HOT) if hot else w.rng.randrange(SOURCE_KEYS)}"

    def check(self, key: str, value: object) -> None:
        self.serials.check(key.encode(), value, source_fill)

    def get(self, w: Worker, key: str, op: str) -> None:
        from distcache import NotFound

        group = w.rng.choice(self.groups)
        try:
            self.check(key, group.get(key))
        except NotFound:
            # Only a key the source lacks, or one deleted since a thread set it.
            assert int(key.split(":")[1]) % 10 == 9, (key, "NotFound for a key the source has")
        w.did(op)

    def get_hot(self, w: Worker) -> None:
        self.get(w, self.key(w, True), "get_hot")

    def get_cold(self, w: Worker) -> None:
        self.get(w, self.key(w, False), "get_cold")

    def get_many(self, w: Worker) -> None:
        keys = [self.key(w, w.rng.random() < 0.5) for _ in range(w.rng.randrange(2, 17))]
        found = w.rng.choice(self.groups).get_many(keys)
        assert set(found) <= set(keys)
        for key in keys:
            if key in found:
                self.check(key, found[key])
            else:
                assert int(key.split(":")[1]) % 10 == 9, (key, "left out of get_many")
        w.did("get_many")

    def set(self, w: Worker, large: bool = False) -> None:
        key = self.key(w, w.rng.random() < 0.3)
        fill = w.rng.randrange(LARGE_MIN, LARGE_MAX) if large else w.rng.randrange(0, 600)
        value = make_value(key.encode(), w.index, self.serials.next(w.index), fill)
        w.rng.choice(self.groups).set(key, value, ttl=w.rng.choice(TTLS))
        w.did("set_large" if large else "set")

    def set_large(self, w: Worker) -> None:
        if w.rng.random() < 0.3:
            self.set(w, large=True)

    def delete(self, w: Worker) -> None:
        w.rng.choice(self.groups).delete(self.key(w, w.rng.random() < 0.3))
        w.did("delete")

    def read_stats(self, w: Worker) -> None:
        group = w.rng.choice(self.groups)
        stats = group.stats()
        assert stats["nbytes"] <= stats["max_bytes"], stats
        for key, count in group.top_hot_keys(5):
            assert key.startswith("g:") and count >= 0
        w.did("stats")

    def finish(self) -> dict[str, Any]:
        """Checks every node's caches once quiet; the summed counters for the report."""
        totals: dict[str, int] = {}
        for group in self.groups:
            group._main._check_invariants()
            if group._hot is not None:
                group._hot._check_invariants()
            stats = group.stats()
            assert stats["nbytes"] <= stats["max_bytes"], stats
            for k, v in stats.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    totals[k] = totals.get(k, 0) + v
            for i in range(HOT):
                try:
                    self.check(f"g:{i}", group.get(f"g:{i}"))
                except Exception as exc:  # NotFound for the absent key only
                    assert i % 10 == 9, (i, exc)
        if self.cluster is not None:
            self.cluster.close()
        totals["source_loads"] = self.source.loads
        return {"stats": totals}


# ------------------------------------------------------------------ the run


def _stacks() -> str:
    """Every thread's Python stack, named."""
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        out.append(f"--- thread {names.get(ident, '?')} ({ident})\n")
        out.extend(traceback.format_stack(frame))
    return "".join(out)


def run(cfg: Config) -> dict[str, Any]:
    """Runs cfg's workers under the watchdog; the report (exits 3 on a stall)."""
    core = importlib.import_module(cfg.module)
    hammer: Any = CacheHammer(core, cfg) if cfg.kind == "cache" else GroupHammer(core, cfg)
    workers = [Worker(i, random.Random(cfg.seed * 1000 + i)) for i in range(cfg.threads)]
    deadline = time.monotonic() + cfg.seconds
    ops = hammer.ops

    def work(w: Worker) -> None:
        try:
            while time.monotonic() < deadline:
                w.rng.choice(ops)(w)
        except BaseException:  # reported by the main thread
            w.error = traceback.format_exc()

    threads = [threading.Thread(target=work, args=(w,), name=f"worker-{w.index}", daemon=True)
               for w in workers]
    old = sys.getswitchinterval()
    sys.setswitchinterval(cfg.switch_interval)
    for t in threads:
        t.start()
    seen = [-1] * cfg.threads
    since = [time.monotonic()] * cfg.threads
    while any(t.is_alive() for t in threads):
        # Fires only when this loop stops coming back here: the GIL is held by
        # a spinning thread, or the process is wedged below Python.
        faulthandler.dump_traceback_later(cfg.stall + 5, exit=True)
        time.sleep(0.1)
        now = time.monotonic()
        for i, w in enumerate(workers):
            if w.progress != seen[i]:
                seen[i], since[i] = w.progress, now
            elif threads[i].is_alive() and now - since[i] > cfg.stall:
                sys.stderr.write(f"worker-{i} made no progress for {cfg.stall} s\n{_stacks()}")
                sys.stderr.flush()
                print(json.dumps({"stalled": i, "progress": [x.progress for x in workers]}),
                      flush=True)
                os._exit(3)
        print(json.dumps({"progress": sum(w.progress for w in workers)}), flush=True)
    faulthandler.cancel_dump_traceback_later()
    sys.setswitchinterval(old)
    for t in threads:
        t.join()
    errors = [w.error for w in workers if w.error is not None]
    by_op: dict[str, int] = {}
    for w in workers:
        for op, n in w.ops.items():
            by_op[op] = by_op.get(op, 0) + n
    report: dict[str, Any] = {
        "config": asdict(cfg),
        "errors": errors,
        "ops": [w.progress for w in workers],
        "by_op": by_op,
        "expired_checked": sum(w.expired_checked for w in workers),
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "core_file": getattr(core, "__file__", None),
    }
    if not errors:
        report.update(hammer.finish())
    return report


def main(config: str) -> None:
    """Runs the JSON-encoded Config and prints its report as the last line."""
    cfg = Config(**json.loads(config))
    for entry in reversed(cfg.path):
        sys.path.insert(0, entry)
    print(json.dumps(run(cfg)), flush=True)
