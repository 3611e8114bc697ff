"""One table of bad inputs for every public entry point, each row with the error it gets.

The entry points: the core (LRUCache, BloomFilter, CountMinSketch, the hashes)
on the C module and on its twin; the group API (new_group and a Group's
methods) on both cores; the gRPC CacheService of one real `distcache serve`
node; the HTTP pages of the metrics server; the `distcache` command line.
Each row names the input, the error it must get and its message (or status
code). After each bad input nothing has changed: a cache's contents and
counters, a group's stored data and counters, a node's counters and a key set
on it before the rows. No row may crash or hang: every network call has a
deadline, every socket a timeout, every in-process command a watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import math
import mmap
import re
import socket
import subprocess
import sys
import threading
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from distcache.cli import main
from distcache.cluster import AsyncClient, Client
from distcache.cluster import distcache_pb2 as pb
from distcache.group import NotFound, all_groups, new_group
from distcache.group.registry import _reset_groups
from distcache.monitoring.server import MetricsServer, start_metrics_server

from .cluster.nodes import ROOT, Node, free_port, make_source


@pytest.fixture(autouse=True)
def _forget_groups() -> Iterator[None]:
    """Every group a row made is forgotten after it (the registry is process-wide)."""
    _reset_groups()
    yield
    _reset_groups()


# --- the core ------------------------------------------------------------------
#
# Each row names a call, the exception it must raise and the message it must
# carry, word for word the same on the C core and on the twin. Calls on a
# cache are made on one that holds two entries; afterwards its contents and
# every counter must be as before: a bad input changes nothing.

NONCONTIG = memoryview(b"abcdef")[::2]
LIMIT = "9223372036854775808"  # 2**63
VERSION_OVER = "18446744073709551616"  # 2**64
TABLE_LIMIT = "17592186044416"  # 2**44

# (id, call on (core, cache), exception, message as a regular expression)
Row = tuple[str, Callable[[ModuleType, Any], Any], type[BaseException], str]

CACHE_ROWS: list[Row] = [
    # keys
    ("set-key-int", lambda m, c: c.set(5, b"v"), TypeError, r"^key must be str or bytes-like, not int$"),
    ("set-key-none", lambda m, c: c.set(None, b"v"), TypeError, r"^key must be str or bytes-like, not NoneType$"),
    ("set-key-too-long", lambda m, c: c.set("k" * 65536, b"v"), ValueError, r"^key is 65536 bytes; the limit is 65535$"),
    ("set-key-noncontiguous", lambda m, c: c.set(NONCONTIG, b"v"), TypeError,
     r"^key must be str or bytes-like \(C-contiguous\), not a non-contiguous memoryview$"),
    ("set-key-surrogate", lambda m, c: c.set("\ud800", b"v"), UnicodeEncodeError, r"surrogates not allowed"),
    ("get-key-int", lambda m, c: c.get(5), TypeError, r"^key must be str or bytes-like, not int$"),
    ("get-key-noncontiguous", lambda m, c: c.get(NONCONTIG), TypeError, r"non-contiguous memoryview$"),
    ("get-key-too-long", lambda m, c: c.get(b"k" * 65536), ValueError, r"^key is 65536 bytes"),
    ("getitem-key-float", lambda m, c: c[1.5], TypeError, r"^key must be str or bytes-like, not float$"),
    ("setitem-key-list", lambda m, c: c.__setitem__([], b"v"), TypeError, r"not list$"),
    ("delitem-key-int", lambda m, c: c.__delitem__(5), TypeError, r"not int$"),
    ("contains-key-int", lambda m, c: 5 in c, TypeError, r"not int$"),
    ("delete-key-int", lambda m, c: c.delete(5), TypeError, r"not int$"),
    ("delete-key-noncontiguous", lambda m, c: c.delete(NONCONTIG), TypeError, r"non-contiguous"),
    ("frequency-untracked", lambda m, c: c.frequency("a"), ValueError, r"^this cache tracks no frequencies"),
    # values
    ("set-value-str", lambda m, c: c.set("a", "text"), TypeError, r"^value must be bytes-like, not str$"),
    ("set-value-int", lambda m, c: c.set("a", 5), TypeError, r"^value must be bytes-like, not int$"),
    ("set-value-none", lambda m, c: c.set("a", None), TypeError, r"^value must be bytes-like, not NoneType$"),
    ("set-value-noncontiguous", lambda m, c: c.set("a", NONCONTIG), TypeError,
     r"^value must be bytes-like \(C-contiguous\), not a non-contiguous memoryview$"),
    ("setitem-value-str", lambda m, c: c.__setitem__("a", "x"), TypeError, r"not str$"),
    # ttl
    ("ttl-str", lambda m, c: c.set("a", b"v", ttl="1"), TypeError, r"^ttl must be a number, not str$"),
    ("ttl-bool", lambda m, c: c.set("a", b"v", ttl=True), TypeError, r"^ttl must be a number, not bool$"),
    ("ttl-list", lambda m, c: c.set("a", b"v", ttl=[]), TypeError, r"^ttl must be a number, not list$"),
    ("ttl-zero", lambda m, c: c.set("a", b"v", ttl=0), ValueError,
     r"^ttl must be a positive number of seconds or None, not 0$"),
    ("ttl-negative", lambda m, c: c.set("a", b"v", ttl=-1.5), ValueError, r"not -1.5$"),
    ("ttl-nan", lambda m, c: c.set("a", b"v", ttl=math.nan), ValueError, r"not nan$"),
    # versions: an int in [0, 2**64 - 1] for set, [1, 2**64 - 1] for set_if_newer
    ("set-version-negative", lambda m, c: c.set("a", b"new", version=-1), ValueError,
     r"^version must be an int in \[0, 2\*\*64 - 1\], not -1$"),
    ("set-version-2**64", lambda m, c: c.set("a", b"new", version=2**64), ValueError,
     rf"^version must be an int in \[0, 2\*\*64 - 1\], not {VERSION_OVER}$"),
    ("set-version-bool", lambda m, c: c.set("a", b"new", version=True), TypeError,
     r"^version must be an int, not bool$"),
    ("set-version-float", lambda m, c: c.set("a", b"new", version=1.0), TypeError,
     r"^version must be an int, not float$"),
    ("set-version-none", lambda m, c: c.set("a", b"new", version=None), TypeError,
     r"^version must be an int, not NoneType$"),
    ("set_if_newer-version-zero", lambda m, c: c.set_if_newer("a", b"new", 0), ValueError,
     r"^version must be an int in \[1, 2\*\*64 - 1\], not 0$"),
    ("set_if_newer-version-negative", lambda m, c: c.set_if_newer("a", b"new", -5), ValueError,
     r"not -5$"),
    ("set_if_newer-version-2**64", lambda m, c: c.set_if_newer("a", b"new", 2**64), ValueError,
     rf"not {VERSION_OVER}$"),
    ("set_if_newer-version-bool", lambda m, c: c.set_if_newer("a", b"new", True), TypeError,
     r"^version must be an int, not bool$"),
    ("set_if_newer-version-str", lambda m, c: c.set_if_newer("a", b"new", "7"), TypeError,
     r"^version must be an int, not str$"),
    ("set_if_newer-version-none", lambda m, c: c.set_if_newer("a", b"new", None), TypeError,
     r"^version must be an int, not NoneType$"),
    ("set_if_newer-key-int", lambda m, c: c.set_if_newer(5, b"new", 1), TypeError,
     r"^key must be str or bytes-like, not int$"),
    ("set_if_newer-value-str", lambda m, c: c.set_if_newer("a", "text", 1), TypeError,
     r"^value must be bytes-like, not str$"),
    ("set_if_newer-ttl-zero", lambda m, c: c.set_if_newer("a", b"new", 1, ttl=0), ValueError,
     r"^ttl must be a positive number of seconds or None, not 0$"),
    ("set_if_newer-ttl-before-version", lambda m, c: c.set_if_newer("a", b"new", 0, ttl="1"),
     ValueError, r"^version must be an int in \[1"),
    ("version_of-key-int", lambda m, c: c.version_of(5), TypeError, r"^key must be str or bytes-like, not int$"),
    ("version_of-key-too-long", lambda m, c: c.version_of(b"k" * 65536), ValueError, r"^key is 65536 bytes"),
    ("ttl_of-key-int", lambda m, c: c.ttl_of(5), TypeError, r"^key must be str or bytes-like, not int$"),
    ("ttl_of-key-too-long", lambda m, c: c.ttl_of(b"k" * 65536), ValueError, r"^key is 65536 bytes"),
    ("get_versioned-key-none", lambda m, c: c.get_versioned(None), TypeError, r"not NoneType$"),
    ("get_versioned-key-noncontiguous", lambda m, c: c.get_versioned(NONCONTIG), TypeError,
     r"non-contiguous memoryview$"),
    # batches: every item is checked before any is stored or looked up
    ("get_many-bytearray", lambda m, c: c.get_many([b"a", bytearray(b"a")]), TypeError,
     r"^get_many keys must be hashable, not bytearray"),
    ("get_many-writable-view", lambda m, c: c.get_many(["a", memoryview(bytearray(b"b"))]),
     TypeError, r"^get_many keys must be hashable, not memoryview"),
    ("get_many-key-int", lambda m, c: c.get_many(["a", 5]), TypeError, r"not int$"),
    ("get_many-not-iterable", lambda m, c: c.get_many(5), TypeError, r"not iterable"),
    ("set_many-int", lambda m, c: c.set_many(5), TypeError, r"^set_many takes a mapping, not int$"),
    ("set_many-none", lambda m, c: c.set_many(None), TypeError, r"^set_many takes a mapping, not NoneType$"),
    ("set_many-str", lambda m, c: c.set_many("ab"), TypeError, r"^set_many takes a mapping, not str$"),
    ("set_many-bad-value", lambda m, c: c.set_many({"a": b"new", "k": "str"}), TypeError,
     r"^value must be bytes-like, not str$"),
    ("set_many-bad-key", lambda m, c: c.set_many({"a": b"new", 5: b"v"}), TypeError, r"not int$"),
    ("set_many-bad-ttl", lambda m, c: c.set_many({"a": b"new"}, ttl=-1), ValueError, r"not -1$"),
    # what a cache does not offer
    ("iter", lambda m, c: iter(c), TypeError, r"^LRUCache is not iterable: keys are not enumerated"),
    ("list", lambda m, c: list(c), TypeError, r"^LRUCache is not iterable"),
    ("init-again", lambda m, c: c.__init__(5), RuntimeError, r"^this LRUCache is already initialised"),
]

CONSTRUCTOR_ROWS: list[Row] = [
    ("max_bytes-bool", lambda m, c: m.LRUCache(True), ValueError,
     rf"^max_bytes must be an int in \[1, {LIMIT}\], not True$"),
    ("max_bytes-zero", lambda m, c: m.LRUCache(0), ValueError, r"not 0$"),
    ("max_bytes-str", lambda m, c: m.LRUCache("10"), ValueError, r"not '10'$"),
    ("max_bytes-float", lambda m, c: m.LRUCache(1.5), ValueError, r"not 1.5$"),
    ("max_bytes-over-2**63", lambda m, c: m.LRUCache(2**63 + 1), ValueError, r"not 9223372036854775809$"),
    ("shards-3", lambda m, c: m.LRUCache(1000, shards=3), ValueError,
     r"^shards must be a power of two in \[1, 65536\], not 3$"),
    ("shards-bool", lambda m, c: m.LRUCache(1000, shards=True), ValueError, r"^shards must be an int"),
    ("shards-131072", lambda m, c: m.LRUCache(1000, shards=131072), ValueError, r"not 131072$"),
    ("default_ttl-bool", lambda m, c: m.LRUCache(1000, default_ttl=True), TypeError,
     r"^default_ttl must be a number, not bool$"),
    ("default_ttl-zero", lambda m, c: m.LRUCache(1000, default_ttl=0), ValueError, r"not 0$"),
    ("admission-lru", lambda m, c: m.LRUCache(1000, admission="lru"), ValueError,
     r"^admission must be one of \(None, 'tinylfu'\), not 'lru'$"),
    ("admission-bool", lambda m, c: m.LRUCache(1000, admission=True), ValueError, r"not True$"),
    # bloom filter
    ("bloom-capacity-bool", lambda m, c: m.BloomFilter(True), ValueError, r"^capacity must be an int >= 1, not True$"),
    ("bloom-capacity-zero", lambda m, c: m.BloomFilter(0), ValueError, r"not 0$"),
    ("bloom-error_rate-str", lambda m, c: m.BloomFilter(10, "0.1"), ValueError,
     r"^error_rate must be a number in \(0, 1\), not '0.1'$"),
    ("bloom-error_rate-none", lambda m, c: m.BloomFilter(10, None), ValueError, r"not None$"),
    ("bloom-error_rate-one", lambda m, c: m.BloomFilter(10, 1), ValueError, r"not 1$"),
    ("bloom-error_rate-bool", lambda m, c: m.BloomFilter(10, True), ValueError, r"not True$"),
    ("bloom-too-large", lambda m, c: m.BloomFilter(2**70), ValueError, rf"more than the limit of {TABLE_LIMIT}$"),
    # sketch: these sizes wrapped width * depth * 4 and the first add wrote out of bounds
    ("sketch-2**62", lambda m, c: m.CountMinSketch(2**62), ValueError, rf"more than the limit of {TABLE_LIMIT}$"),
    ("sketch-2**61-depth-8", lambda m, c: m.CountMinSketch(2**61, depth=8), ValueError, r"limit"),
    ("sketch-2**60-depth-16", lambda m, c: m.CountMinSketch(2**60, 16), ValueError, r"limit"),
    ("sketch-2**63-depth-2", lambda m, c: m.CountMinSketch(2**63, 2), ValueError, r"limit"),
    ("sketch-2**62-depth-12", lambda m, c: m.CountMinSketch(2**62, 12), ValueError, r"limit"),
    ("sketch-width-bool", lambda m, c: m.CountMinSketch(True), ValueError, r"^width must be an int >= 1, not True$"),
    ("sketch-depth-17", lambda m, c: m.CountMinSketch(16, depth=17), ValueError,
     r"^depth must be an int in \[1, 16\], not 17$"),
    ("sketch-halve_every-negative", lambda m, c: m.CountMinSketch(16, halve_every=-1), ValueError, r"not -1$"),
    ("sketch-halve_every-2**64", lambda m, c: m.CountMinSketch(16, halve_every=2**64), ValueError,
     r"not 18446744073709551616$"),
    # hashes
    ("fnv32-int", lambda m, c: m.fnv32(5), TypeError, r"^data must be str or bytes-like, not int$"),
    ("fnv32a-none", lambda m, c: m.fnv32a(None), TypeError, r"not NoneType$"),
    ("fnv64a-noncontiguous", lambda m, c: m.fnv64a(NONCONTIG), TypeError, r"non-contiguous memoryview$"),
]


def filled(core: ModuleType) -> Any:
    """A cache holding a -> 1 and b -> 2."""
    c = core.LRUCache(10_000, shards=4)
    c.set("a", b"1")
    c.set("b", b"2")
    return c


@pytest.mark.parametrize(("call", "exc", "message"), [r[1:] for r in CACHE_ROWS],
                         ids=[r[0] for r in CACHE_ROWS])
def test_bad_input_to_a_cache_changes_nothing(
    core: ModuleType, call: Callable[..., Any], exc: type[BaseException], message: str
) -> None:
    c = filled(core)
    before = c.stats()
    with pytest.raises(exc, match=message):
        call(core, c)
    assert c.stats() == before
    c._check_invariants()
    assert c.get_many(["a", "b"]) == {"a": b"1", "b": b"2"}
    assert [c.version_of("a"), c.version_of("b")] == [0, 0]


@pytest.mark.parametrize(("call", "exc", "message"), [r[1:] for r in CONSTRUCTOR_ROWS],
                         ids=[r[0] for r in CONSTRUCTOR_ROWS])
def test_bad_constructor_or_function_argument(
    core: ModuleType, call: Callable[..., Any], exc: type[BaseException], message: str
) -> None:
    with pytest.raises(exc, match=message):
        call(core, None)


def test_sizes_at_their_limits_are_accepted(core: ModuleType) -> None:
    c = core.LRUCache(2**63, shards=65536)
    assert c.max_bytes == 2**63 and c.shards == 65536
    c.set("k" * 65535, b"v")
    assert c.get("k" * 65535) == b"v"
    s = core.CountMinSketch(2**14, depth=16)
    assert s.add("k") == 1
    # The largest table allowed: either allocated or a MemoryError, never a wrap.
    try:
        big = core.CountMinSketch(2**40, depth=4)
    except MemoryError:
        pass
    else:
        assert big.width == 2**40
        del big


def test_value_over_4_gib_is_refused_before_any_copy(core: ModuleType) -> None:
    # An anonymous mapping is allocated lazily: nothing is touched unless copied.
    with mmap.mmap(-1, 2**32) as huge:
        view = memoryview(huge)
        c = filled(core)
        with pytest.raises(ValueError, match=r"^value is 4294967296 bytes; the limit is 4294967295$"):
            c.set("a", view)
        view.release()
        assert c.get("a") == b"1"


def test_twin_checks_the_size_before_copying() -> None:
    # Before commit 662ede6 the twin copied a 512 MiB value before finding that
    # it could never fit a 1 KiB cache (1 GiB peak, 2 s).
    from distcache import _pycore

    big = bytearray(64 << 20)
    c = _pycore.LRUCache(1024)
    tracemalloc.start()
    try:
        assert c.set("k", big) is False
        c.set_many({"k": big})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    assert c.stats()["rejected"] == 2




# --- groups --------------------------------------------------------------------
#
# A group holding "a" (set) and "b" (loaded from its getter); each row is a
# call on it with the exception and message it must get, on both cores.
# Afterwards its stats() (but latency, a clock reading) and its main cache's
# stats are as before, both values are still there, and the registry holds
# it alone.


def _source(key: str) -> bytes:
    """The rows' source of truth: "absent" is absent, any other key k is b"L-" + k."""
    if key == "absent":
        raise NotFound(key)
    return b"L-" + key.encode()


