"""Rules that the C core and its Python twin both follow, written once.

Argument validation of the constructors, sizing formulas and the errors for
what neither implementation offers (copying, iterating, an instance whose
``__init__`` never ran). ``distcache._core`` and ``distcache._pycore`` import
this module, as msgpack's two implementations share ``ext.py``; the C hot
paths (get, set) do not call into it, while the twin's read keys and values
through its bytes views, which a group also uses to check a write before it
counts one. docs/internals.md states the same rules.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

MAX_BUDGET = 2**63
"""Largest byte budget: the C core keeps it in a uint64_t, halved for headroom."""

MAX_TABLE_BYTES = 2**44
"""Largest bit or counter array a BloomFilter or CountMinSketch may ask for (16 TiB).

Above it a size computation could wrap in 64 bits (2**62 counters of 4
bytes is 2**64 bytes); below it an allocation that fails is a MemoryError.
"""

MAX_KEY_LEN = 65535
"""Longest key, in bytes, that a cache accepts (the C core's DC_MAX_KEY_LEN)."""

MAX_VALUE_LEN = 2**32 - 1
"""Longest value, in bytes: the C core keeps a value's length in a uint32_t."""

ADMISSIONS = (None, "tinylfu")
"""The accepted values of LRUCache's admission argument."""

MAX_VERSION = 2**64 - 1
"""Largest entry version: the C core keeps a version in a uint64_t (0: unversioned)."""


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """value if it is an int (not a bool) in [low, high], else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
        high is not None and value > high
    ):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an int {bound}, not {value!r}")
    return value


def check_limit(limit: Any) -> int:
    """keys()'s limit: an int >= 0, or -1 for None (no limit)."""
    return -1 if limit is None else check_int(limit, "limit", 0)


def check_max_bytes(max_bytes: Any) -> int:
    """A byte budget: an int in [1, 2**63]."""
    return check_int(max_bytes, "max_bytes", 1, MAX_BUDGET)


def check_shards(shards: Any, max_bytes: int) -> int:
    """The shard count: a power of two in [1, 65536], or the default for max_bytes."""
    if shards is None:
        return default_shards(max_bytes)
    check_int(shards, "shards", 1, 65536)
    if shards & (shards - 1):
        raise ValueError(f"shards must be a power of two in [1, 65536], not {shards!r}")
    return shards


def check_version(version: Any, least: int) -> int:
    """An entry version: an int (not a bool) in [least, 2**64 - 1]; TypeError or ValueError."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"version must be an int, not {type(version).__name__}")
    if not least <= version <= MAX_VERSION:
        raise ValueError(f"version must be an int in [{least}, 2**64 - 1], not {version!r}")
    return int(version)


def check_admission(admission: Any) -> Any:
    """admission if it is one of ADMISSIONS, else ValueError."""
    if admission not in ADMISSIONS or isinstance(admission, bool):
        raise ValueError(f"admission must be one of {ADMISSIONS!r}, not {admission!r}")
    return admission


def check_ttl(ttl: Any, name: str) -> float:
    """A ttl as float seconds > 0 (math.inf = never expires); None is the caller's."""
    kind = type(ttl)
    if isinstance(ttl, (bool, str, bytes)) or not (
        hasattr(kind, "__float__") or hasattr(kind, "__index__")
    ):
        raise TypeError(f"{name} must be a number, not {kind.__name__}")
    seconds = float(ttl)
    if not seconds > 0.0:  # also rejects NaN
        raise ValueError(f"{name} must be a positive number of seconds or None, not {ttl!r}")
    return seconds


def check_error_rate(error_rate: Any) -> float:
    """A bloom filter's error rate: a real number in (0, 1), else ValueError."""
    if isinstance(error_rate, (bool, str, bytes)) or not isinstance(error_rate, (int, float)):
        raise ValueError(f"error_rate must be a number in (0, 1), not {error_rate!r}")
    rate = float(error_rate)
    if not 0.0 < rate < 1.0:
        raise ValueError(f"error_rate must be a number in (0, 1), not {error_rate!r}")
    return rate


def default_shards(max_bytes: int) -> int:
    """256 shards, fewer below 2 MiB so that each keeps at least 8 KiB.

    A shard orders only its own keys: with a handful of entries per shard
    eviction approaches random, and a 180 KiB cache over 256 shards hit
    1.4 points below an exact LRU on Zipf(0.99) (8 shards: equal).
    """
    n = 1
    while n < 256 and n * 2 * 8192 <= max_bytes:
        n *= 2
    return n


def tracked_entries(max_bytes: int) -> int:
    """How many keys the frequency estimate is sized for."""
    return min(max(max_bytes // 256, 64), 1 << 24)


def bloom_geometry(capacity: Any, error_rate: Any) -> tuple[int, int, float]:
    """(nbits, nhashes, error_rate) of a BloomFilter, validated."""
    capacity = check_int(capacity, "capacity", 1)
    rate = check_error_rate(error_rate)
    nbits = math.ceil(-capacity * math.log(rate) / math.log(2) ** 2)
    nbits = (nbits + 63) // 64 * 64
    if nbits // 8 > MAX_TABLE_BYTES:
        raise ValueError(
            f"a bloom filter of capacity {capacity} at error_rate {rate} needs "
            f"{nbits // 8} bytes, more than the limit of {MAX_TABLE_BYTES}"
        )
    nhashes = max(1, math.floor(nbits / capacity * math.log(2) + 0.5))
    return nbits, nhashes, rate


def sketch_geometry(width: Any, depth: Any, halve_every: Any) -> tuple[int, int, int]:
    """(width rounded up to a power of two >= 16, depth, halve_every), validated."""
    check_int(width, "width", 1)
    check_int(depth, "depth", 1, 16)
    check_int(halve_every, "halve_every", 0, 2**64 - 1)
    w = max(16, 1 << (width - 1).bit_length())
    if w * depth * 4 > MAX_TABLE_BYTES:
        raise ValueError(
            f"a sketch of width {width} and depth {depth} needs {w * depth * 4} bytes, "
            f"more than the limit of {MAX_TABLE_BYTES}"
        )
    return w, depth, halve_every


def check_count(count: Any) -> int:
    """A sketch increment: an int in [0, 2**32)."""
    return check_int(count, "count", 0, 2**32 - 1)


def items_of(mapping: Any) -> list[tuple[Any, Any]]:
    """The (key, value) pairs of a set_many argument, else TypeError."""
    items = getattr(mapping, "items", None)
    if items is None or isinstance(mapping, (str, bytes)):
        raise TypeError(f"set_many takes a mapping, not {type(mapping).__name__}")
    return list(items())


def refuse_copy(obj: object) -> NoReturn:
    """Raises the TypeError for copying or pickling a core object."""
    raise TypeError(
        f"{type(obj).__name__} objects cannot be copied or pickled: each owns its entries "
        f"and locks; create a new one and fill it"
    )


def refuse_iter(obj: object) -> NoReturn:
    """Raises the TypeError for iterating a cache."""
    raise TypeError(
        f"{type(obj).__name__} is not iterable: keys are not enumerated (a cache is "
        f"not a dict); use get_many() for known keys"
    )


def not_initialised(obj: object) -> NoReturn:
    """Raises the error for an instance whose __init__ did not run."""
    raise RuntimeError(
        f"this {type(obj).__name__} is not initialised: its __init__ was not called"
    )


def already_initialised(obj: object) -> NoReturn:
    """Raises the error for calling __init__ a second time."""
    raise RuntimeError(
        f"this {type(obj).__name__} is already initialised: __init__ runs once "
        f"(other threads may be using it); create a new one instead"
    )


def unhashable_key(key: object) -> NoReturn:
    """Raises the TypeError for a get_many key that cannot key the result dict."""
    raise TypeError(
        f"get_many keys must be hashable, not {type(key).__name__}: "
        f"its result is a dict keyed by the keys as given; pass bytes(key)"
    )


# --- bytes views: the twin's, and the group's checks before it counts a call ---


def as_bytes(obj: Any, what: str) -> bytes:
    """Bytes of a str (UTF-8) or C-contiguous bytes-like object, else TypeError."""
    if type(obj) is bytes:
        return obj
    if isinstance(obj, str):
        return obj.encode("utf-8")
    return buffer_bytes(obj, f"{what} must be str or bytes-like")


def buffer_view(obj: Any, message: str) -> memoryview:
    """A flat byte view of a C-contiguous bytes-like object, TypeError otherwise."""
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"{message}, not {type(obj).__name__}") from None
    if not view.c_contiguous:
        view.release()
        raise TypeError(f"{message} (C-contiguous), not a non-contiguous {type(obj).__name__}")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def buffer_bytes(obj: Any, message: str) -> bytes:
    """Copy of a bytes-like object's buffer, TypeError(message + type) otherwise."""
    with buffer_view(obj, message) as view:
        return view.tobytes()


def key_bytes(key: Any) -> bytes:
    """Bytes of a cache key, checked against MAX_KEY_LEN."""
    data = as_bytes(key, "key")
    if len(data) > MAX_KEY_LEN:
        raise ValueError(f"key is {len(data)} bytes; the limit is {MAX_KEY_LEN}")
    return data


def value_view(value: Any) -> bytes | memoryview:
    """A validated cache value, not yet copied: bytes as given, or a byte view."""
    if type(value) is bytes:
        data: bytes | memoryview = value
    elif isinstance(value, str):
        raise TypeError("value must be bytes-like, not " + type(value).__name__)
    else:
        data = buffer_view(value, "value must be bytes-like")
    if len(data) > MAX_VALUE_LEN:
        raise ValueError(f"value is {len(data)} bytes; the limit is {MAX_VALUE_LEN}")
    return data


def value_bytes(value: Any) -> bytes:
    """Immutable copy of a cache value."""
    data = value_view(value)
    return data if type(data) is bytes else data.tobytes()
