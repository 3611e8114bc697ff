"""Differential fuzzing: the C core and its Python twin, given the same calls, agree.

One input is one object (an LRUCache, plain or with TinyLFU admission, a
BloomFilter or a CountMinSketch) made with fuzzer-chosen constructor
arguments, then up to MAX_OPS fuzzer-chosen calls with odd keys (str, bytes,
bytearray, memoryviews flat, 2-D and strided, arrays, surrogates, wrong types,
empty, at and over MAX_KEY_LEN) and values of every size (up to 40 KiB, across
get_many's 4 KiB and get's 32 KiB copy thresholds). Every answer, every
raised exception's type and message, stats() and the figures after each call,
and _check_invariants() of both at the end must agree; docs/internals.md
specifies eviction order, counters and bit positions exactly, so nothing is
left out (tests/core/test_twin_statemachine.py compares the same).

Expiry without sleeping: neither core takes a clock, so a ttl is either one
that cannot run out during an input (an hour, inf, 2**60) or one that has run
out before the next call (1 ns, 1e-12 s as a Fraction): both are decided the
same way by both implementations. A ttl in between would race the clock and
is not drawn.

Run: ``python -m tests.fuzz.core_diff [libFuzzer flags] [corpus dirs]``.
"""

from __future__ import annotations

import array
import copy
import math
import pickle
import sys
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import atheris

from distcache import _core, _pycore

MAX_OPS = 48

HOT = ["a", "b", "é", "", "日本", "k0", "k1"]
NAMES = HOT + [f"k{i}" for i in range(2, 30)]


class StrKey(str):
    """A str subclass: a key by its UTF-8 like any str."""


class BytesKey(bytes):
    """A bytes subclass: a key by its buffer."""


WRONG_KEYS: list[Any] = [5, None, 1.5, True, [], ("a",), object(), {"a": 1}, 2**70]
TTLS: list[Any] = [
    None, None, None, 3600, 3600.0, math.inf, 2**53, 2**60, 1e308, Decimal("7200"),
    1e-9, Fraction(1, 10**12),  # run out before the next call
    0, 0.0, -1, -0.5, -math.inf, math.nan, "1", b"1", True, False, [], Decimal("NaN"),
]
FORCES: list[Any] = [False, False, True, 0, 1, None, "x"]
DEFAULTS: list[Any] = [None, b"default", 0, "d"]
VALUE_SIZES = [0, 1, 7, 60, 200, 4095, 4096, 4097, 32767, 32768, 32769, 40000]


def outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    """("ok", answer) or ("raised", exception type, message): what a call did."""
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


class Twins:
    """One object of each implementation, and the comparison of every call on them."""

    def __init__(self, c: Any, p: Any, figures: Callable[[Any], Any]) -> None:
        self.c = c
        self.p = p
        self.figures = figures  # what must agree after every call (stats, sizes)
        self.log: list[str] = []  # the calls so far, for the failure message

    def same(self, what: str, fn: Callable[[Any], Any]) -> Any:
        self.log.append(what)
        got_c = outcome(lambda: fn(self.c))
        got_p = outcome(lambda: fn(self.p))
        self.agree(got_c == got_p, f"{what}: C {got_c!r:.300} != twin {got_p!r:.300}")
        c_fig, p_fig = self.figures(self.c), self.figures(self.p)
        self.agree(c_fig == p_fig, f"after {what}: C {c_fig!r} != twin {p_fig!r}")
        return got_c

    def agree(self, ok: bool, message: str) -> None:
        if not ok:
            calls = "\n  ".join(self.log[-12:])
            raise AssertionError(f"{message}\nlast calls:\n  {calls}")


# ------------------------------------------------------------------ inputs