LONG = "k" * 65536  # one byte over the key limit (MAX_KEY_LEN = 65535)

# (id, call on the group, exception, message as a regular expression)
GROUP_ROWS: list[tuple[Any, ...]] = [
    # get and get_local: keys
    ("get-key-int", lambda g: g.get(5), TypeError, r"^key must be str or bytes-like, not int$"),
    ("get-key-none", lambda g: g.get(None), TypeError, r"^key must be str or bytes-like, not NoneType$"),
    ("get-key-list", lambda g: g.get([]), TypeError, r"^key must be str or bytes-like, not list$"),
    ("get-key-too-long", lambda g: g.get(LONG), ValueError, r"^key is 65536 bytes; the limit is 65535$"),
    ("get-key-surrogate", lambda g: g.get("\ud800"), UnicodeEncodeError, r"surrogates not allowed$"),
    ("get-key-noncontiguous", lambda g: g.get(NONCONTIG), TypeError,
     r"^key must be str or bytes-like \(C-contiguous\), not a non-contiguous memoryview$"),
    ("get-key-not-utf8", lambda g: g.get(b"\xff"), UnicodeDecodeError,
     r"can't decode byte 0xff in position 0"),
    ("get_local-key-int", lambda g: g.get_local(5), TypeError, r"^key must be str or bytes-like, not int$"),
    ("get_local-key-too-long", lambda g: g.get_local(LONG), ValueError, r"^key is 65536 bytes"),
    # get_many: every key is checked before any is looked up
    ("get_many-int", lambda g: g.get_many(5), TypeError, r"^'int' object is not iterable$"),
    ("get_many-none", lambda g: g.get_many(None), TypeError, r"^'NoneType' object is not iterable$"),
    ("get_many-key-int", lambda g: g.get_many(["a", 5]), TypeError, r"^key must be str or bytes-like, not int$"),
    ("get_many-key-too-long", lambda g: g.get_many(["a", LONG]), ValueError, r"^key is 65536 bytes; the limit is 65535$"),
    ("get_many-key-not-utf8", lambda g: g.get_many(["a", b"\xff"]), UnicodeDecodeError, r"can't decode byte 0xff"),
    # set: keys, values, ttls
    ("set-key-int", lambda g: g.set(5, b"v"), TypeError, r"^key must be str or bytes-like, not int$"),
    ("set-key-not-utf8", lambda g: g.set(b"\xff", b"v"), UnicodeDecodeError, r"can't decode byte 0xff"),
    ("set-key-noncontiguous", lambda g: g.set(NONCONTIG, b"v"), TypeError,
     r"non-contiguous memoryview$"),
    ("set-key-too-long", lambda g: g.set(LONG, b"v"), ValueError,
     r"^key is 65536 bytes; the limit is 65535$"),
    ("set-value-str", lambda g: g.set("a", "x"), TypeError,
     r"^value must be bytes-like, not str$"),
    ("set-value-none", lambda g: g.set("a", None), TypeError,
     r"^value must be bytes-like, not NoneType$"),
    ("set-value-noncontiguous", lambda g: g.set("a", NONCONTIG), TypeError,
     r"^value must be bytes-like \(C-contiguous\), not a non-contiguous memoryview$"),
    ("set-ttl-str", lambda g: g.set("a", b"v", ttl="1"), TypeError,
     r"^ttl must be a number, not str$"),
    ("set-ttl-bool", lambda g: g.set("a", b"v", ttl=True), TypeError,
     r"^ttl must be a number, not bool$"),
    ("set-ttl-zero", lambda g: g.set("a", b"v", ttl=0), ValueError,
     r"^ttl must be a positive number of seconds or None, not 0$"),
    ("set-ttl-negative", lambda g: g.set("a", b"v", ttl=-1), ValueError,
     r"not -1$"),
    ("set-ttl-nan", lambda g: g.set("a", b"v", ttl=math.nan), ValueError,
     r"not nan$"),
    # delete
    ("delete-key-int", lambda g: g.delete(5), TypeError, r"^key must be str or bytes-like, not int$"),
    ("delete-key-not-utf8", lambda g: g.delete(b"\xff"), UnicodeDecodeError, r"can't decode byte 0xff"),
    ("delete-key-noncontiguous", lambda g: g.delete(NONCONTIG), TypeError,
     r"non-contiguous memoryview$"),
    ("delete-key-too-long", lambda g: g.delete(LONG), ValueError,
     r"^key is 65536 bytes; the limit is 65535$"),
    # the asyncio twins: the same checks, raised where the coroutine is awaited
    ("aget-key-int", lambda g: asyncio.run(g.aget(5)), TypeError, r"^key must be str or bytes-like, not int$"),
    ("aget-key-too-long", lambda g: asyncio.run(g.aget(LONG)), ValueError, r"^key is 65536 bytes; the limit is 65535$"),
    ("aget-key-not-utf8", lambda g: asyncio.run(g.aget(b"\xff")), UnicodeDecodeError, r"can't decode byte 0xff"),
    ("aget_many-int", lambda g: asyncio.run(g.aget_many(5)), TypeError, r"^'int' object is not iterable$"),
    ("aget_many-key-too-long", lambda g: asyncio.run(g.aget_many(["a", LONG])), ValueError, r"^key is 65536 bytes"),
    ("aset-key-int", lambda g: asyncio.run(g.aset(5, b"v")), TypeError, r"^key must be str or bytes-like, not int$"),
    ("aset-value-str", lambda g: asyncio.run(g.aset("a", "x")), TypeError, r"^value must be bytes-like, not str$"),
    ("aset-ttl-negative", lambda g: asyncio.run(g.aset("a", b"v", ttl=-1)), ValueError, r"not -1$"),
    ("adelete-key-int", lambda g: asyncio.run(g.adelete(5)), TypeError, r"^key must be str or bytes-like, not int$"),
    ("adelete-key-too-long", lambda g: asyncio.run(g.adelete(LONG)), ValueError, r"^key is 65536 bytes"),
    # the rest of a group's API
    ("top_hot_keys-negative", lambda g: g.top_hot_keys(-1), ValueError, r"^n must be an int >= 0, not -1$"),
    ("top_hot_keys-str", lambda g: g.top_hot_keys("3"), ValueError, r"^n must be an int >= 0, not '3'$"),
    ("top_hot_keys-bool", lambda g: g.top_hot_keys(True), ValueError, r"^n must be an int >= 0, not True$"),
    ("register_peers-none", lambda g: g.register_peers(None), TypeError,
     r"^picker must have placement and peers methods, not NoneType$"),
    ("register_peers-object", lambda g: g.register_peers(object()), TypeError, r"not object$"),
    ("subscript", lambda g: g["a"], TypeError, r"^'Group' object is not subscriptable$"),
]


