"""A group's writes: set/aset and delete/adelete, side by side, and their broadcasts.

A write acts here under the write fence (writefence.py), so that a load it
overtook stores nothing, then tells every other node in one call each: the
key's replicas a set, the rest a delete of any hot copy, all marked
forwarded so that none passes it on. The source of truth is never written.
With peers, a write takes a version from the pool's clock (distcache/hlc.py)
and a replica applies a peer's versioned write only when it is newer than
the value it holds, so the replicas of a key end with the same value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._contract import check_ttl, check_version, key_bytes, value_view
from ..peers import Peer, Placement
from . import offload
from .keys import key_str

if TYPE_CHECKING:
    from .state import GroupState
else:
    GroupState = object

__all__ = ["Writes"]


def _check_write(key: str, value: Any, ttl: Any) -> None:
    """Raises what the core would for a bad key, value or ttl, before a set is
    counted or sent anywhere (a non-replica stores nothing, so its core never sees them)."""
    key_bytes(key)
    value_view(value)
    if ttl is not None:
        check_ttl(ttl, "ttl")


class Writes(GroupState):
    """A Group's set and delete, sync and async side by side (a mixin)."""

    def set(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False,
        version: int = 0,
    ) -> int:
        """Store value under key in the cache of every replica (never in the source);
        the version the write took (0 without peers).

        The other nodes get one call each: the replicas a set, the rest a
        delete of any hot copy, both marked forwarded so that none of them
        passes it on (no storms). forwarded=True (a peer's call) acts here only.
        With peers, the write is versioned here (the pool's clock); a peer's
        write carries its version and is applied only when newer than the
        value held (docs/grpc.md, "Consistency").
        """
        key = key_str(key)
        placement, version = self._set_here(key, value, ttl, forwarded, version)
        if not forwarded and placement is not None:
            value = bytes(value)
            replicas = placement.others
            failed = self._broadcast(
                lambda peer: peer.set(self.name, key, value, ttl, forwarded=True, version=version)
                if peer in replicas
                else peer.delete(self.name, key, forwarded=True)
            )
            self._check_set(placement, failed)
        self._counts.add("sets_ok")
        return version

    async def aset(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False,
        version: int = 0,
    ) -> int:
        """set for asyncio: the other nodes are told concurrently, on the loop."""
        key = key_str(key)
        placement, version = self._set_here(key, value, ttl, forwarded, version)
        if not forwarded and placement is not None:
            value = bytes(value)
            replicas = placement.others
            failed = await self._abroadcast(
                lambda peer: offload.ask(peer, "set", self.name, key, value, ttl, forwarded=True,
                                         version=version)
                if peer in replicas
                else offload.ask(peer, "delete", self.name, key, forwarded=True)
            )
            self._check_set(placement, failed)
        self._counts.add("sets_ok")
        return version

    def _set_here(
        self, key: str, value: Any, ttl: float | None, forwarded: bool, version: int
    ) -> tuple[Placement | None, int]:
        """set's work on this node; the key's placement (None without peers) and the
        write's version (0: unversioned)."""
        _check_write(key, value, ttl)
        check_version(version, 0)
        limit = getattr(self._picker, "max_value", None)
        if limit is not None and not forwarded and memoryview(value).nbytes > limit:
            # Stored here, it could reach no other replica: refused whole.
            raise ValueError(f"value is {memoryview(value).nbytes} bytes; "
                             f"this group's peers take at most {limit}")
        self._counts.add("sets")
        clock = self._clock
        if clock is not None:
            if not forwarded:
                version = clock.now()
            elif version:
                clock.observe(version)  # this node's next versions come after it
        placement = self._placement(key)
        with self._fence.write(key):
            if forwarded and version:
                # A peer's versioned write: a replica push of a load, or a set
                # made elsewhere. An older one than what is held, or than a
                # Delete still remembered, changes nothing.
                if (version <= self._tombstones.version_of(key)
                        or not self._store_newer(key, value, ttl, version)):
                    self._counts.add("superseded_writes")
            elif placement is None or placement.local or forwarded:
                self._store(key, value, ttl, force=True, version=version)
            else:
                self._main.delete(key)  # a non-replica keeps no main copy
            if self._hot is not None:
                self._hot.delete(key)
        if self._negative is not None:
            self._negative.discard(key)
        return placement, version

    def _store_newer(self, key: str, value: Any, ttl: float | None, version: int) -> bool:
        """Stores value when version is newer than the held one; whether it did."""
        if ttl is not None and self._stale_ttl:
            ttl += self._stale_ttl
        return bool(self._main.set_if_newer(key, value, version, ttl))

    def _check_set(self, placement: Placement, failed: dict[Peer, Exception]) -> None:
        """Raises when no replica took a set made on a node that is not one."""
        replicas = placement.others
        if not placement.local and replicas and all(p in failed for p in replicas):
            self._counts.add("set_errors")
            raise failed[replicas[0]]

    def delete(self, key: str, *, forwarded: bool = False, version: int = 0) -> bool:
        """Drop key from every node's caches (main, hot, negative); True if it was cached here.

        The source of truth is not touched: the next get loads the key again.
        forwarded=True (a peer's call) acts here only. With peers, the Delete
        is versioned and leaves a tombstone, so that an older write arriving
        later (a push of a load queued before it) does not bring the key back.
        """
        return self.delete_versioned(key, forwarded=forwarded, version=version)[0]

    def delete_versioned(
        self, key: str, *, forwarded: bool = False, version: int = 0
    ) -> tuple[bool, int]:
        """delete, and the version the Delete took (0 without peers): what a node
        answers a DeleteRequest with."""
        key = key_str(key)
        found, version = self._delete_here(key, forwarded, version)
        if not forwarded and self._picker is not None:
            self._broadcast(
                lambda peer: peer.delete(self.name, key, forwarded=True, version=version)
            )
        return found, version

    async def adelete(self, key: str, *, forwarded: bool = False, version: int = 0) -> bool:
        """delete for asyncio: the other nodes are told concurrently, on the loop."""
        key = key_str(key)
        found, version = self._delete_here(key, forwarded, version)
        if not forwarded and self._picker is not None:
            await self._abroadcast(
                lambda peer: offload.ask(peer, "delete", self.name, key, forwarded=True,
                                         version=version)
            )
        return found

    def _delete_here(self, key: str, forwarded: bool, version: int) -> tuple[bool, int]:
        key_bytes(key)  # a key the core refuses is not counted
        check_version(version, 0)
        self._counts.add("deletes")
        clock = self._clock
        if clock is not None:
            if not forwarded:
                version = clock.now()
            elif version:
                clock.observe(version)
        with self._fence.write(key):
            if version:
                self._tombstones.record(key, version)
            found: bool = self._main.delete(key)
            if self._hot is not None:
                found = self._hot.delete(key) or found
        if self._negative is not None:
            self._negative.discard(key)
        return found, version

    def _broadcast(self, call: Callable[[Peer], Any]) -> dict[Peer, Exception]:
        """call(peer) for every other node; the failures, by peer (counted)."""
        assert self._picker is not None
        failed: dict[Peer, Exception] = {}
        self._counts.add("broadcasts")
        for peer in self._picker.peers():
            try:
                call(peer)
            except Exception as exc:  # counted; that node's copy ages out by its ttl
                self._counts.add("broadcast_errors")
                failed[peer] = exc
            else:
                self._counts.add("broadcast_calls_ok")
        return failed

    async def _abroadcast(self, call: Callable[[Peer], Any]) -> dict[Peer, Exception]:
        """_broadcast for a task: every other node's call awaited together."""
        assert self._picker is not None
        self._counts.add("broadcasts")
        peers = self._picker.peers()
        answers = await asyncio.gather(*(call(peer) for peer in peers), return_exceptions=True)
        failed: dict[Peer, Exception] = {}
        for peer, answer in zip(peers, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                self._counts.add("broadcast_errors")
                failed[peer] = answer
            else:
                self._counts.add("broadcast_calls_ok")
        return failed
