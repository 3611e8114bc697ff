"""Shared fixtures: every core test runs against the C module and its Python twin,
and a group scenario that takes `calls` runs through the sync and the asyncio API."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pytest

CORE_MODULES = {"c": "distcache._core", "python": "distcache._pycore"}


def import_core(impl: str) -> ModuleType:
    """The core module for impl ("c" or "python"); a missing C build fails the test."""
    name = CORE_MODULES[impl]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(
            f"{name} cannot be imported ({exc}); build the C extension with `make build` "
            f"(run only the Python twin with `-k python`)",
            pytrace=False,
        )


@pytest.fixture(params=list(CORE_MODULES), ids=list(CORE_MODULES))
def core(request: pytest.FixtureRequest) -> ModuleType:
    """The distcache._core module or the distcache._pycore twin."""
    return import_core(request.param)


# How long one awaited call of the `calls` fixture may take before it counts
# as a hang (the pytest timeout is the bound behind it).
CALL_BOUND = 20.0


class SyncCalls:
    """A group's reads and writes through get, get_many, set and delete."""

    mode = "sync"

    def get(self, group: Any, key: Any) -> bytes:
        return group.get(key)  # type: ignore[no-any-return]

    def get_many(self, group: Any, keys: Iterable[Any]) -> dict[Any, bytes]:
        return group.get_many(keys)  # type: ignore[no-any-return]

    def set(self, group: Any, key: Any, value: bytes, ttl: float | None = None) -> None:
        group.set(key, value, ttl)

    def delete(self, group: Any, key: Any) -> bool:
        return group.delete(key)  # type: ignore[no-any-return]


class AsyncCalls:
    """The same through aget, aget_many, aset and adelete, each awaited on a fresh loop."""

    mode = "async"

    @staticmethod
    def _run(coro: Any) -> Any:
        return asyncio.run(asyncio.wait_for(coro, CALL_BOUND))

    def get(self, group: Any, key: Any) -> bytes:
        return self._run(group.aget(key))  # type: ignore[no-any-return]

    def get_many(self, group: Any, keys: Iterable[Any]) -> dict[Any, bytes]:
        return self._run(group.aget_many(keys))  # type: ignore[no-any-return]

    def set(self, group: Any, key: Any, value: bytes, ttl: float | None = None) -> None:
        self._run(group.aset(key, value, ttl))

    def delete(self, group: Any, key: Any) -> bool:
        return self._run(group.adelete(key))  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"], ids=["sync", "async"])
def calls(request: pytest.FixtureRequest) -> SyncCalls | AsyncCalls:
    """A group's API, sync or asyncio: a scenario that takes it runs through both."""
    return SyncCalls() if request.param == "sync" else AsyncCalls()