def _group_rows(rows: list[tuple[Any, ...]]) -> list[Any]:
    """Rows as pytest params named by their id."""
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


def _group_state(g: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a bad call must not change: the group's counters and its main cache's."""
    stats = g.stats()
    del stats["latency"]  # a clock reading: the drain of timing samples moves it
    return stats, g._main.stats()


def _filled_group(core: ModuleType) -> Any:
    """A group named "rows" holding a -> 1 (set) and b -> L-b (loaded)."""
    g = new_group("rows", 1 << 20, _source, _core=core)
    g.set("a", b"1")
    assert g.get("b") == b"L-b"
    return g


def _raises(call: Callable[[], Any], exc: type[BaseException], message: str) -> None:
    """call() raises exc with a message matching message."""
    with pytest.raises(exc) as info:
        call()
    if not re.search(message, str(info.value)):
        pytest.fail(f"{type(info.value).__name__}: {info.value} does not match {message!r}")


@pytest.mark.parametrize(("call", "exc", "message"), _group_rows(GROUP_ROWS))
def test_bad_input_to_a_group_changes_nothing(
    core: ModuleType, call: Callable[[Any], Any], exc: type[BaseException], message: str
) -> None:
    g = _filled_group(core)
    before = _group_state(g)
    _raises(lambda: call(g), exc, message)
    assert _group_state(g) == before
    g._main._check_invariants()
    assert g._main.get_many(["a", "b"]) == {"a": b"1", "b": b"L-b"}
    assert all_groups() == [g]


LIMIT_TEXT = rf"^max_bytes must be an int in \[1, {LIMIT}\], not "
NAME_TEXT = r"^group name must match \[A-Za-z0-9_.-\]\{1,64\}, not "


def _new(name: str = "other", max_bytes: Any = 1 << 20, getter: Any = _source,
         **kw: Any) -> Callable[[ModuleType], Any]:
    return lambda core: new_group(name, max_bytes, getter, _core=core, **kw)


# (id, new_group call on a core, exception, message as a regular expression)
NEW_GROUP_ROWS: list[tuple[Any, ...]] = [
    ("name-int", _new(5), ValueError, NAME_TEXT + r"5$"),
    ("name-empty", _new(""), ValueError, NAME_TEXT + r"''$"),
    ("name-space", _new("a b"), ValueError, NAME_TEXT + r"'a b'$"),
    ("name-slash", _new("a/b"), ValueError, NAME_TEXT + r"'a/b'$"),
    ("name-65-chars", _new("g" * 65), ValueError, NAME_TEXT + r"'g{65}'$"),
    ("name-non-ascii", _new("grüße"), ValueError, NAME_TEXT + r"'grüße'$"),
    ("name-taken", _new("rows"), ValueError, r"^group 'rows' already exists$"),
    # budgets (before commit 662ede6 these were accepted or wrapped)
    ("max_bytes-bool", _new(max_bytes=True), ValueError, LIMIT_TEXT + r"True$"),
    ("max_bytes-zero", _new(max_bytes=0), ValueError, LIMIT_TEXT + r"0$"),
    ("max_bytes-2**70", _new(max_bytes=2**70), ValueError, LIMIT_TEXT + r"1180591620717411303424$"),
    ("max_bytes-2**63+1", _new(max_bytes=2**63 + 1), ValueError, LIMIT_TEXT + r"9223372036854775809$"),
    ("max_bytes-str", _new(max_bytes="1MiB"), ValueError, LIMIT_TEXT + r"'1MiB'$"),
    ("max_bytes-float", _new(max_bytes=1.5), ValueError, LIMIT_TEXT + r"1.5$"),
    ("getter-bytes", _new(getter=b"v"), TypeError, r"^getter must be callable or None, not bytes$"),
    ("getter-str", _new(getter="load_user"), TypeError, r"^getter must be callable or None, not str$"),
    ("hot_fraction-0.6", _new(hot_fraction=0.6), ValueError, r"^hot_fraction must be in \[0, 0.5\], not 0.6$"),
    ("hot_fraction-bool", _new(hot_fraction=True), ValueError, r"not True$"),
    ("hot_fraction-nan", _new(hot_fraction=math.nan), ValueError, r"not nan$"),
    ("negative_ttl-negative", _new(negative_ttl=-1), ValueError,
     r"^negative_ttl must be a finite number >= 0, not -1$"),
    ("negative_ttl-inf", _new(negative_ttl=math.inf), ValueError, r"not inf$"),
    ("negative_ttl-nan", _new(negative_ttl=math.nan), ValueError, r"not nan$"),
    ("negative_ttl-str", _new(negative_ttl="1"), ValueError, r"not '1'$"),
    ("default_ttl-zero", _new(default_ttl=0), ValueError,
     r"^default_ttl must be a positive number of seconds or None, not 0$"),
    ("default_ttl-nan", _new(default_ttl=math.nan), ValueError, r"not nan$"),
    ("default_ttl-str", _new(default_ttl="1"), TypeError, r"^default_ttl must be a number, not str$"),
    ("stale_ttl-negative", _new(default_ttl=1, stale_ttl=-1), ValueError,
     r"^stale_ttl must be a finite number >= 0, not -1$"),
    ("stale_ttl-inf", _new(default_ttl=1, stale_ttl=math.inf), ValueError, r"not inf$"),
    ("stale_ttl-without-default_ttl", _new(stale_ttl=5), ValueError,
     r"^stale_ttl needs a default_ttl: an entry without a ttl never goes stale$"),
    ("admission-lru", _new(admission="lru"), ValueError, r"^admission must be one of \(None, 'tinylfu'\), not 'lru'$"),
    ("tuning-unknown", _new(frob=1), TypeError, r"unexpected keyword argument 'frob'$"),
]


@pytest.mark.parametrize(("call", "exc", "message"), _group_rows(NEW_GROUP_ROWS))
def test_bad_new_group_registers_nothing(
    core: ModuleType, call: Callable[[ModuleType], Any], exc: type[BaseException], message: str
) -> None:
    g = _filled_group(core)
    before = _group_state(g)
    _raises(lambda: call(core), exc, message)
    assert all_groups() == [g]  # the taken name still names the first group
    assert _group_state(g) == before


def _returning(value: Any) -> Callable[[str], Any]:
    def getter(key: str) -> Any:
        return value
    return getter


def _raising(exc: BaseException) -> Callable[[str], Any]:
    def getter(key: str) -> Any:
        raise exc
    return getter


GETTER_TEXT = r"^getter \S+\.counted returned {}, not a \(C-contiguous\) bytes-like object$"

# (id, getter, the exception a get of a key it serves raises, its message)
GETTER_ROWS: list[tuple[str, Callable[[str], Any], type[BaseException], str]] = [
    ("returns-noncontiguous", _returning(NONCONTIG), TypeError, GETTER_TEXT.format("memoryview")),
    ("returns-str", _returning("text"), TypeError, GETTER_TEXT.format("str")),
    ("returns-int", _returning(5), TypeError, GETTER_TEXT.format("int")),
    ("returns-none", _returning(None), TypeError, GETTER_TEXT.format("NoneType")),
    ("returns-list", _returning([b"v"]), TypeError, GETTER_TEXT.format("list")),
    ("returns-float", _returning(1.5), TypeError, GETTER_TEXT.format("float")),
    ("raises-runtime-error", _raising(RuntimeError("the database is on fire")), RuntimeError,
     r"^the database is on fire$"),
    ("raises-key-error", _raising(KeyError("k")), KeyError, r"^'k'$"),
    ("raises-not-found", _raising(NotFound("k")), NotFound, r"^'k'$"),
]


@pytest.mark.parametrize(("getter", "exc", "message"), [r[1:] for r in GETTER_ROWS],
                         ids=[r[0] for r in GETTER_ROWS])
def test_a_getter_that_breaks_its_contract_stores_nothing(
    core: ModuleType, getter: Callable[[str], Any], exc: type[BaseException], message: str
) -> None:
    calls: list[str] = []

    def counted(key: str) -> Any:
        calls.append(key)
        return getter(key)

    g = new_group("odd-getter", 1 << 20, counted, negative_ttl=0, _core=core)
    g.set("a", b"1")
    items = g._main.stats()["items"]
    for _ in range(2):  # an error is not cached: the second get asks the getter again
        _raises(lambda: g.get("k"), exc, message)
    assert calls == ["k", "k"]
    assert "k" not in g._main and g._main.stats()["items"] == items
    assert g._main.get("a") == b"1"


# --- gRPC: the CacheService of one real node -----------------------------------
#
# One `distcache serve` process with a token, for every row: the bytes each
# row sends go through a channel with identity serializers, so that a row can
# be any bytes, not only a well-formed message. After each row that gets an
# error, the node's counters (every distcache_ sample of its /metrics) are as
# before; after all rows the node answers and a key set before them is as it
# was (the last test of this part).

TOKEN = "s3cret"
GOOD = (("authorization", f"Bearer {TOKEN}"),)
DEADLINE = 10.0  # seconds per call; a node answers in milliseconds
REF_KEY, REF_VALUE = "ref", b"set before the rows"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, data: bytes) -> bytes:
    """One length-delimited protobuf field: how a string that is no UTF-8 is sent."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


@dataclass
class GrpcNode:
    """The node of the gRPC rows: its process, a raw-bytes channel, its /metrics URL."""

    node: Node
    channel: grpc.Channel
    metrics_url: str

    def call(self, method: str, request: bytes, metadata: tuple[tuple[str, str], ...] = GOOD,
             service: str = "distcache.CacheService") -> bytes:
        """The reply's bytes; grpc.RpcError for a status other than OK."""
        stub = self.channel.unary_unary(f"/{service}/{method}")  # identity serializers
        return stub(request, timeout=DEADLINE, metadata=metadata)  # type: ignore[no-any-return]

    def counters(self) -> list[str]:
        """Every distcache_ sample of the node's /metrics (counters and gauges)."""
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=DEADLINE) as r:
            text = r.read().decode()
        return [line for line in text.splitlines()
                if line.startswith("distcache_") and "duration" not in line]


