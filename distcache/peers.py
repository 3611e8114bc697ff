"""The seam between a group and the network, as groupcache's peers.go.

A group sees other nodes only through these protocols; the gRPC pool
implements them, and the tests' in-process fake peer does too, so group logic
is tested without sockets. This module imports nothing of the package.

Every call a group makes to a peer carries ``forwarded=True``: the receiver
answers from its own cache or source and never passes the request on, so two
nodes that disagree about the ring cannot forward to each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["AsyncPeer", "Getter", "NotFound", "Peer", "PeerPicker", "Placement"]


class NotFound(KeyError):
    """The answer that a key does not exist in the source of truth."""


Getter = Callable[[str], Any]
"""A group's source of truth: key -> bytes-like, or raise NotFound."""


@runtime_checkable
class Peer(Protocol):
    """Another node, as a group calls it."""

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        """The value of key in the named group; raises NotFound when the source lacks it."""
        ...

    def get_many(
        self, group: str, keys: Iterable[str], *, forwarded: bool = True
    ) -> dict[str, bytes]:
        """The values of the keys the peer has or can load (absent keys left out)."""
        ...

    def set(
        self, group: str, key: str, value: bytes, ttl: float | None = None,
        *, forwarded: bool = True, version: int = 0,
    ) -> int:
        """Stores value in the peer's cache (never in the source of truth); a versioned
        value only when it is newer than the one the peer holds. The version the
        write took there (0 when the peer versions nothing)."""
        ...

    def delete(self, group: str, key: str, *, forwarded: bool = True, version: int = 0) -> bool:
        """Drops key from the peer's caches, hot copy included; True if it had it; a
        versioned Delete leaves a tombstone that older writes cannot pass."""
        ...

    # Optional: order_set(group, key, value, ttl) -> int and
    # order_delete(group, key) -> int (and their awaited twins aorder_set,
    # aorder_delete). The peer, the key's first replica, orders a client's
    # write: versions it with its clock and applies it, passing it to no one;
    # it returns the version (0: it ordered nothing, an older node), which
    # the caller's copies to the other nodes carry. docs/grpc.md, "Consistency".


@runtime_checkable
class AsyncPeer(Protocol):
    """Another node, as a coroutine calls it: Peer's calls, awaited on the running loop."""

    async def aget(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        """The value of key in the named group; raises NotFound when the source lacks it."""
        ...

    async def aget_many(
        self, group: str, keys: Iterable[str], *, forwarded: bool = True
    ) -> dict[str, bytes]:
        """The values of the keys the peer has or can load (absent keys left out)."""
        ...

    async def aset(
        self, group: str, key: str, value: bytes, ttl: float | None = None,
        *, forwarded: bool = True, version: int = 0,
    ) -> int:
        """Stores value in the peer's cache (never in the source of truth); a versioned
        value only when it is newer than the one the peer holds; the version it took."""
        ...

    async def adelete(
        self, group: str, key: str, *, forwarded: bool = True, version: int = 0
    ) -> bool:
        """Drops key from the peer's caches, hot copy included; True if it had it."""
        ...


@dataclass(frozen=True)
class Placement:
    """Where a key lives: its replicas in ring order, None standing for this node."""

    replicas: tuple[Peer | None, ...]
    # Replicas of the key under the ring before the last change, while that
    # change is recent, that are not replicas now: a replica that misses the
    # key asks them for their copy too (a ring change's handoff).
    previous: tuple[Peer, ...] = ()
    # The replicas now that were not replicas under that ring (the ones a
    # change added, which a handoff sends the key to).
    added: tuple[Peer, ...] = ()

    @property
    def local(self) -> bool:
        """Whether this node is one of the key's replicas."""
        return None in self.replicas

    @property
    def others(self) -> tuple[Peer, ...]:
        """The replicas other than this node, in ring order (the failover order)."""
        return tuple(p for p in self.replicas if p is not None)


@runtime_checkable
class PeerPicker(Protocol):
    """Knows the ring: where each key lives, and every other node."""

    def placement(self, key: str) -> Placement:
        """The key's replica set, in ring order."""
        ...

    def peers(self) -> tuple[Peer, ...]:
        """Every node but this one (the receivers of a broadcast)."""
        ...

    # Optional: a picker may have max_value, the largest value (in bytes) its
    # peers take; a group then refuses a larger set before storing it.