def key(fdp: atheris.FuzzedDataProvider) -> Any:
    """A key: mostly a few names in several forms (so that calls meet), else odd."""
    kind = fdp.ConsumeIntInRange(0, 19)
    name = fdp.PickValueInList(NAMES)
    raw = name.encode()
    if kind <= 7:
        return name
    if kind == 8:
        return raw
    if kind == 9:
        return bytearray(raw)
    if kind == 10:
        return memoryview(raw)
    if kind == 11:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 12))  # surrogates too
    if kind == 12:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 12))
    if kind == 13:
        n = fdp.PickValueInList([65534, 65535, 65536, 70000])
        if fdp.ConsumeBool():
            return b"k" * n
        return "é" * (n // 2) + "x" * (n % 2)  # é is two UTF-8 bytes
    if kind == 14:
        return fdp.PickValueInList(WRONG_KEYS)
    if kind == 15:
        return memoryview(raw + raw)[::2]  # strided: not C-contiguous
    if kind == 16:
        return StrKey(name) if fdp.ConsumeBool() else BytesKey(raw)
    if kind == 17:
        data = (raw * 4)[:4] if raw else b"abcd"
        return memoryview(data).cast("B", (2, len(data) // 2))  # 2-D, C-contiguous
    if kind == 18:
        return array.array("H", (raw + b"\0")[: len(raw) // 2 * 2])
    return memoryview(bytearray(raw))  # writable: not hashable


def value(fdp: atheris.FuzzedDataProvider) -> Any:
    """A value of one of VALUE_SIZES (or a fuzzed size), mostly bytes, sometimes invalid."""
    size = fdp.PickValueInList(VALUE_SIZES) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 300)
    data = bytes([fdp.ConsumeIntInRange(0, 255)]) * size
    form = fdp.ConsumeIntInRange(0, 15)
    if form <= 7:
        return data
    if form == 8:
        return bytearray(data)
    if form == 9:
        return memoryview(data)
    if form == 10:
        return memoryview(data + data)[::2]  # not C-contiguous
    if form == 11:
        return array.array("I", bytes(size // 4 * 4))
    if form == 12:
        return memoryview(data[: size // 2 * 2]).cast("B", (2, size // 2)) if size >= 2 else b""
    if form == 13:
        return data.decode("latin-1")  # a str is not a value
    return fdp.PickValueInList([None, 7, 1.5, [b"a"], True])


def keys(fdp: atheris.FuzzedDataProvider) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return fdp.PickValueInList([5, None, "abc", b"ab"])  # not a list of keys
    if kind == 1:
        return (key(fdp) for _ in range(fdp.ConsumeIntInRange(0, 4)))
    return [key(fdp) for _ in range(fdp.ConsumeIntInRange(0, 8))]


def mapping(fdp: atheris.FuzzedDataProvider) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return fdp.PickValueInList([[("a", b"v")], "ab", b"ab", 5, None])  # no items()
    out: dict[Any, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        k = key(fdp)
        try:
            out[k] = value(fdp)
        except (TypeError, ValueError):  # unhashable (a writable memoryview: ValueError)
            continue
    return out


def pick_int(fdp: atheris.FuzzedDataProvider, low: int, high: int, odd: list[Any]) -> Any:
    """An int in [low, high] three times in four, else one of odd."""
    if fdp.ConsumeIntInRange(0, 3):
        return fdp.ConsumeIntInRange(low, high)
    return fdp.PickValueInList(odd)


# ------------------------------------------------------------------ objects


def make(fdp: atheris.FuzzedDataProvider, cls_c: Any, cls_p: Any, args: tuple[Any, ...],
         kwargs: dict[str, Any], figures: Callable[[Any], Any]) -> Twins | None:
    """Both objects, or None when both constructors refused the arguments alike."""
    got_c = outcome(lambda: cls_c(*args, **kwargs))
    got_p = outcome(lambda: cls_p(*args, **kwargs))
    if got_c[0] == "raised" or got_p[0] == "raised":
        assert got_c[0] == got_p[0] and got_c[1:] == got_p[1:], (
            f"{cls_c.__name__}{args}{kwargs}: C {got_c!r} != twin {got_p!r}"
        )
        return None
    return Twins(got_c[1], got_p[1], figures)


def common_op(t: Twins, fdp: atheris.FuzzedDataProvider, cls_c: Any, cls_p: Any) -> None:
    """What every core object refuses alike: copies, pickles, a second or a missing __init__."""
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind == 0:
        t.same("copy", lambda o: copy.copy(o))
    elif kind == 1:
        t.same("pickle", lambda o: pickle.dumps(o))
    elif kind == 2:
        t.same("__init__ again", lambda o: o.__init__(1024))
    elif kind == 3:
        t.same("repr", repr)
    else:
        bare_c, bare_p = cls_c.__new__(cls_c), cls_p.__new__(cls_p)
        for name in ("__repr__", "clear", "__len__"):
            if hasattr(cls_c, name):
                got = [outcome(lambda b=b: getattr(b, name)()) for b in (bare_c, bare_p)]
                t.agree(got[0] == got[1], f"uninitialised {name}: C {got[0]} != twin {got[1]}")


def cache_figures(cache: Any) -> Any:
    return (cache.stats(), len(cache), cache.nbytes, cache.frequency_stats())


def fuzz_cache(fdp: atheris.FuzzedDataProvider, admission: Any) -> None:
    track = fdp.PickValueInList([False, False, True, 1, "yes"])
    small = admission is not None or bool(track)
    # Up to 256 KiB holds several 40 KiB values; a frequency estimate is
    # sized from max_bytes (the twin keeps it in a bytearray), so caches that
    # track stay small, and only plain ones may take the largest budget.
    odd = [0, -1, True, 1.5, "4096", None, 2**63 + 1] + ([] if small else [2**63, 1 << 40])
    max_bytes = pick_int(fdp, 1, fdp.PickValueInList([300, 5000, 1 << 18]), odd)
    shards = fdp.PickValueInList([None, None, 1, 2, 4, 8, 16, 256, 0, 3, -1, 131072, True, 2.0])
    default_ttl = fdp.PickValueInList(TTLS)
    t = make(fdp, _core.LRUCache, _pycore.LRUCache, (max_bytes, default_ttl),
             {"shards": shards, "admission": admission, "track_frequency": track}, cache_figures)
    if t is None:
        return
    for name in ("max_bytes", "default_ttl", "shards", "admission", "tracks_frequency"):
        t.agree(getattr(t.c, name) == getattr(t.p, name), f"attribute {name}")
    for _ in range(MAX_OPS):
        if fdp.remaining_bytes() == 0:
            break
        op = fdp.ConsumeIntInRange(0, 17)
        if op <= 3:
            k, v, ttl, force = key(fdp), value(fdp), fdp.PickValueInList(TTLS), \
                fdp.PickValueInList(FORCES)
            t.same(f"set({k!r:.40}, <{type(v).__name__} {len(v) if hasattr(v, '__len__') else v}>"
                   f", ttl={ttl!r}, force={force!r})",
                   lambda c: c.set(k, v, ttl, force=force))
        elif op == 4:
            k, v = key(fdp), value(fdp)
            t.same(f"[{k!r:.40}] = <{type(v).__name__}>", lambda c: c.__setitem__(k, v))
        elif op <= 7:
            k, d = key(fdp), fdp.PickValueInList(DEFAULTS)
            t.same(f"get({k!r:.40}, {d!r})", lambda c: c.get(k, d))
        elif op == 8:
            k = key(fdp)
            t.same(f"[{k!r:.40}]", lambda c: c[k])
        elif op == 9:
            k = key(fdp)
            t.same(f"delete({k!r:.40})", lambda c: c.delete(k))
        elif op == 10:
            k = key(fdp)
            t.same(f"del [{k!r:.40}]", lambda c: c.__delitem__(k))
        elif op == 11:
            k = key(fdp)
            t.same(f"{k!r:.40} in", lambda c: k in c)
        elif op == 12:
            ks = keys(fdp)
            if not isinstance(ks, list):  # a generator is consumed once: one per side
                items = list(ks) if not isinstance(ks, (int, str, bytes)) and ks is not None else ks
                t.same(f"get_many(iter {items!r:.80})",
                       lambda c: c.get_many(iter(items) if isinstance(items, list) else items))
            else:
                t.same(f"get_many({ks!r:.80})", lambda c: c.get_many(ks))
        elif op == 13:
            m, ttl, force = mapping(fdp), fdp.PickValueInList(TTLS), fdp.PickValueInList(FORCES)
            t.same(f"set_many(<{len(m) if hasattr(m, '__len__') else m}>, ttl={ttl!r}, "
                   f"force={force!r})", lambda c: c.set_many(m, ttl, force=force))
        elif op == 14:
            t.same("clear()", lambda c: c.clear())
        elif op == 15:
            k = key(fdp)
            t.same(f"frequency({k!r:.40})", lambda c: c.frequency(k))
        elif op == 16:
            t.same("iter", lambda c: iter(c))
        else:
            common_op(t, fdp, _core.LRUCache, _pycore.LRUCache)
    t.c._check_invariants()
    t.p._check_invariants()
    present = [name for name in NAMES if name in t.p]
    t.agree([name for name in NAMES if name in t.c] == present, "presence of the names")
    if t.p.tracks_frequency:
        estimates = [t.p.frequency(name) for name in NAMES]
        t.agree([t.c.frequency(name) for name in NAMES] == estimates, "frequency estimates")
    t.agree(cache_figures(t.c) == cache_figures(t.p), "final figures")


def bloom_figures(b: Any) -> Any:
    return (b.bits_set, b.approx_count, b.estimated_fp_rate, b.nbits, b.nhashes,
            b.capacity, b.error_rate)


def fuzz_bloom(fdp: atheris.FuzzedDataProvider) -> None:
    capacity = pick_int(fdp, 1, 3000, [0, -1, True, 1.5, "10", None, 2**62])
    rate = fdp.PickValueInList([
        0.5, 0.1, 0.01, 0.001, 1e-9, 5e-324, 0.999999, 0, 1, -0.1, math.nan, math.inf, "0.1",
        True, None, Fraction(1, 3), fdp.ConsumeProbability(),
    ])
    t = make(fdp, _core.BloomFilter, _pycore.BloomFilter, (capacity, rate), {}, bloom_figures)
    if t is None:
        return
    for _ in range(MAX_OPS):
        if fdp.remaining_bytes() == 0:
            break
        op = fdp.ConsumeIntInRange(0, 6)
        if op <= 1:
            k = key(fdp)
            t.same(f"add({k!r:.40})", lambda b: b.add(k))
        elif op <= 3:
            k = key(fdp)
            t.same(f"{k!r:.40} in", lambda b: k in b)
        elif op == 4:
            ks = keys(fdp)
            items = list(ks) if not isinstance(ks, (list, int, str, bytes)) and ks is not None \
                else ks
            t.same(f"add_many({items!r:.80})", lambda b: b.add_many(items))
        elif op == 5:
            t.same("clear()", lambda b: b.clear())
        else:
            common_op(t, fdp, _core.BloomFilter, _pycore.BloomFilter)


def sketch_figures(s: Any) -> Any:
    return (s.width, s.depth, s.total, s.halvings, s.halve_every,
            [s.estimate(name) for name in HOT])


def fuzz_sketch(fdp: atheris.FuzzedDataProvider) -> None:
    width = pick_int(fdp, 1, 3000, [0, -1, True, 1.5, 2**62, None])
    depth = pick_int(fdp, 1, 16, [0, 17, -1, True, 4.0])
    every = fdp.PickValueInList([0, 0, 1, 2, 7, 50, 1000, 2**33, 2**64 - 1, 2**64, -1, True, 1.5])
    t = make(fdp, _core.CountMinSketch, _pycore.CountMinSketch, (width, depth),
             {"halve_every": every}, sketch_figures)
    if t is None:
        return
    for _ in range(MAX_OPS):
        if fdp.remaining_bytes() == 0:
            break
        op = fdp.ConsumeIntInRange(0, 6)
        if op <= 2:
            k = key(fdp)
            n = pick_int(fdp, 0, 12, [2**31, 2**32 - 1, 2**32, -1, True, 1.5, "1", None])
            t.same(f"add({k!r:.40}, {n!r})", lambda s: s.add(k, n))
        elif op == 3:
            k = key(fdp)
            t.same(f"estimate({k!r:.40})", lambda s: s.estimate(k))
        elif op == 4:
            t.same("halve()", lambda s: s.halve())
        elif op == 5:
            t.same("clear()", lambda s: s.clear())
        else:
            common_op(t, fdp, _core.CountMinSketch, _pycore.CountMinSketch)


def TestOneInput(data: bytes) -> None:  # noqa: N802 -- the name atheris and libFuzzer use
    """One object of each implementation, one run of calls, compared throughout."""
    fdp = atheris.FuzzedDataProvider(data)
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind <= 1:
        fuzz_cache(fdp, None)
    elif kind == 2:
        fuzz_cache(fdp, fdp.PickValueInList(["tinylfu", "tinylfu", "TinyLFU", "lru", True, 1]))
    elif kind == 3:
        fuzz_bloom(fdp)
    else:
        fuzz_sketch(fdp)


if __name__ == "__main__":
    from tests.fuzz.engine import fuzz

    fuzz(TestOneInput)
    sys.exit(0)
