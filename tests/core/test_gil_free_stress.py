"""The paths that release the GIL, from several threads, under a progress watchdog.

Every concurrent test before this file (commit 958f7d4) ran its threads on
the GIL, so no two stores ever raced for the budget and a livelock in the
reservation went unseen: two threads calling set_many (which stores without
the GIL) on `LRUCache(1000, shards=2)` each held what the other needed and
spun, and the next get spun with the GIL held, freezing the process. Here
each workload runs in a child process (tests/isolated.py) that prints a
heartbeat while its threads make progress; a child that goes quiet is killed
by its pid and the test fails. Caches are tiny and entries near the budget,
so that stores constantly need victims from shards that other threads hold.
"""

from __future__ import annotations

import json

import pytest

from distcache._contract import default_shards
from tests.isolated import run_python

CHILD = r'''
import json, random, sys, threading, time
import distcache.{module} as core

cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {cfg!r}
cache = core.LRUCache(cfg["max_bytes"], shards=cfg["shards"], admission=cfg["admission"])
SECONDS = cfg["seconds"]
sizes = cfg["sizes"]
nthreads = cfg["threads"]
ops = cfg["ops"]

def keys_of_shard(shard, n):
    out, i = [], 0
    while len(out) < n:
        k = "k%d" % i
        if core.fnv32a(k) & (cfg["shards"] - 1) == shard:
            out.append(k)
        i += 1
    return out

if cfg["own_shard"]:
    keyspace = [keys_of_shard(t % cfg["shards"], 40) for t in range(nthreads)]
else:
    keyspace = [["k%d" % i for i in range(200)]] * nthreads

def value(key, n):
    head = key.encode() + b"|"
    return head + b"x" * max(0, n - len(head))

def check(key, v):
    if v is None:
        return
    k = key.encode() if isinstance(key, str) else bytes(key)
    head, sep, tail = v.partition(b"|")
    assert head == k and sep and tail.count(b"x") == len(tail), (key, v[:30])

done = [0] * nthreads
errors = []
deadline = time.monotonic() + SECONDS

def work(t):
    rng = random.Random(t)
    keys = keyspace[t]
    i = 0
    try:
        while time.monotonic() < deadline:
            op = ops[rng.randrange(len(ops))]
            if op == "set_many":
                batch = {{}}
                for j in range(rng.randrange(1, 6)):
                    k = keys[(i + j) % len(keys)]
                    batch[k] = value(k, sizes[(i + j) % len(sizes)])
                cache.set_many(batch)
            elif op == "set":
                k = rng.choice(keys)
                cache.set(k, value(k, rng.choice(sizes)))
            elif op == "get":
                k = rng.choice(keys)
                check(k, cache.get(k))
            elif op == "get_many":
                for k, v in cache.get_many(rng.sample(keys, 4)).items():
                    check(k, v)
            elif op == "delete":
                cache.delete(rng.choice(keys))
            elif op == "clear":
                if rng.random() < 0.02:
                    cache.clear()
            i += 1
            done[t] += 1
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(nthreads)]
for th in threads:
    th.start()
# The heartbeat: this thread needs the GIL and a shard lock (get), so a
# livelock anywhere, with or without the GIL held, silences it.
probe = keyspace[0][0]
while any(th.is_alive() for th in threads):
    cache.get(probe)
    print(json.dumps({{"progress": sum(done)}}), flush=True)
    time.sleep(0.1)
for th in threads:
    th.join()
cache._check_invariants()
assert cache.nbytes <= cache.max_bytes
assert cache.stats()["items"] == len(cache)
print(json.dumps({{"ops": done, "errors": errors, "stats": cache.stats()}}), flush=True)
'''

# name -> (max_bytes, shards, threads, entry sizes, ops, keys of each thread's own shard)
WORKLOADS = {
    # The case that livelocked the reservation before commit 662ede6: each
    # thread's keys in its own shard, entries of about 300 and 800 bytes, a
    # 1000-byte budget.
    "livelocked-set_many-2-shards": (1000, 2, 2, [236, 736], ["set_many"], True),
    "set_many-1-shard": (1000, 1, 3, [236, 736], ["set_many", "get"], False),
    "set_many-4-shards": (2000, 4, 4, [300, 900, 1500], ["set_many"], True),
    # Values of 32 KiB and more are built and copied without the GIL.
    "large-values-1-shard": (200_000, 1, 3, [40_000, 90_000, 150_000],
                             ["set", "get", "get_many", "set_many", "delete"], False),
    "large-values-2-shards": (200_000, 2, 4, [40_000, 90_000, 150_000],
                              ["set", "get", "get_many", "set_many", "clear"], True),
    "large-values-4-shards": (300_000, 4, 4, [33_000, 120_000, 250_000],
                              ["set", "get", "get_many", "set_many", "delete", "clear"], True),
    # The default shard counts, which that reservation also hung.
    "default-shards-40000": (40_000, None, 4, [3_000, 12_000, 20_000], ["set_many"], True),
    "default-shards-1e6": (10**6, None, 8, [5_000, 40_000, 200_000],
                           ["set_many", "set", "get", "get_many"], True),
}


def child_code(module: str, name: str, admission: str | None) -> str:
    max_bytes, shards, threads, sizes, ops, own = WORKLOADS[name]
    if shards is None:
        shards = default_shards(max_bytes)
    cfg = {"max_bytes": max_bytes, "shards": shards, "threads": threads, "sizes": sizes,
           "ops": ops, "own_shard": own, "seconds": 1.0, "admission": admission}
    return CHILD.format(module=module, cfg=cfg)


# The twin runs under one lock per cache: a few workloads show it agrees.
CASES = [("_core", name, admission) for name in WORKLOADS for admission in (None, "tinylfu")] + [
    ("_pycore", name, None)
    for name in ("livelocked-set_many-2-shards", "large-values-2-shards", "default-shards-40000")
]


@pytest.mark.parametrize(("module", "name", "admission"), CASES)
def test_gil_free_paths_make_progress(module: str, name: str, admission: str | None) -> None:
    outcome = run_python(child_code(module, name, admission), quiet=10.0, limit=60.0)
    assert outcome.returncode == 0 and not outcome.stalled, outcome.describe()
    report = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"]
    assert all(n > 0 for n in report["ops"]), report["ops"]  # every thread got through
    assert report["stats"]["nbytes"] <= report["stats"]["max_bytes"]
