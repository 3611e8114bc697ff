"""LRUCache.keys(): the live keys, as bytes, without touching anything; on both cores.

The handoff of a group (distcache/group/handoff.py) walks them to send a
replica that came back the keys it should hold.
"""

from __future__ import annotations

import json
import time
from types import ModuleType

import pytest

from tests.isolated import run_python


def test_keys_lists_the_live_keys_as_bytes(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20)
    c.set("a", b"1")
    c.set(b"b", b"2")
    c.set("\u00e9t\u00e9", b"3")
    c.set("short", b"4", ttl=0.01)
    time.sleep(0.05)
    assert sorted(c.keys()) == sorted([b"a", b"b", "\u00e9t\u00e9".encode()])
    assert len(c.keys(2)) == 2 and set(c.keys(2)) <= set(c.keys())
    assert c.keys(0) == []


@pytest.mark.parametrize("limit", [-1, 1.5, "3", True])
def test_keys_refuses_a_bad_limit(core: ModuleType, limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        core.LRUCache(1 << 20).keys(limit)


def test_keys_is_no_access(core: ModuleType) -> None:
    # Nothing counted, nothing moved: the least recent key is still the one
    # evicted first after a walk.
    c = core.LRUCache(3 * (core.ENTRY_OVERHEAD + 2 + 100), shards=1)
    for k in ("k1", "k2", "k3"):
        c.set(k, b"x" * 100)
    before = c.stats()
    for _ in range(3):
        assert sorted(c.keys()) == [b"k1", b"k2", b"k3"]
    assert c.stats() == before
    c.set("k4", b"x" * 100)
    assert "k1" not in c and "k2" in c


def test_keys_covers_both_segments_of_admission_mode(core: ModuleType) -> None:
    c = core.LRUCache(1 << 20, admission="tinylfu")
    for i in range(200):
        c.set(f"k{i}", b"v")
    for i in range(0, 200, 2):  # hits move these to the protected segment
        c.get(f"k{i}")
    assert sorted(c.keys()) == sorted(f"k{i}".encode() for i in range(200))


CHILD = r'''
import json, random, sys, threading, time
import distcache.{module} as core

sys.setswitchinterval(1e-5)
cache = core.LRUCache(200_000, shards=4, admission={admission!r})
deadline = time.monotonic() + 1.5
done = [0, 0, 0]
errors = []

def writer(t):
    rng = random.Random(t)
    try:
        while time.monotonic() < deadline:
            k = "k%d" % rng.randrange(500)
            if rng.random() < 0.3:
                cache.delete(k)
            else:
                cache.set(k, b"x" * rng.randrange(10, 2000), ttl=rng.choice([None, 0.001]))
            done[t] += 1
    except BaseException as exc:
        errors.append(repr(exc))

def walker():
    try:
        while time.monotonic() < deadline:
            for k in cache.keys():
                assert k.startswith(b"k") and int(k[1:]) < 500, k
            done[2] += 1
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(2)]
threads.append(threading.Thread(target=walker, daemon=True))
for th in threads:
    th.start()
while any(th.is_alive() for th in threads):
    cache.keys(1)  # the heartbeat needs the GIL and every shard lock in turn
    print(json.dumps({{"progress": sum(done)}}), flush=True)
    time.sleep(0.1)
cache._check_invariants()
print(json.dumps({{"done": done, "errors": errors}}), flush=True)
'''


@pytest.mark.parametrize(("module", "admission"),
                         [("_core", None), ("_core", "tinylfu"), ("_pycore", None)])
def test_keys_while_threads_set_and_delete(module: str, admission: str | None) -> None:
    outcome = run_python(CHILD.format(module=module, admission=admission), quiet=10.0,
                         limit=60.0)
    last = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert last["errors"] == [] and min(last["done"]) > 0, last
