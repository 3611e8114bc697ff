"""What the timed passes run on: an entry's size, cycled lists, a cache filled ahead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asv_bench.libraries import Library
from asv_bench.workload import KEY_LEN, VALUE_LEN


def entry_size(overhead: int, value_len: int = VALUE_LEN) -> int:
    """Bytes a distcache entry of a key and a value of value_len costs."""
    return KEY_LEN + value_len + overhead


def cycle(items: Sequence[Any], n: int) -> list[Any]:
    """n items, going round `items` as often as it takes."""
    return [items[i % len(items)] for i in range(n)]


def filled(lib: Library, ks: Sequence[str], vs: Sequence[bytes], overhead: int) -> Any:
    """A cache of `lib` holding every (key, value), with room to spare."""
    cache = lib.make(len(ks), 2 * len(ks) * entry_size(overhead, len(vs[0])))
    lib.fill(cache, zip(ks, vs, strict=True))
    return cache
