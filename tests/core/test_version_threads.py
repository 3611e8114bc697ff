"""Many threads race set_if_newer on a few keys: each key ends with the largest version.

set_if_newer compares and stores under one hold of the key's shard lock
(docs/internals.md, "set_if_newer"); the C core builds an entry of 32 KiB
or more without the GIL first, so writers of large values race for real.
Each run is a child process (tests/isolated.py) that prints a heartbeat
while its threads make progress; one that goes quiet is killed by its pid
and the test fails. Readers check every (value, version) they see: the
value is the one written with that version, and with room for every entry
(no eviction) the version a reader sees of a key never goes down.
"""

from __future__ import annotations

import json

import pytest

from tests.isolated import run_python

CHILD = r'''
import itertools, json, random, sys, threading, time
import distcache.{module} as core

cfg = {cfg!r}
sys.setswitchinterval(1e-5)  # threads interleave every 10 us, not every 5 ms
cache = core.LRUCache(cfg["max_bytes"], shards=cfg["shards"], admission=cfg["admission"])
KEYS = ["k%d" % i for i in range(cfg["keys"])]
SIZES = cfg["sizes"]
deadline = time.monotonic() + cfg["seconds"]

def value(key, version):
    # The value is a function of (key, version), so a reader can check a pair.
    head = ("%s|%d|" % (key, version)).encode()
    return head + b"x" * max(0, SIZES[version % len(SIZES)] - len(head))

def check(key, got):
    v, version = got
    assert v == value(key, version), (key, version, v[:40])

offered = [dict() for _ in range(cfg["writers"])]  # per writer: key -> largest version offered
done = [0] * (cfg["writers"] + cfg["readers"])
errors = []

# Versions as clocks make them: rising, each writer's a little off the
# others', so that most writes are newer than what is held, and many race
# one another and arrive out of order.
clock = itertools.count(cfg["base"])

def writer(t):
    rng = random.Random(t)
    mine = offered[t]
    try:
        while time.monotonic() < deadline:
            key = rng.choice(KEYS)
            version = next(clock) + rng.randrange(0, 64)
            stored = cache.set_if_newer(key, value(key, version), version)
            if stored is not True and stored is not False:
                raise AssertionError(stored)
            mine[key] = max(mine.get(key, 0), version)
            done[t] += 1
    except BaseException as exc:
        errors.append("writer %d: %r" % (t, exc))

def reader(r):
    rng = random.Random(1000 + r)
    seen = {{}}
    try:
        while time.monotonic() < deadline:
            key = rng.choice(KEYS)
            got = cache.get_versioned(key) if rng.random() < 0.5 else None
            if got is not None:
                check(key, got)
                version = got[1]
            else:
                version = cache.version_of(key)
            if version is not None and cfg["monotonic"]:
                assert version >= seen.get(key, 0), (key, version, seen.get(key))
                seen[key] = version
            done[cfg["writers"] + r] += 1
    except BaseException as exc:
        errors.append("reader %d: %r" % (r, exc))

threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(cfg["writers"])]
threads += [threading.Thread(target=reader, args=(r,), daemon=True) for r in range(cfg["readers"])]
for th in threads:
    th.start()
# The heartbeat needs the GIL and a shard lock: a thread stuck anywhere silences it.
while any(th.is_alive() for th in threads):
    cache.version_of(KEYS[0])
    print(json.dumps({{"progress": sum(done)}}), flush=True)
    time.sleep(0.1)
for th in threads:
    th.join()
cache._check_invariants()
final = {{}}
for key in KEYS:
    top = max((mine.get(key, 0) for mine in offered), default=0)
    got = cache.get_versioned(key)
    if got is not None:
        check(key, got)
    final[key] = [top, None if got is None else got[1]]
print(json.dumps({{"ops": done, "errors": errors, "final": final, "stats": cache.stats()}}),
      flush=True)
'''

# name -> (max_bytes, shards, keys, writers, readers, value sizes, first version,
#          room for every entry)
WORKLOADS = {
    # Room for every key's largest value: nothing is evicted, so every key
    # must end with the largest version offered, and no reader may see a
    # key's version go down.
    "roomy-1-shard": (2_000_000, 1, 3, 6, 2, [10, 40_000, 200_000], 1, True),
    # Versions that cross 2**63: compared as unsigned 64-bit integers.
    "roomy-4-shards-top-bit": (2_000_000, 4, 8, 6, 2, [100, 33_000, 150_000], 2**63 - 20_000,
                               True),
    # Too little room: writes evict one another (and may have to start
    # again, docs/internals.md "Threads"); pairs must still match.
    "tight-2-shards": (250_000, 2, 6, 6, 2, [100, 40_000, 120_000], 1, False),
}


def child_code(module: str, name: str, admission: str | None) -> str:
    max_bytes, shards, keys, writers, readers, sizes, base, roomy = WORKLOADS[name]
    cfg = {"max_bytes": max_bytes, "shards": shards, "keys": keys, "writers": writers,
           "readers": readers, "sizes": sizes, "base": base, "monotonic": roomy,
           "seconds": 1.5, "admission": admission}
    return CHILD.format(module=module, cfg=cfg)


CASES = [("_core", name, admission) for name in WORKLOADS for admission in (None, "tinylfu")] + [
    ("_pycore", name, None) for name in WORKLOADS
]


@pytest.mark.parametrize(("module", "name", "admission"), CASES)
def test_each_key_ends_with_the_largest_version_written(
    module: str, name: str, admission: str | None
) -> None:
    outcome = run_python(child_code(module, name, admission), quiet=10.0, limit=60.0)
    assert outcome.returncode == 0 and not outcome.stalled, outcome.describe()
    report = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"]
    assert all(n > 0 for n in report["ops"]), report["ops"]  # every thread got through
    # Writes won, not only refusals (as a share: sanitized builds run a few hundred).
    writes = sum(report["ops"][: WORKLOADS[name][3]])
    assert report["stats"]["sets"] * 10 >= writes > 0, (report["stats"], writes)
    if WORKLOADS[name][-1]:
        for key, (top, held) in report["final"].items():
            assert held == top, (key, top, held)
        assert report["stats"]["evictions"] == 0, report["stats"]
