"""The caches the comparison runner puts side by side, behind one small interface.

Each library says how to build a cache for a number of entries (count-bounded
peers) or a byte budget (distcache), how to fill it, which callable does a
get, and which measurements apply to it (a dict never evicts, so "set with
eviction" does not apply; functools.lru_cache only answers gets).
"""

from __future__ import annotations

import functools
import importlib
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

GET_HITS = frozenset({"get_hit_hot", "get_hit_wide", "threads"})
ALL = GET_HITS | {"get_miss", "set_evict", "rss"}


@dataclass(frozen=True)
class Library:
    """One column of the comparison table."""

    name: str  # column name in the table
    module: str  # import name
    what: str  # the class or function measured
    applies: frozenset[str]  # measurement ids that make sense for it
    distribution: str | None = None  # package index name, for its version

    def load(self) -> Any:
        """The imported module (ImportError when the bench extra is missing)."""
        return importlib.import_module(self.module)

    def available(self) -> bool:
        """Whether the module imports here."""
        try:
            self.load()
        except ImportError:
            return False
        return True

    def version(self) -> str:
        """The installed version, for the table's header."""
        if self.module in ("builtins", "functools"):
            return "Python " + platform.python_version()
        mod = self.load()
        if self.name == "distcache":
            return f"{mod.__version__} ({mod.IMPLEMENTATION})"
        if self.distribution:
            from importlib.metadata import version

            return version(self.distribution)
        return getattr(mod, "__version__", "?")

    def make(self, entries: int, max_bytes: int) -> Any:
        """An empty cache for `entries` entries (count-bounded) or `max_bytes` (distcache)."""
        mod = self.load()
        if self.name == "distcache":
            return mod.LRUCache(max_bytes=max_bytes)
        if self.name == "dict":
            return {}
        if self.name == "lru_cache":
            return _CachedFunction(entries)
        if self.name == "cachebox":
            return mod.LRUCache(entries)
        if self.name == "lru-dict":
            return mod.LRU(entries)
        if self.name == "cachetools":
            return mod.LRUCache(maxsize=entries)
        raise ValueError(self.name)

    def fill(self, cache: Any, items: Iterable[tuple[str, bytes]]) -> None:
        """Store every (key, value) pair."""
        if isinstance(cache, _CachedFunction):
            cache.fill(items)
            return
        for k, v in items:
            cache[k] = v

    def getter(self, cache: Any) -> Callable[[str], Any]:
        """The callable a get benchmark calls with one key."""
        if isinstance(cache, _CachedFunction):
            return cache.function
        return cache.get


class _CachedFunction:
    """functools.lru_cache around a lookup in a dict: a hit never calls the function."""

    def __init__(self, maxsize: int) -> None:
        self.source: dict[str, bytes] = {}
        self.function = functools.lru_cache(maxsize=maxsize)(self.source.__getitem__)

    def fill(self, items: Iterable[tuple[str, bytes]]) -> None:
        for k, v in items:
            self.source[k] = v
            self.function(k)


LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        Library("distcache", "distcache", "distcache.LRUCache", ALL),
        Library("dict", "builtins", "dict", GET_HITS | {"get_miss", "rss"}),
        Library("lru_cache", "functools", "functools.lru_cache", GET_HITS),
        Library("cachebox", "cachebox", "cachebox.LRUCache", ALL, "cachebox"),
        Library("lru-dict", "lru", "lru.LRU", ALL, "lru-dict"),
        Library("cachetools", "cachetools", "cachetools.LRUCache", ALL, "cachetools"),
    )
}
