"""The registry of groups: one group per name in a process, as in groupcache.

A leaf: ``new_group`` (group.py) hands ``register`` a maker of the group, so
this module never imports the class it holds (only for type checkers).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .group import Group

__all__ = ["all_groups", "check_name", "get_group", "register", "unregister"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# Guards _groups.
_groups_lock = threading.Lock()
_groups: dict[str, Group] = {}


def check_name(name: object) -> None:
    """Raises ValueError unless name is a group name: 1 to 64 of [A-Za-z0-9_.-]."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(f"group name must match [A-Za-z0-9_.-]{{1,64}}, not {name!r}")


def register(name: str, make: Callable[[], Group]) -> Group:
    """make() registered under name; ValueError if the name is taken (make is then not called).

    make runs under the lock, so that of two callers racing for one name only
    one builds a group.
    """
    check_name(name)
    with _groups_lock:
        if name in _groups:
            raise ValueError(f"group {name!r} already exists")
        group = make()
        _groups[name] = group
    return group


def unregister(group: Group) -> None:
    """Forget group, if it is still the one registered under its name."""
    with _groups_lock:
        if _groups.get(group.name) is group:
            del _groups[group.name]


def get_group(name: str) -> Group | None:
    """The registered group named name, or None."""
    with _groups_lock:
        return _groups.get(name)


def all_groups() -> list[Group]:
    """Every registered group, in the order they were created."""
    with _groups_lock:
        return list(_groups.values())


def _reset_groups() -> None:
    """Forget every registered group (for tests)."""
    with _groups_lock:
        _groups.clear()