@pytest.fixture(scope="module")
def grpc_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcNode]:
    """A node serving group "items" over 100 source rows, with a token and /metrics;
    REF_KEY set on it before the rows. Stopped by its pid when the module ends."""
    db = make_source(tmp_path_factory.mktemp("grpc") / "source.db", rows=100)
    metrics = f"127.0.0.1:{free_port()}"
    node = Node(f"127.0.0.1:{free_port()}",
                ["--group", "items:4MiB", "--loader", f"sqlite:{db}:items", "--token", TOKEN,
                 "--metrics", metrics])
    try:
        node.start()
        channel = grpc.insecure_channel(node.addr)
        n = GrpcNode(node, channel, f"http://{metrics}")
        reply = pb.SetResponse.FromString(
            n.call("Set", pb.SetRequest(group="items", key=REF_KEY, data=REF_VALUE).SerializeToString()))
        assert reply.success
        yield n
        channel.close()
    finally:
        node.stop()


def _get(group: str = "items", key: str = "k1") -> bytes:
    return pb.GetRequest(group=group, key=key).SerializeToString()


def _set(group: str = "items", key: str = REF_KEY, ttl: float = 0.0) -> bytes:
    return pb.SetRequest(group=group, key=key, data=b"overwritten", ttl=ttl).SerializeToString()


def _delete(group: str = "items", key: str = REF_KEY) -> bytes:
    return pb.DeleteRequest(group=group, key=key).SerializeToString()


def _get_many(group: str = "items", keys: tuple[str, ...] = ("k1", REF_KEY)) -> bytes:
    return pb.GetManyRequest(group=group, keys=list(keys)).SerializeToString()


NOT_UTF8 = b"\xff\xfe"
SURROGATE_UTF8 = b"\xed\xa0\x80"  # U+D800 as CESU-8: no valid UTF-8
LONG_KEY_TEXT = r"^key is 65536 bytes; the limit is 65535$"
NO_GROUP = r"^no group named 'nosuch' on this node$"
NO_TOKEN = r"^missing or wrong token$"


def _no_message(name: str, why: str) -> str:
    return rf"^not a distcache\.{name}: Error parsing message with type 'distcache\.{name}': {why}$"


CORRUPT, BAD_UTF8 = "Wire format was corrupt", "String field had bad UTF-8"
WRONG = (("authorization", "Bearer wrong"),)
NOT_BEARER = (("authorization", TOKEN),)
Code = grpc.StatusCode

