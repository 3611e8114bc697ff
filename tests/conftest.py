"""Shared fixtures: every core test runs against the C module and its Python twin."""

from __future__ import annotations

import importlib
from types import ModuleType

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
