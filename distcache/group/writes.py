"""A group's writes: set/aset and delete/adelete, side by side, and how they reach every node.

A write acts here under the write fence (writefence.py), so that a load it
overtook stores nothing, then reaches every other node in one call each:
the key's replicas a versioned set (or delete), the rest a delete of any hot
copy, all marked forwarded so that none passes it on. The source of truth is
never written.

With peers, a client's write is ordered by the key's first replica when it
is reachable: the node the client asked hands it over (``order_set``), the
first replica versions it with its clock (distcache/hlc.py) and applies it,
and the asking node sends it with that version to the other replicas and
tells the rest. So the writes of one key are versioned by one clock
whichever node they came through. When the first replica cannot be reached
the asking node orders the write itself. A replica applies a peer's versioned write only when it is
newer than the value it holds, so the replicas of a key end with the same
value; a call that fails, or a peer marked down, leaves a hint (hints.py)
that is replayed when that peer is up again.
"""

from __future__ import annotations

import asyncio
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

# One call of a write's delivery: ("set", value, version, ttl) for a replica,
# ("delete", None, version, None) for a Delete or a hot copy.
Call = tuple[str, "bytes | None", int, "float | None"]
# A write's calls in two waves: the key's replicas, then every other node.
# The order matters: a node told to drop its hot copy before a replica has
# the write could read the old value from that replica and copy it again.
Waves = tuple[dict[Any, Call], dict[Any, Call]]


def _check_write(key: str, value: Any, ttl: Any) -> None:
    """Raises what the core would for a bad key, value or ttl, before a set is
    counted or sent anywhere (a non-replica stores nothing, so its core never sees them)."""
    key_bytes(key)
    value_view(value)
    if ttl is not None:
        check_ttl(ttl, "ttl")


def _reachable(peer: Any) -> bool:
    """Whether a write is worth a call: the peer is not in its back-off (_Peer.up)."""
    return bool(getattr(peer, "up", True))


def _orders(peer: Any) -> bool:
    """Whether peer can order a write of a key it is the first replica of."""
    return callable(getattr(peer, "order_set", None)) and _reachable(peer)