# (id, method, request bytes, metadata, status code, details as a regular expression)
GRPC_ROWS: list[tuple[str, str, bytes, tuple[tuple[str, str], ...], grpc.StatusCode, str]] = [
    ("Get-unknown-group", "Get", _get("nosuch"), GOOD, Code.NOT_FOUND, NO_GROUP),
    ("Get-empty-group", "Get", _get(""), GOOD, Code.NOT_FOUND, r"^no group named '' on this node$"),
    ("Get-empty-message", "Get", b"", GOOD, Code.NOT_FOUND, r"^no group named '' on this node$"),
    ("Get-key-65536-bytes", "Get", _get(key=LONG), GOOD, Code.INVALID_ARGUMENT, LONG_KEY_TEXT),
    ("Get-key-21846-euros", "Get", _get(key="€" * 21846), GOOD, Code.INVALID_ARGUMENT,
     r"^key is 65538 bytes; the limit is 65535$"),
    ("Get-key-not-utf8", "Get", field(1, b"items") + field(2, NOT_UTF8), GOOD,
     Code.INVALID_ARGUMENT, _no_message("GetRequest", BAD_UTF8)),
    ("Get-key-surrogate", "Get", field(1, b"items") + field(2, SURROGATE_UTF8), GOOD,
     Code.INVALID_ARGUMENT, _no_message("GetRequest", BAD_UTF8)),
    ("Get-group-not-utf8", "Get", field(1, NOT_UTF8) + field(2, b"k1"), GOOD,
     Code.INVALID_ARGUMENT, _no_message("GetRequest", BAD_UTF8)),
    ("Get-garbage", "Get", b"\xff\xff\xff\xff", GOOD, Code.INVALID_ARGUMENT, _no_message("GetRequest", CORRUPT)),
    ("Get-truncated", "Get", b"\x0a\x10abc", GOOD, Code.INVALID_ARGUMENT, _no_message("GetRequest", CORRUPT)),
    ("Get-no-token", "Get", _get(), (), Code.UNAUTHENTICATED, NO_TOKEN),
    ("Get-wrong-token", "Get", _get(), WRONG, Code.UNAUTHENTICATED, NO_TOKEN),
    ("Get-token-without-bearer", "Get", _get(), NOT_BEARER, Code.UNAUTHENTICATED, NO_TOKEN),
    ("Set-unknown-group", "Set", _set("nosuch"), GOOD, Code.NOT_FOUND, NO_GROUP),
    ("Set-key-65536-bytes", "Set", _set(key=LONG), GOOD, Code.INVALID_ARGUMENT, LONG_KEY_TEXT),
    ("Set-key-not-utf8", "Set", field(1, b"items") + field(2, NOT_UTF8) + field(3, b"v"), GOOD,
     Code.INVALID_ARGUMENT, _no_message("SetRequest", BAD_UTF8)),
    ("Set-ttl-negative", "Set", _set(ttl=-1.0), GOOD, Code.INVALID_ARGUMENT, r"^ttl must be >= 0, not -1.0$"),
    ("Set-ttl-minus-inf", "Set", _set(ttl=-math.inf), GOOD, Code.INVALID_ARGUMENT, r"^ttl must be >= 0, not -inf$"),
    ("Set-ttl-nan", "Set", _set(ttl=math.nan), GOOD, Code.INVALID_ARGUMENT, r"^ttl must be >= 0, not nan$"),
    ("Set-garbage", "Set", b"\x00\x01\x02", GOOD, Code.INVALID_ARGUMENT, _no_message("SetRequest", CORRUPT)),
    ("Set-no-token", "Set", _set(), (), Code.UNAUTHENTICATED, NO_TOKEN),
    ("Set-wrong-token", "Set", _set(), WRONG, Code.UNAUTHENTICATED, NO_TOKEN),
    ("Delete-unknown-group", "Delete", _delete("nosuch"), GOOD, Code.NOT_FOUND, NO_GROUP),
    ("Delete-key-65536-bytes", "Delete", _delete(key=LONG), GOOD, Code.INVALID_ARGUMENT, LONG_KEY_TEXT),
    ("Delete-key-not-utf8", "Delete", field(1, b"items") + field(2, NOT_UTF8), GOOD,
     Code.INVALID_ARGUMENT, _no_message("DeleteRequest", BAD_UTF8)),
    ("Delete-garbage", "Delete", b"\xff", GOOD, Code.INVALID_ARGUMENT, _no_message("DeleteRequest", CORRUPT)),
    ("Delete-no-token", "Delete", _delete(), (), Code.UNAUTHENTICATED, NO_TOKEN),
    ("Delete-wrong-token", "Delete", _delete(), WRONG, Code.UNAUTHENTICATED, NO_TOKEN),
    ("GetMany-unknown-group", "GetMany", _get_many("nosuch"), GOOD, Code.NOT_FOUND, NO_GROUP),
    ("GetMany-one-key-65536-bytes", "GetMany", _get_many(keys=("k1", LONG)), GOOD,
     Code.INVALID_ARGUMENT, LONG_KEY_TEXT),
    ("GetMany-key-not-utf8", "GetMany", field(1, b"items") + field(2, b"k1") + field(2, NOT_UTF8),
     GOOD, Code.INVALID_ARGUMENT, _no_message("GetManyRequest", BAD_UTF8)),
    ("GetMany-garbage", "GetMany", b"\x12\xff", GOOD, Code.INVALID_ARGUMENT, _no_message("GetManyRequest", CORRUPT)),
    ("GetMany-no-token", "GetMany", _get_many(), (), Code.UNAUTHENTICATED, NO_TOKEN),
    ("GetMany-wrong-token", "GetMany", _get_many(), WRONG, Code.UNAUTHENTICATED, NO_TOKEN),
    ("unknown-method", "Frob", _get(), GOOD, Code.UNIMPLEMENTED, r"^Method not found!$"),
]


@pytest.mark.parametrize(("method", "request_bytes", "metadata", "code", "details"),
                         [r[1:] for r in GRPC_ROWS], ids=[r[0] for r in GRPC_ROWS])
def test_bad_request_gets_its_status_and_changes_nothing(
    grpc_node: GrpcNode, method: str, request_bytes: bytes,
    metadata: tuple[tuple[str, str], ...], code: grpc.StatusCode, details: str
) -> None:
    before = grpc_node.counters()
    with pytest.raises(grpc.RpcError) as info:
        grpc_node.call(method, request_bytes, metadata)
    assert info.value.code() == code, info.value.details()
    assert re.search(details, info.value.details() or ""), info.value.details()
    assert grpc_node.counters() == before


def test_the_health_service_refuses_an_unknown_service(grpc_node: GrpcNode) -> None:
    health = health_pb2_grpc.HealthStub(grpc_node.channel)
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service="nosuch"), timeout=DEADLINE)
    assert info.value.code() == Code.NOT_FOUND  # grpcio-health-checking sets no details


# Inputs at the edge that are no error: the answer each must get (status OK).
EDGE_ROWS: list[tuple[str, str, bytes, bytes]] = [
    ("Get-empty-key", "Get", _get(key=""), pb.GetResponse(found=False).SerializeToString()),
    ("Get-absent-key", "Get", _get(key="nope"), pb.GetResponse(found=False).SerializeToString()),
    ("GetMany-no-keys", "GetMany", _get_many(keys=()), b""),
    ("GetMany-empty-key", "GetMany", _get_many(keys=("",)), b""),
    ("Delete-empty-key", "Delete", _delete(key=""), pb.DeleteResponse(success=True).SerializeToString()),
    ("Get-unknown-fields", "Get", _get() + field(15, b"from a newer client"),
     pb.GetResponse(data=b"value-1", found=True).SerializeToString()),
]


@pytest.mark.parametrize(("method", "request_bytes", "reply"), [r[1:] for r in EDGE_ROWS],
                         ids=[r[0] for r in EDGE_ROWS])
def test_edge_request_is_answered(grpc_node: GrpcNode, method: str, request_bytes: bytes,
                                  reply: bytes) -> None:
    answer = grpc_node.call(method, request_bytes)
    if method in ("Get", "Delete"):
        # The answer carries the version of what was read or deleted (set by
        # the node, so not part of the row): present, then compared without it.
        message = {"Get": pb.GetResponse, "Delete": pb.DeleteResponse}[method].FromString(answer)
        assert message.version > 0 or not getattr(message, "found", True), message
        message.ClearField("version")
        answer = message.SerializeToString()
    assert answer == reply


# --- the clients: Client and AsyncClient of the node above --------------------
#
# Each row is a call on a Client of the node (with its token) or on an
# AsyncClient, both made for the row, with the exception and message it must get.
# A bad key, value or ttl gets what a group raises for it (the rows above),
# before anything is sent; an unknown group is the node's NOT_FOUND, a
# LookupError. Afterwards the node's counters and the key set before the rows
# are as before, and the client counted no error (it was not marked down).


@dataclass
class Clients:
    """A Client of the gRPC rows' node, and AsyncClients made one per row."""

    sync: Client
    addr: str
    last: AsyncClient | None = None  # the AsyncClient of the row, if it made one

    def aio(self, call: Callable[[AsyncClient], Any]) -> Any:
        """call(client) awaited on a new loop, with a new AsyncClient of the node."""
        async def main() -> Any:
            async with AsyncClient(self.addr, timeout=DEADLINE, token=TOKEN) as client:
                self.last = client
                return await asyncio.wait_for(call(client), DEADLINE)

        return asyncio.run(main())


@pytest.fixture
def clients(grpc_node: GrpcNode) -> Iterator[Clients]:
    """A new Client per row, so that no row sees another's errors."""
    with Client(grpc_node.node.addr, timeout=DEADLINE, token=TOKEN) as client:
        yield Clients(client, grpc_node.node.addr)


def _sync(call: Callable[[Client], Any]) -> Callable[[Clients], Any]:
    return lambda c: call(c.sync)


def _async(call: Callable[[AsyncClient], Any]) -> Callable[[Clients], Any]:
    return lambda c: c.aio(call)


KEY_TYPE = r"^key must be str or bytes-like, not {}$"
TTL_TEXT = r"^ttl must be a positive number of seconds or None, not {}$"

