"""Fixtures of the group tests: every group is forgotten after its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from distcache.group.registry import _reset_groups


@pytest.fixture(autouse=True)
def _forget_groups() -> Iterator[None]:
    _reset_groups()
    yield
    _reset_groups()
