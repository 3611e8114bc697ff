"""The peer pools of the registered groups, and the node's health merged from theirs.

Read by /metrics (prometheus.py) and by /stats and /health (server.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..group import Group

__all__ = ["node_health", "pools_of"]


def pools_of(groups: Iterable[Group]) -> list[Any]:
    """The distinct peer pickers of the groups that can tell their peers' states."""
    seen: dict[int, Any] = {}
    for group in groups:
        picker = group.picker
        if picker is not None and callable(getattr(picker, "peer_states", None)):
            seen.setdefault(id(picker), picker)
    return list(seen.values())


def node_health(pools: list[Any]) -> dict[str, Any]:
    """/health's document: every pool's verdict, merged; healthy without any pool."""
    reasons: list[str] = []
    for pool in pools:
        reasons.extend(pool.health()["reasons"])
    return {"status": "degraded" if reasons else "healthy", "reasons": reasons}
