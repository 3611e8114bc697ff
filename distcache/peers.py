"""The seam between a group and the network, as groupcache's peers.go.

A group sees other nodes only through these protocols; the gRPC pool
implements them, and the tests' in-process fake peer does too, so group logic
is tested without sockets. This module imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["Getter", "NotFound", "Peer", "PeerPicker"]


class NotFound(KeyError):
    """The answer that a key does not exist in the source of truth."""


Getter = Callable[[str], Any]
"""A group's source of truth: key -> bytes-like, or raise NotFound."""


@runtime_checkable
class Peer(Protocol):
    """Another node that can answer for the keys it owns."""

    def get(self, group: str, key: str) -> bytes:
        """The value of key in the named group; raises NotFound when the source lacks it."""
        ...


@runtime_checkable
class PeerPicker(Protocol):
    """Chooses the owner of a key: a Peer, or None when this node owns it."""

    def pick_peer(self, key: str) -> Peer | None:
        """The peer that owns key, or None when the local node does."""
        ...
