"""One table of bad inputs for every public entry point of the core, both implementations.

Each row names a call, the exception it must raise and the message it must
carry, word for word the same on the C core and on the twin. Calls on a
cache are made on one that holds two entries; afterwards its contents and
every counter must be as before: a bad input changes nothing.
"""

from __future__ import annotations

import math
import mmap
import tracemalloc
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from distcache.group import new_group

NONCONTIG = memoryview(b"abcdef")[::2]
LIMIT = "9223372036854775808"  # 2**63
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
    # Issue 7, defect 10: the twin copied a 512 MiB value before finding that
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


def test_group_rejects_bad_budgets(core: ModuleType) -> None:
    for bad in (True, 0, 2**70, 2**63 + 1, "1MiB"):
        with pytest.raises(ValueError, match=rf"^max_bytes must be an int in \[1, {LIMIT}\]"):
            new_group("budget", bad, lambda k: b"v", _core=core)


@pytest.mark.parametrize(
    ("returned", "type_name"),
    [(NONCONTIG, "memoryview"), ("text", "str"), (5, "int"), (None, "NoneType")],
)
def test_group_getter_returning_a_non_bytes_like(
    core: ModuleType, returned: Any, type_name: str
) -> None:
    def getter(key: str) -> Any:
        return returned

    g = new_group("odd-getter", 1 << 20, getter, _core=core)
    try:
        with pytest.raises(TypeError, match=rf"^getter \S+getter returned {type_name}, not a \(C-contiguous\) bytes-like object$"):
            g.get("k")
        assert "k" not in g._main
    finally:
        g.close()