class Writes(GroupState):
    """A Group's set and delete, sync and async side by side (a mixin)."""

    # -- set --

    def set(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False,
        version: int = 0,
    ) -> int:
        """Store value under key in the cache of every replica (never in the source);
        the version the write took (0 without peers).

        The other nodes get one call each: the replicas a set, the rest a
        delete of any hot copy, both marked forwarded so that none of them
        passes it on (no storms). forwarded=True (a peer's call) acts here
        only, and a peer's versioned write is applied only when newer than
        the value held (docs/grpc.md, "Consistency").
        """
        return self.set_versioned(key, value, ttl, forwarded=forwarded, version=version)[0]

    def set_versioned(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False,
        version: int = 0,
    ) -> tuple[int, int]:
        """set, and (the version the write took, how many of the key's replicas did not
        take it yet): what a node answers a SetRequest with. A replica that missed it
        is sent it when it is seen up again (hints.py)."""
        key = key_str(key)
        placement = self._begin_set(key, value, ttl, forwarded, version)
        missed = 0
        if forwarded or placement is None:
            version = self._set_here(key, value, ttl, placement, forwarded, version)
        else:
            value = bytes(value)
            first, refused = self._first_replica(placement), None
            if first is not None:
                try:
                    version = first.order_set(self.name, key, value, ttl)  # type: ignore[attr-defined]
                except Exception:  # ordered here instead; the first replica gets a hint
                    self._counts.add("ordering_failures")
                    version, refused = 0, first
                if version:
                    self._after_ordered(key, placement, value, ttl, version)
                    failed = self._deliver(
                        key, self._set_calls(placement, value, version, ttl, first))
                    self._counts.add("sets_ok")
                    return version, sum(p in failed for p in placement.others)
            version = self._set_here(key, value, ttl, placement, False, 0)
            failed = self._deliver(key, self._set_calls(placement, value, version, ttl), refused)
            self._check_set(placement, failed)
            missed = sum(p in failed for p in placement.others)
        self._counts.add("sets_ok")
        return version, missed

    async def aset(
        self, key: str, value: bytes, ttl: float | None = None, *, forwarded: bool = False,
        version: int = 0,
    ) -> int:
        """set for asyncio: the other nodes are told concurrently, on the loop."""
        key = key_str(key)
        placement = self._begin_set(key, value, ttl, forwarded, version)
        if forwarded or placement is None:
            version = self._set_here(key, value, ttl, placement, forwarded, version)
        else:
            value = bytes(value)
            first, refused = self._first_replica(placement), None
            if first is not None:
                try:
                    version = await offload.ask(first, "order_set", self.name, key, value, ttl)
                except Exception:
                    self._counts.add("ordering_failures")
                    version, refused = 0, first
                if version:
                    self._after_ordered(key, placement, value, ttl, version)
                    await self._adeliver(
                        key, self._set_calls(placement, value, version, ttl, first))
                    self._counts.add("sets_ok")
                    return version
            version = self._set_here(key, value, ttl, placement, False, 0)
            failed = await self._adeliver(
                key, self._set_calls(placement, value, version, ttl), refused)
            self._check_set(placement, failed)
        self._counts.add("sets_ok")
        return version

    def order_set(self, key: str, value: bytes, ttl: float | None = None) -> int:
        """Orders a client's set of key, as its first replica, for the node the client
        asked (SetRequest.coordinate): versions it and applies it here; the version.
        That node sends it, so versioned, to the other replicas and tells the rest."""
        key = key_str(key)
        placement = self._begin_set(key, value, ttl, False, 0)
        version = self._set_here(key, value, ttl, placement, False, 0)
        self._counts.add("sets_ok")
        return version

    def _begin_set(
        self, key: str, value: Any, ttl: float | None, forwarded: bool, version: int
    ) -> Placement | None:
        """Checks a set and counts it; the key's placement (None without peers)."""
        _check_write(key, value, ttl)
        check_version(version, 0)
        limit = getattr(self._picker, "max_value", None)
        if limit is not None and not forwarded and memoryview(value).nbytes > limit:
            # Stored here, it could reach no other replica: refused whole.
            raise ValueError(f"value is {memoryview(value).nbytes} bytes; "
                             f"this group's peers take at most {limit}")
        self._counts.add("sets")
        return self._placement(key)

    def _set_here(
        self, key: str, value: Any, ttl: float | None, placement: Placement | None,
        forwarded: bool, version: int,
    ) -> int:
        """set's work on this node; the write's version (0: unversioned). A write
        that is not a peer's is versioned here."""
        clock = self._clock
        if clock is not None:
            if not forwarded:
                version = clock.now()
            elif version:
                clock.observe(version)  # this node's next versions come after it
        with self._fence.write(key):
            if forwarded and version:
                # A peer's versioned write: a replica push of a load, a set
                # ordered elsewhere, a hint. An older one than what is held,
                # or than a Delete still remembered, changes nothing.
                if (version <= self._tombstones.version_of(key)
                        or not self._store_newer(key, value, ttl, version)):
                    self._refused(key, value, ttl, version, placement)
            elif placement is None or placement.local or forwarded:
                self._store(key, value, ttl, force=True, version=version)
            else:
                self._main.delete(key)  # a non-replica keeps no main copy
            if self._hot is not None:
                self._hot.delete(key)
        if self._negative is not None:
            self._negative.discard(key)
        return version

    def _refused(self, key: str, value: Any, ttl: float | None, version: int,
                 placement: Placement | None) -> None:
        """A peer's write not newer than what is held here (the caller holds the fence).

        The same version again is the same write (a hint after the call that
        seemed to fail, a handoff), unless the values differ: a node restarted
        with a clock that stepped back made that version twice. Every replica
        then keeps the larger value, so that they agree.
        """
        if self._main.version_of(key) == version:
            held = self._main.get_versioned(key)
            if held is not None and bytes(value) > bytes(held[0]):
                self._main.set(key, value, self._with_stale(ttl), force=True, version=version)
            return
        self._counts.add("superseded_writes")
        self._send_back(key, version, placement)

    def _with_stale(self, ttl: float | None) -> float | None:
        return ttl + self._stale_ttl if ttl is not None and self._stale_ttl else ttl

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

    # -- delete --

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
        placement = self._begin_delete(key, version)
        if forwarded or placement is None:
            return self._delete_here(key, forwarded, version)
        first, refused = self._first_replica(placement), None
        if first is not None:
            try:
                version = first.order_delete(self.name, key)  # type: ignore[attr-defined]
            except Exception:
                self._counts.add("ordering_failures")
                version, refused = 0, first
            if version:
                found = self._delete_here(key, True, version)[0]
                self._deliver(key, self._delete_calls(placement, version, first))
                return found, version
        found, version = self._delete_here(key, False, 0)
        self._deliver(key, self._delete_calls(placement, version), refused)
        return found, version

    async def adelete(self, key: str, *, forwarded: bool = False, version: int = 0) -> bool:
        """delete for asyncio: the other nodes are told concurrently, on the loop."""
        key = key_str(key)
        placement = self._begin_delete(key, version)
        if forwarded or placement is None:
            return self._delete_here(key, forwarded, version)[0]
        first, refused = self._first_replica(placement), None
        if first is not None:
            try:
                version = await offload.ask(first, "order_delete", self.name, key)
            except Exception:
                self._counts.add("ordering_failures")
                version, refused = 0, first
            if version:
                found = self._delete_here(key, True, version)[0]
                await self._adeliver(key, self._delete_calls(placement, version, first))
                return found
        found, version = self._delete_here(key, False, 0)
        await self._adeliver(key, self._delete_calls(placement, version), refused)
        return found

    def order_delete(self, key: str) -> int:
        """Orders a client's delete of key, as its first replica (DeleteRequest.coordinate):
        versions it and applies it here (a tombstone); the version. The node the client
        asked sends it to the other nodes."""
        key = key_str(key)
        self._begin_delete(key, 0)
        return self._delete_here(key, False, 0)[1]

    def _begin_delete(self, key: str, version: int) -> Placement | None:
        key_bytes(key)  # a key the core refuses is not counted
        check_version(version, 0)
        self._counts.add("deletes")
        return self._placement(key)

    def _delete_here(self, key: str, forwarded: bool, version: int) -> tuple[bool, int]:
        clock = self._clock
        if clock is not None:
            if not forwarded:
                version = clock.now()
            elif version:
                clock.observe(version)
        with self._fence.write(key):
            if version:
                self._tombstones.record(key, version)
            held = self._main.version_of(key) if forwarded and version else None
            if held is not None and held > version:
                # A peer's Delete older than the value held here (a Set that
                # crossed it): the value stays, and goes back to the others.
                found = False
                self._counts.add("superseded_writes")
                self._send_back(key, version, self._placement(key))
            else:
                found = self._main.delete(key)
            if self._hot is not None:
                found = self._hot.delete(key) or found
        if self._negative is not None:
            self._negative.discard(key)
        return found, version

    def _send_back(self, key: str, version: int, placement: Placement | None) -> None:
        """After refusing a peer's write of key older than what is held here, offers
        the newer value (or Delete) to the key's other replicas: the peer may hold
        the older one for good otherwise (it restarted with a clock behind, say).
        Only a strictly newer version goes back, so two replicas never ping-pong."""
        if placement is None:
            return
        tombstone = self._tombstones.version_of(key)
        held = self._main.get_versioned(key)
        if held is not None and held[1] > version and held[1] > tombstone:
            for peer in placement.others:
                self._pusher.offer(peer, key, bytes(held[0]), held[1])
        elif tombstone > version:
            for peer in placement.others:
                self._pusher.offer(peer, key, None, tombstone)

    # -- who is told what --

    def _first_replica(self, placement: Placement) -> Peer | None:
        """The key's first replica when another node that can order the write is
        (and writes are versioned here: unversioned, there is no order to keep)."""
        if self._clock is None:
            return None
        first = placement.replicas[0] if placement.replicas else None
        return first if first is not None and _orders(first) else None

    def _set_calls(self, placement: Placement, value: bytes, version: int,
               ttl: float | None, orderer: Peer | None = None) -> Waves:
        """A set's calls: the replicas get it, then the rest a delete of any hot copy;
        the first replica that ordered it (orderer) has it already."""
        replicas = placement.others
        return ({p: ("set", value, version, ttl) for p in replicas if p is not orderer},
                {p: ("delete", None, 0, None) for p in self._peers_now() if p not in replicas})

    def _delete_calls(self, placement: Placement, version: int,
                 orderer: Peer | None = None) -> Waves:
        """A Delete's calls: the replicas, then the rest; not the first replica that
        ordered it (orderer)."""
        replicas = placement.others
        call: Call = ("delete", None, version, None)
        return ({p: call for p in replicas if p is not orderer},
                {p: call for p in self._peers_now() if p not in replicas})

    def _after_ordered(self, key: str, placement: Placement, value: bytes,
                       ttl: float | None, version: int) -> None:
        """A set ordered by the first replica: what is left to do on this node."""
        if self._clock is not None:
            self._clock.observe(version)
        with self._fence.write(key):
            if placement.local:
                # The first replica sent it here too; stored now as well, so
                # that this node answers it even if that call is still on its way.
                self._store_newer(key, value, ttl, version)
            else:
                self._main.delete(key)  # a non-replica keeps no main copy
            if self._hot is not None:
                self._hot.delete(key)
        if self._negative is not None:
            self._negative.discard(key)

    def _send(self, peer: Peer, key: str, call: Call) -> Any:
        kind, value, version, ttl = call
        if kind == "set":
            return peer.set(self.name, key, value, ttl, forwarded=True,  # type: ignore[arg-type]
                            version=version)
        return peer.delete(self.name, key, forwarded=True, version=version)

    async def _asend(self, peer: Peer, key: str, call: Call) -> Any:
        kind, value, version, ttl = call
        if kind == "set":
            return await offload.ask(peer, "set", self.name, key, value, ttl, forwarded=True,
                                     version=version)
        return await offload.ask(peer, "delete", self.name, key, forwarded=True, version=version)

    def _hint(self, peer: Peer, key: str, call: Call) -> None:
        kind, value, version, ttl = call
        self._hints.add(peer, key, value if kind == "set" else None, version, ttl)

    def _deliver(self, key: str, waves: Waves,
                 failed_first: Peer | None = None) -> dict[Peer, Exception]:
        """Makes each call, wave after wave; the failures, by peer. A peer whose call
        fails gets a hint (hints.py), and so does failed_first (the first replica,
        which just failed to order the write) without a second call. A peer marked
        down is called all the same: a live one marked down by a slow load would
        miss the write until its hint came. One client write is one broadcast,
        whoever ordered it.
        """
        self._counts.add("broadcasts")
        failed: dict[Peer, Exception] = {}
        for calls in waves:
            for peer, call in calls.items():
                if peer is failed_first:
                    failed[peer] = ConnectionError(f"{peer!r} is down")
                else:
                    try:
                        self._send(peer, key, call)
                    except Exception as exc:  # hinted: it gets the write when seen up again
                        failed[peer] = exc
                    else:
                        self._counts.add("broadcast_calls_ok")
                        continue
                self._counts.add("broadcast_errors")
                self._hint(peer, key, call)
        self._drop_copies(key)
        return failed

    async def _adeliver(self, key: str, waves: Waves,
                        failed_first: Peer | None = None) -> dict[Peer, Exception]:
        """_deliver for a task: each wave's calls awaited together."""
        self._counts.add("broadcasts")
        failed: dict[Peer, Exception] = {}
        for calls in waves:
            sent = [p for p in calls if p is not failed_first]
            answers = await asyncio.gather(*(self._asend(p, key, calls[p]) for p in sent),
                                           return_exceptions=True)
            missed: dict[Peer, Exception] = {
                p: ConnectionError(f"{p!r} is down") for p in calls if p not in sent}
            for peer, answer in zip(sent, answers, strict=True):
                if isinstance(answer, BaseException):
                    if not isinstance(answer, Exception):
                        raise answer
                    missed[peer] = answer
                else:
                    self._counts.add("broadcast_calls_ok")
            for peer in missed:
                self._counts.add("broadcast_errors")
                self._hint(peer, key, calls[peer])
            failed.update(missed)
        self._drop_copies(key)
        return failed

    def _drop_copies(self, key: str) -> None:
        """Drops this node's hot copy of key once the replicas have a write: a read
        here since the write began may have copied the replicas' older value."""
        if self._hot is not None:
            with self._fence.write(key):
                self._hot.delete(key)
