"""The getter of a group whose values come from ``@cached`` functions.

A key of such a group starts with the name of the function that computes it
(``"app.users.load_user:..."``); the table maps that name to a loader that
rebuilds the call from the key, runs it and serializes the result. Every
node of a cluster runs the same code and so holds the same table: whichever
node owns a key can load it. A leaf module: it knows nothing of groups.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FunctionTable"]


@dataclass(frozen=True)
class _Entry:
    load: Callable[[str], Any]  # key -> bytes, or an awaitable of bytes when is_async
    is_async: bool
    ttl: float | None


class FunctionTable:
    """Loaders by function name; called with a key, it runs the loader the key names."""

    def __init__(self, group: str) -> None:
        self.group = group
        # Guards _entries (registrations may come from threads importing modules).
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def register(
        self, name: str, load: Callable[[str], Any], *, is_async: bool, ttl: float | None
    ) -> None:
        """Route keys "<name>:..." to load; a second registration of name replaces the first."""
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"a function name must be a non-empty str without ':', not {name!r}")
        with self._lock:
            self._entries[name] = _Entry(load, bool(is_async), ttl)

    def names(self) -> list[str]:
        """The registered function names."""
        with self._lock:
            return list(self._entries)

    def _entry(self, key: str) -> _Entry:
        name = key.partition(":")[0]
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            raise LookupError(
                f"group {self.group!r} has no @cached function {name!r} for key {key!r} "
                f"(its getter is its @cached functions)"
            )
        return entry

    def __call__(self, key: str) -> Any:
        """The loaded value of key: bytes, or an awaitable of them for an async function."""
        return self._entry(key).load(key)

    def is_async(self, key: str) -> bool:
        """Whether the function of key is an async def (its loader returns an awaitable)."""
        return self._entry(key).is_async

    def ttl(self, key: str) -> float | None:
        """The ttl the function of key was declared with (None: the group's default)."""
        return self._entry(key).ttl