# (id, call on the clients, exception, message as a regular expression)
CLIENT_ROWS: list[tuple[Any, ...]] = [
    # get: keys
    ("get-key-int", _sync(lambda c: c.get("items", 5)), TypeError, KEY_TYPE.format("int")),
    ("get-key-none", _sync(lambda c: c.get("items", None)), TypeError, KEY_TYPE.format("NoneType")),
    ("get-key-list", _sync(lambda c: c.get("items", [])), TypeError, KEY_TYPE.format("list")),
    ("get-key-65536-bytes", _sync(lambda c: c.get("items", LONG)), ValueError, LONG_KEY_TEXT),
    ("get-key-21846-euros", _sync(lambda c: c.get("items", "€" * 21846)), ValueError,
     r"^key is 65538 bytes; the limit is 65535$"),
    ("get-key-bytes-65536", _sync(lambda c: c.get("items", LONG.encode())), ValueError, LONG_KEY_TEXT),
    ("get-key-surrogate", _sync(lambda c: c.get("items", "\ud800")), UnicodeEncodeError,
     r"surrogates not allowed$"),
    ("get-key-not-utf8", _sync(lambda c: c.get("items", b"\xff")), UnicodeDecodeError,
     r"can't decode byte 0xff in position 0"),
    ("get-key-noncontiguous", _sync(lambda c: c.get("items", NONCONTIG)), TypeError,
     r"^key must be str or bytes-like \(C-contiguous\), not a non-contiguous memoryview$"),
    ("get-unknown-group", _sync(lambda c: c.get("nosuch", "k1")), LookupError, NO_GROUP),
    # get_many: every key is checked before the call
    ("get_many-int", _sync(lambda c: c.get_many("items", 5)), TypeError, r"^'int' object is not iterable$"),
    ("get_many-key-int", _sync(lambda c: c.get_many("items", ["k1", 5])), TypeError, KEY_TYPE.format("int")),
    ("get_many-key-65536-bytes", _sync(lambda c: c.get_many("items", ["k1", LONG])), ValueError,
     LONG_KEY_TEXT),
    ("get_many-unknown-group", _sync(lambda c: c.get_many("nosuch", ["k1"])), LookupError, NO_GROUP),
    # set: keys, values, ttls
    ("set-key-int", _sync(lambda c: c.set("items", 5, b"v")), TypeError, KEY_TYPE.format("int")),
    ("set-key-65536-bytes", _sync(lambda c: c.set("items", LONG, b"v")), ValueError, LONG_KEY_TEXT),
    ("set-value-str", _sync(lambda c: c.set("items", REF_KEY, "x")), TypeError,
     r"^value must be bytes-like, not str$"),
    ("set-value-int", _sync(lambda c: c.set("items", REF_KEY, 5)), TypeError,
     r"^value must be bytes-like, not int$"),
    ("set-value-none", _sync(lambda c: c.set("items", REF_KEY, None)), TypeError,
     r"^value must be bytes-like, not NoneType$"),
    ("set-value-noncontiguous", _sync(lambda c: c.set("items", REF_KEY, NONCONTIG)), TypeError,
     r"^value must be bytes-like \(C-contiguous\), not a non-contiguous memoryview$"),
    ("set-ttl-str", _sync(lambda c: c.set("items", REF_KEY, b"v", ttl="1")), TypeError,
     r"^ttl must be a number, not str$"),
    ("set-ttl-bool", _sync(lambda c: c.set("items", REF_KEY, b"v", ttl=True)), TypeError,
     r"^ttl must be a number, not bool$"),
    ("set-ttl-zero", _sync(lambda c: c.set("items", REF_KEY, b"v", ttl=0)), ValueError, TTL_TEXT.format("0")),
    ("set-ttl-negative", _sync(lambda c: c.set("items", REF_KEY, b"v", ttl=-1.0)), ValueError,
     TTL_TEXT.format("-1.0")),
    ("set-ttl-nan", _sync(lambda c: c.set("items", REF_KEY, b"v", ttl=math.nan)), ValueError,
     TTL_TEXT.format("nan")),
    ("set-unknown-group", _sync(lambda c: c.set("nosuch", REF_KEY, b"v")), LookupError, NO_GROUP),
    # delete
    ("delete-key-int", _sync(lambda c: c.delete("items", 5)), TypeError, KEY_TYPE.format("int")),
    ("delete-key-65536-bytes", _sync(lambda c: c.delete("items", LONG)), ValueError, LONG_KEY_TEXT),
    ("delete-key-not-utf8", _sync(lambda c: c.delete("items", b"\xff")), UnicodeDecodeError,
     r"can't decode byte 0xff"),
    ("delete-unknown-group", _sync(lambda c: c.delete("nosuch", REF_KEY)), LookupError, NO_GROUP),
    # the AsyncClient: the same checks, raised where the coroutine is awaited
    ("aget-key-int", _async(lambda a: a.aget("items", 5)), TypeError, KEY_TYPE.format("int")),
    ("aget-key-65536-bytes", _async(lambda a: a.aget("items", LONG)), ValueError, LONG_KEY_TEXT),
    ("aget-key-not-utf8", _async(lambda a: a.aget("items", b"\xff")), UnicodeDecodeError,
     r"can't decode byte 0xff"),
    ("aget-unknown-group", _async(lambda a: a.aget("nosuch", "k1")), LookupError, NO_GROUP),
    ("aget_many-int", _async(lambda a: a.aget_many("items", 5)), TypeError, r"^'int' object is not iterable$"),
    ("aget_many-key-65536-bytes", _async(lambda a: a.aget_many("items", ["k1", LONG])), ValueError,
     LONG_KEY_TEXT),
    ("aset-key-65536-bytes", _async(lambda a: a.aset("items", LONG, b"v")), ValueError, LONG_KEY_TEXT),
    ("aset-value-str", _async(lambda a: a.aset("items", REF_KEY, "x")), TypeError,
     r"^value must be bytes-like, not str$"),
    ("aset-ttl-negative", _async(lambda a: a.aset("items", REF_KEY, b"v", ttl=-1)), ValueError,
     TTL_TEXT.format("-1")),
    ("adelete-key-int", _async(lambda a: a.adelete("items", 5)), TypeError, KEY_TYPE.format("int")),
    ("adelete-key-65536-bytes", _async(lambda a: a.adelete("items", LONG)), ValueError, LONG_KEY_TEXT),
]


@pytest.mark.parametrize(("call", "exc", "message"), _group_rows(CLIENT_ROWS))
def test_bad_request_through_a_client_is_refused_and_changes_nothing(
    grpc_node: GrpcNode, clients: Clients, call: Callable[[Clients], Any],
    exc: type[BaseException], message: str
) -> None:
    before = grpc_node.counters()
    _raises(lambda: call(clients), exc, message)
    assert grpc_node.counters() == before
    for client in (clients.sync, clients.last):
        if client is not None:  # the node answered or was never asked: no error counted
            assert client._peer.errors == 0 and not client._peer.down, client._peer.last_error
    assert clients.sync.get("items", REF_KEY) == REF_VALUE


def test_after_the_rows_the_node_lives_and_its_data_is_unchanged(grpc_node: GrpcNode) -> None:
    assert grpc_node.node.proc is not None and grpc_node.node.proc.poll() is None
    reply = pb.GetResponse.FromString(grpc_node.call("Get", _get(key=REF_KEY)))
    assert (reply.found, reply.data) == (True, REF_VALUE)
    many = pb.GetManyResponse.FromString(grpc_node.call("GetMany", _get_many()))
    assert [(e.key, e.data) for e in many.entries] == [("k1", b"value-1"), (REF_KEY, REF_VALUE)]
    health = health_pb2_grpc.HealthStub(grpc_node.channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert "Traceback" not in grpc_node.node.output()


# --- HTTP: the metrics server's pages -------------------------------------------
#
# Raw requests over a socket (so that a row can be any bytes), each with the
# status code of the answer's status line. After each row the server still
# answers /health.

HTTP_TIMEOUT = 10.0  # seconds per socket operation; the server answers in milliseconds


@pytest.fixture(scope="module")
def metrics_server() -> Iterator[MetricsServer]:
    """The monitoring server on a free 127.0.0.1 port; stopped when the module ends."""
    srv = start_metrics_server("127.0.0.1:0")
    try:
        yield srv
    finally:
        srv.stop()


def http_exchange(port: int, request: bytes) -> bytes:
    """Everything the server sends back for request (then end of input) until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of an answer's first status line (100 Continue skipped)."""
    for m in re.finditer(rb"HTTP/1\.[01] (\d{3}) ", answer):
        if m.group(1) != b"100":
            return int(m.group(1))
    raise AssertionError(f"no status line in {answer[:200]!r}")


def _req(target: bytes, method: bytes = b"GET", headers: bytes = b"", version: bytes = b" HTTP/1.1"
         ) -> bytes:
    return method + b" " + target + version + b"\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"


# (id, request bytes, status code)
HTTP_ROWS: list[tuple[str, bytes, int]] = [
    # paths
    ("unknown-path", _req(b"/nope"), 404),
    ("under-a-page", _req(b"/metrics/x"), 404),
    ("page-with-suffix", _req(b"/stats.json"), 404),
    ("dot-dot", _req(b"/../../etc/passwd"), 404),
    ("percent-nul", _req(b"/metrics%00"), 404),
    ("non-ascii-path", _req("/stätus".encode()), 404),
    ("no-leading-slash", _req(b"metrics"), 404),
    ("head-unknown-path", _req(b"/nope", b"HEAD"), 404),
    # query strings and fragments are ignored by the routing
    ("metrics-query", _req(b"/metrics?name[]=x&y=%00"), 200),
    ("stats-query-markup", _req(b"/stats?<script>alert(1)</script>"), 200),
    ("health-fragment", _req(b"/health#top"), 200),
    ("unknown-path-query", _req(b"/nope?x=1"), 404),
    ("query-65000-bytes", _req(b"/metrics?" + b"a" * 65000), 200),
    ("absolute-uri", _req(b"http://elsewhere/metrics"), 200),
    # methods
    ("post", _req(b"/metrics", b"POST", b"Content-Length: 3\r\n") + b"abc", 405),
    ("post-negative-length", _req(b"/metrics", b"POST", b"Content-Length: -5\r\n"), 405),
    ("put", _req(b"/stats", b"PUT"), 405),
    ("delete", _req(b"/health", b"DELETE"), 405),
    ("options-star", _req(b"*", b"OPTIONS"), 405),
    ("trace", _req(b"/metrics", b"TRACE"), 405),
    ("connect", _req(b"127.0.0.1:443", b"CONNECT"), 405),
    ("lower-case-get", _req(b"/metrics", b"get"), 405),
    ("made-up-method", _req(b"/metrics", b"FROB"), 405),
    # headers
    ("header-line-70000-bytes", _req(b"/metrics", headers=b"X-Big: " + b"a" * 70000 + b"\r\n"), 431),
    ("101-headers", _req(b"/metrics", headers=b"".join(b"X-%d: y\r\n" % i for i in range(101))), 431),
    ("accept-50000-bytes", _req(b"/metrics", headers=b"Accept: " + b"text/plain," * 5000 + b"\r\n"), 200),
    ("accept-unknown-version", _req(b"/metrics", headers=b"Accept: application/openmetrics-text; version=99\r\n"), 200),
    ("header-not-latin1", _req(b"/stats", headers=b"X: \xff\xfe\r\n"), 200),
    # request lines
    ("request-line-70000-bytes", _req(b"/" + b"a" * 70000), 414),
    ("http-2.0", _req(b"/metrics", version=b" HTTP/2.0"), 505),
    ("version-garbage", _req(b"/metrics", version=b" HTTP/x"), 400),
    ("one-word", b"HELLO\r\n\r\n", 400),
    ("tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),
    ("bare-newlines", b"GET /health HTTP/1.1\n\n", 200),
]


@pytest.mark.parametrize(("request_bytes", "status"), [r[1:] for r in HTTP_ROWS],
                         ids=[r[0] for r in HTTP_ROWS])
def test_bad_http_request_gets_its_status(metrics_server: MetricsServer, request_bytes: bytes,
                                          status: int) -> None:
    assert status_of(http_exchange(metrics_server.port, request_bytes)) == status
    assert status_of(http_exchange(metrics_server.port, _req(b"/health"))) == 200


def test_a_stalled_client_does_not_stop_the_others(metrics_server: MetricsServer) -> None:
    # Half a request, never finished: its handler thread waits (30 s, then
    # closes), the others are answered meanwhile.
    with socket.create_connection(("127.0.0.1", metrics_server.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0")
        conn = http.client.HTTPConnection("127.0.0.1", metrics_server.port, timeout=HTTP_TIMEOUT)
        conn.request("GET", "/stats")
        assert conn.getresponse().status == 200
        conn.close()


# --- the command line ----------------------------------------------------------
#
# Each row is a command line with one bad flag value and the line that must
# name the problem: exit status 2, and on stderr that line alone (a startup
# error of `serve`) or argparse's usage followed by it (a value the parser
# refuses). The rows run in this process through distcache.cli.main, in a
# thread with a watchdog (a command that wrongly starts serving would block);
# a few run as `python -m distcache` where the process's behaviour is the
# point.

CLI_WATCHDOG = 30.0  # seconds for one in-process command; each takes milliseconds


@dataclass
class CliRun:
    """What one command did: its exit status and its stderr lines."""

    status: int | None
    stderr: list[str]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths the command lines name: a source database, an empty file, a file that is no PEM."""
    d = tmp_path_factory.mktemp("cli")
    (d / "empty").write_bytes(b"")
    (d / "garbage.pem").write_bytes(b"not a certificate\n")
    return {"db": str(make_source(d / "source.db", rows=5)), "empty": str(d / "empty"),
            "garbage": str(d / "garbage.pem"), "missing": str(d / "missing")}


class ThreadStream(io.TextIOBase):
    """Stands in for sys.stderr or sys.stdout: what one thread writes is kept, what
    any other thread writes goes on to the real stream. redirect_stderr alone swaps
    the process's stream, so a traceback from a thread another test left behind
    would land in a row's captured lines."""

    def __init__(self, real: Any, thread: threading.Thread) -> None:
        self.real, self.thread, self.kept = real, thread, io.StringIO()

    def write(self, text: str) -> int:
        if threading.current_thread() is self.thread:
            return self.kept.write(text)
        return self.real.write(text)

    def flush(self) -> None:
        self.real.flush()


def run_cli(argv: list[str]) -> CliRun:
    """main(argv) in a thread, its stderr captured; fails the test if it runs past the watchdog."""
    outcome: dict[str, Any] = {}
    streams: dict[str, ThreadStream] = {}

    def target() -> None:
        with contextlib.redirect_stderr(streams["err"]), contextlib.redirect_stdout(streams["out"]):
            try:
                outcome["status"] = main(argv)
            except SystemExit as exc:
                outcome["status"] = exc.code
            except BaseException as exc:  # a crash: reported by the test, not lost in the thread
                outcome["crash"] = exc

    thread = threading.Thread(target=target, name="cli-row", daemon=True)
    streams["err"] = ThreadStream(sys.stderr, thread)
    streams["out"] = ThreadStream(sys.stdout, thread)
    thread.start()
    thread.join(CLI_WATCHDOG)
    if thread.is_alive():
        pytest.fail(f"{argv} still running after {CLI_WATCHDOG} s: it was accepted")
    if "crash" in outcome:
        exc = outcome["crash"]
        pytest.fail(f"{argv} crashed: {type(exc).__name__}: {exc}")
    return CliRun(outcome["status"], streams["err"].kept.getvalue().strip().splitlines())


def _serve(*extra: str, group: str = "items:1MiB", loader: str = "sqlite:{db}:items",
           addr: str = "127.0.0.1:{port}") -> list[str]:
    return ["serve", "--addr", addr, "--group", group, "--loader", loader, *extra]


SERVE_USAGE = "distcache serve: error: "
DEMO_USAGE = "distcache demo: error: "
TOP_USAGE = "distcache: error: "
SIZE_HINT = "use a positive number of bytes or a suffix like 64MiB, 1GiB"

# (id, argv with {db}, {port}, {empty}, {garbage}, {missing} filled in, the line naming the problem)
CLI_ROWS: list[tuple[str, list[str], str]] = [
    # the parser
    ("no-command", [], TOP_USAGE + "the following arguments are required: COMMAND"),
    ("unknown-command", ["frob"], TOP_USAGE + "argument COMMAND: invalid choice: 'frob' (choose from 'demo', 'serve')"),
    ("serve-unknown-flag", _serve("--frob"), TOP_USAGE + "unrecognized arguments: --frob"),
    ("serve-no-addr", ["serve", "--group", "items:1MiB", "--loader", "sqlite:{db}:items"],
     SERVE_USAGE + "the following arguments are required: --addr"),
    ("serve-no-group", ["serve", "--addr", "127.0.0.1:{port}", "--loader", "sqlite:{db}:items"],
     SERVE_USAGE + "the following arguments are required: --group"),
    ("serve-no-loader", ["serve", "--addr", "127.0.0.1:{port}", "--group", "items:1MiB"],
     SERVE_USAGE + "the following arguments are required: --loader"),
    ("serve-replicas-text", _serve("--replicas", "two"), SERVE_USAGE + "argument --replicas: invalid int value: 'two'"),
    ("serve-timeout-text", _serve("--timeout", "soon"), SERVE_USAGE + "argument --timeout: invalid float value: 'soon'"),
    ("serve-delay-text", _serve("--loader-delay-ms", "x"),
     SERVE_USAGE + "argument --loader-delay-ms: invalid float value: 'x'"),
    ("serve-peers-and-dns", _serve("--peers", "127.0.0.1:{port}", "--peers-dns", "cache:7000"),
     SERVE_USAGE + "argument --peers-dns: not allowed with argument --peers"),
    ("serve-token-and-file", _serve("--token", "a", "--token-file", "{empty}"),
     SERVE_USAGE + "argument --token-file: not allowed with argument --token"),
    # serve's startup errors
    ("serve-addr-no-port", _serve(addr="127.0.0.1"), "distcache serve: --addr takes HOST:PORT, not '127.0.0.1'"),
    ("serve-addr-port-text", _serve(addr="127.0.0.1:http"), "distcache serve: --addr takes HOST:PORT, not '127.0.0.1:http'"),
    ("serve-addr-port-99999", _serve(addr="127.0.0.1:99999"), "distcache serve: --addr takes HOST:PORT, not '127.0.0.1:99999'"),
    ("serve-addr-unknown-host", _serve(addr="no-such-host.invalid:7000"),
     "distcache serve: cannot listen on no-such-host.invalid:7000: Name or service not known"),
    ("serve-addr-not-local", _serve(addr="192.0.2.1:7000"),
     "distcache serve: cannot listen on 192.0.2.1:7000: Cannot assign requested address"),
    ("serve-addr-arabic-indic-port", _serve(addr="127.0.0.1:٣٠٠٠"), "distcache serve: --addr takes HOST:PORT, not '127.0.0.1:٣٠٠٠'"),
    ("serve-addr-superscript-port", _serve(addr="127.0.0.1:²"), "distcache serve: --addr takes HOST:PORT, not '127.0.0.1:²'"),
    ("serve-peers-dns-superscript-port", _serve("--peers-dns", "cache:²"), "distcache serve: --peers-dns takes NAME:PORT, not 'cache:²'"),
    ("serve-peers-dns-arabic-indic-port", _serve("--peers-dns", "cache:٣٠٠٠"), "distcache serve: --peers-dns takes NAME:PORT, not 'cache:٣٠٠٠'"),
    ("serve-peers-dns-port-0", _serve("--peers-dns", "cache:0"), "distcache serve: --peers-dns takes NAME:PORT, not 'cache:0'"),
    ("serve-peers-dns-port-65536", _serve("--peers-dns", "cache:65536"), "distcache serve: --peers-dns takes NAME:PORT, not 'cache:65536'"),
    ("serve-group-size-5000-digits", _serve(group="items:" + "9" * 5000),
     f"distcache serve: --group items:{'9' * 5000}: invalid size '{'9' * 5000}': {SIZE_HINT}"),
    ("serve-group-size-arabic-indic", _serve(group="items:٣MiB"), f"distcache serve: --group items:٣MiB: invalid size '٣MiB': {SIZE_HINT}"),
    ("serve-loader-newline-in-path", _serve(loader="sqlite:{missing}\nx:items"),
     "distcache serve: SQLite database not found: {missing}\\nx"),
    ("serve-tls-cert-newline-in-path", _serve("--tls-cert", "{missing}\nx", "--tls-key", "{missing}"),
     "distcache serve: cannot read --tls-cert {missing}\\nx: No such file or directory"),
    ("serve-group-no-size", _serve(group="items"), "distcache serve: --group takes NAME:SIZE (e.g. users:64MiB), not 'items'"),
    ("serve-group-no-name", _serve(group=":1MiB"), "distcache serve: --group takes NAME:SIZE (e.g. users:64MiB), not ':1MiB'"),
    ("serve-group-bad-size", _serve(group="items:lots"), f"distcache serve: --group items:lots: invalid size 'lots': {SIZE_HINT}"),
    ("serve-group-size-0", _serve(group="items:0"), f"distcache serve: --group items:0: invalid size '0': {SIZE_HINT}"),
    ("serve-group-size-fraction", _serve(group="items:1.5MiB"),
     f"distcache serve: --group items:1.5MiB: invalid size '1.5MiB': {SIZE_HINT}"),
    ("serve-group-size-over-2**63", _serve(group="items:9999999TiB"),
     "distcache serve: --group items: max_bytes must be an int in [1, 9223372036854775808], not 10995115178248372224"),
    ("serve-group-bad-name", _serve(group="my items:1MiB"),
     "distcache serve: --group my items: group name must match [A-Za-z0-9_.-]{1,64}, not 'my items'"),
    ("serve-group-twice", _serve("--group", "items:2MiB"), "distcache serve: --group items: group 'items' already exists"),
    ("serve-loader-kind", _serve(loader="redis:localhost:6379"),
     "distcache serve: --loader takes sqlite:PATH:TABLE, not 'redis:localhost:6379'"),
    ("serve-loader-no-table", _serve(loader="sqlite:{db}"), "distcache serve: --loader takes sqlite:PATH:TABLE, not 'sqlite:{db}'"),
    ("serve-loader-missing-db", _serve(loader="sqlite:{missing}:items"), "distcache serve: SQLite database not found: {missing}"),
    ("serve-loader-missing-table", _serve(loader="sqlite:{db}:nosuch"),
     "distcache serve: cannot read table 'nosuch' of {db}: no such table: nosuch"),
    ("serve-loader-sql-in-table", _serve(loader="sqlite:{db}:items;drop"),
     "distcache serve: table name must match [A-Za-z_][A-Za-z0-9_]{0,63}, not 'items;drop'"),
    ("serve-delay-negative", _serve("--loader-delay-ms", "-1"),
     "distcache serve: --loader-delay-ms takes a number of milliseconds >= 0, not -1.0"),
    ("serve-delay-nan", _serve("--loader-delay-ms", "nan"),
     "distcache serve: --loader-delay-ms takes a number of milliseconds >= 0, not nan"),
    ("serve-delay-inf", _serve("--loader-delay-ms", "inf"),
     "distcache serve: --loader-delay-ms takes a number of milliseconds >= 0, not inf"),
    ("serve-replicas-0", _serve("--replicas", "0"), "distcache serve: replicas must be an int >= 1, not 0"),
    ("serve-replicas-negative", _serve("--replicas", "-2"), "distcache serve: replicas must be an int >= 1, not -2"),
    ("serve-timeout-0", _serve("--timeout", "0"), "distcache serve: timeout must be a finite number of seconds > 0, not 0.0"),
    ("serve-timeout-nan", _serve("--timeout", "nan"), "distcache serve: timeout must be a finite number of seconds > 0, not nan"),
    ("serve-timeout-inf", _serve("--timeout", "inf"), "distcache serve: timeout must be a finite number of seconds > 0, not inf"),
    ("serve-peers-without-self", _serve("--peers", "127.0.0.1:1,127.0.0.1:2"),
     "distcache serve: the peers must include this node's own address '127.0.0.1:{port}'"),
    ("serve-peers-garbage", _serve("--peers", "127.0.0.1:{port},garbage"), "distcache serve: a peer is HOST:PORT, not 'garbage'"),
    ("serve-peers-dns-no-port", _serve("--peers-dns", "cache"), "distcache serve: --peers-dns takes NAME:PORT, not 'cache'"),
    ("serve-peers-dns-port-text", _serve("--peers-dns", "cache:http"), "distcache serve: --peers-dns takes NAME:PORT, not 'cache:http'"),
    ("serve-token-empty", _serve("--token", ""), "distcache serve: --token is empty"),
    ("serve-token-blank", _serve("--token", "  "), "distcache serve: --token is empty"),
    ("serve-token-file-empty", _serve("--token-file", "{empty}"), "distcache serve: --token-file {empty} is empty"),
    ("serve-token-file-missing", _serve("--token-file", "{missing}"),
     "distcache serve: cannot read --token-file {missing}: No such file or directory"),
    ("serve-tls-cert-alone", _serve("--tls-cert", "{garbage}"), "distcache serve: --tls-cert and --tls-key go together"),
    ("serve-tls-key-alone", _serve("--tls-key", "{garbage}"), "distcache serve: --tls-cert and --tls-key go together"),
    ("serve-tls-client-ca-alone", _serve("--tls-client-ca", "{garbage}"),
     "distcache serve: --tls-client-ca needs --tls-cert and --tls-key"),
    ("serve-tls-cert-missing", _serve("--tls-cert", "{missing}", "--tls-key", "{garbage}"),
     "distcache serve: cannot read --tls-cert {missing}: No such file or directory"),
    ("serve-tls-cert-not-pem", _serve("--tls-cert", "{garbage}", "--tls-key", "{garbage}"),
     "distcache serve: --tls-cert {garbage} holds no PEM certificate"),
    ("serve-metrics-no-port", _serve("--metrics", "localhost"),
     "distcache serve: --metrics: addr must be HOST:PORT with a port in 0-65535, not 'localhost'"),
    ("serve-metrics-port-70000", _serve("--metrics", "127.0.0.1:70000"),
     "distcache serve: --metrics: addr must be HOST:PORT with a port in 0-65535, not '127.0.0.1:70000'"),
    ("serve-metrics-arabic-indic-port", _serve("--metrics", "127.0.0.1:٣٠٠٠"),
     "distcache serve: --metrics: addr must be HOST:PORT with a port in 0-65535, not '127.0.0.1:٣٠٠٠'"),
    ("serve-metrics-superscript-port", _serve("--metrics", "127.0.0.1:²"),
     "distcache serve: --metrics: addr must be HOST:PORT with a port in 0-65535, not '127.0.0.1:²'"),
    # demo
    ("demo-rows-0", ["demo", "--rows", "0"], DEMO_USAGE + "argument --rows: expected an integer >= 1, not '0'"),
    ("demo-threads-text", ["demo", "--threads", "x"], DEMO_USAGE + "argument --threads: expected an integer >= 1, not 'x'"),
    ("demo-requests-negative", ["demo", "--local", "--requests", "-5"],
     DEMO_USAGE + "argument --requests: expected an integer >= 1, not '-5'"),
    ("demo-zipf-negative", ["demo", "--zipf", "-1"], DEMO_USAGE + "argument --zipf: expected a number >= 0, not '-1'"),
    ("demo-zipf-inf", ["demo", "--zipf", "inf"], DEMO_USAGE + "argument --zipf: expected a number >= 0, not 'inf'"),
    ("demo-seconds-nan", ["demo", "--seconds", "nan"], DEMO_USAGE + "argument --seconds: expected a number >= 0, not 'nan'"),
    ("demo-delay-negative", ["demo", "--delay-ms", "-1"], DEMO_USAGE + "argument --delay-ms: expected a number >= 0, not '-1'"),
    ("demo-absent-2", ["demo", "--absent", "2"], DEMO_USAGE + "argument --absent: expected a fraction in [0, 1], not '2'"),
    ("demo-cache-size-text", ["demo", "--cache-size", "lots"],
     DEMO_USAGE + f"argument --cache-size: invalid size 'lots': {SIZE_HINT}"),
    ("demo-admission-lru", ["demo", "--admission", "lru"],
     DEMO_USAGE + "argument --admission: invalid choice: 'lru' (choose from 'tinylfu', 'none')"),
    ("demo-seed-text", ["demo", "--seed", "x"], DEMO_USAGE + "argument --seed: invalid int value: 'x'"),
    ("demo-requests-without-local", ["demo", "--requests", "5"], "distcache demo: --requests needs --local"),
]


def _fill(text: str, files: dict[str, str], port: int) -> str:
    """text with {port} and the {name} of each file replaced (other braces are kept)."""
    for name, value in {**files, "port": str(port)}.items():
        text = text.replace("{" + name + "}", value)
    return text


@pytest.mark.parametrize(("argv", "line"), [r[1:] for r in CLI_ROWS], ids=[r[0] for r in CLI_ROWS])
def test_bad_flag_exits_2_with_one_line_naming_it(cli_files: dict[str, str], argv: list[str],
                                                  line: str) -> None:
    port = free_port()
    r = run_cli([_fill(a, cli_files, port) for a in argv])
    assert r.status == 2, r.stderr
    expected = _fill(line, cli_files, port)
    if ": error: " in expected:  # the parser's: its usage, then the one line
        assert r.stderr[0].startswith("usage: distcache") and r.stderr[-1] == expected, r.stderr
        assert sum(": error: " in s for s in r.stderr) == 1, r.stderr
    else:
        assert r.stderr == [expected]


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m distcache ARGS` with a 60 s limit (a node that starts would be killed)."""
    return subprocess.run([sys.executable, "-m", "distcache", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_a_busy_port_is_one_line_and_exit_2(cli_files: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_module(*[_fill(a, cli_files, port) for a in _serve()])
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"distcache serve: cannot listen on 127.0.0.1:{port}: Address already in use"]


@pytest.mark.parametrize("argv", [
    _serve(addr="127.0.0.1:99999"),
    _serve("--token", ""),
    _serve("--tls-cert", "{garbage}", "--tls-key", "{garbage}"),
    _serve("--timeout", "inf"),
], ids=["port-99999", "token-empty", "tls-not-pem", "timeout-inf"])
def test_as_a_process_a_bad_flag_is_one_line_and_exit_2(cli_files: dict[str, str],
                                                        argv: list[str]) -> None:
    # A crash would print a traceback and exit 1; gRPC's own log lines would
    # come before ours; an accepted flag would serve until the 60 s limit.
    r = run_module(*[_fill(a, cli_files, free_port()) for a in argv])
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("distcache serve: "), r.stderr
