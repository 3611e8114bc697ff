"""One other node, as this one calls it: its channels, its back-off and its health.

_Peer is the Peer and AsyncPeer of distcache.peers that GRPCPool places keys
on; the applications' clients (client.py) hold one too. Each call comes as a
sync method and its coroutine twin, side by side.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..peers import NotFound
from . import distcache_pb2 as pb
from .aiochannels import AioChannels
from .errors import (
    _CLOSED,
    PeerDown,
    _closed,
    _peer_failed,
    _Refetch,
    _refetched,
    _refusal,
    _status,
)
from .getbatch import GetBatcher
from .wire import INCARNATION, TLSConfig, _channel, _Methods, check_value_size, transfer_seconds


def _written(addr: str, response: Any) -> int:
    """The version a SetResponse or DeleteResponse gives; raises ConnectionError
    when the peer answered that the write failed there."""
    if not response.success:
        raise ConnectionError(f"{addr} did not take the write: {response.err}")
    return response.version  # type: ignore[no-any-return]


# Share of the peer timeout a co-replica's cache-only ask may take (get_cached).
CO_REPLICA_SHARE = 0.25


class _Peer:
    """Another node, reached over one gRPC channel; marked down with back-off on failure."""

    def __init__(self, addr: str, timeout: float, metadata: tuple[tuple[str, str], ...], *,
                 mark_down: bool = True, tls: TLSConfig | None = None,
                 batch_gets: bool = True) -> None:
        self.addr = addr
        self._batch_gets = batch_gets
        self._mark_down = mark_down
        self._channel = _channel(addr, tls)
        self._timeout = timeout
        self._metadata = metadata
        sync = _Methods.of(self._channel)
        self._get, self._get_many = sync.get, sync.get_many
        self._set, self._delete = sync.set, sync.delete
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._aio = AioChannels(addr, tls)
        # Guards the failure state below.
        self._lock = threading.Lock()
        self.failures = 0  # consecutive
        self.errors = 0  # since start
        self.last_error = ""
        self.down_until = 0.0  # not called before this (monotonic time)
        # Failed and not answered since: what /health and /stats report. Calls
        # are tried again after down_until; this stays until one answers.
        self.down = False
        # The peer server's incarnation its last health answer gave, and how
        # many times it changed: each change is a restart, with an empty cache.
        self.incarnation: str | None = None
        self.restarts = 0

    def __repr__(self) -> str:
        return f"<peer {self.addr}>"

    # -- back-off --

    @property
    def up(self) -> bool:
        """Not marked down."""
        return time.monotonic() >= self.down_until

    def _answered(self) -> None:
        with self._lock:
            self.failures = 0
            self.down = False
            self.down_until = 0.0

    def _failed(self, why: str, *, counted: bool = True) -> None:
        """Marks the peer down with back-off; counted: a call of ours failed (errors)."""
        with self._lock:
            self.failures += 1
            if counted:
                self.errors += 1
            self.last_error = why
            # Exponential back-off: 0.1 s, 0.2 s, ... up to 5 s (the exponent is
            # capped so that a long outage cannot overflow the float); the prober
            # brings the peer back as soon as its health service answers.
            if self._mark_down:
                self.down = True
                self.down_until = time.monotonic() + min(5.0, 0.1 * 2 ** min(self.failures - 1, 6))

    def _refused(self, exc: grpc.RpcError, *, short: bool = False) -> Exception:
        """What a failed call raises (errors.py), the peer marked down unless it answered.

        short: the call had a deadline shorter than the peer's timeout, so running
        out of it says the peer is slow, not down; the error is still counted.
        """
        if short and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
            with self._lock:
                self.errors += 1
                self.last_error = _status(exc)
        elif _peer_failed(exc):
            self._failed(_status(exc))
        return _refusal(self.addr, exc)

    def probe(self) -> bool:
        """Asks the peer's health service; marks it up when it serves."""
        try:
            reply, call = self._health.Check.with_call(
                health_pb2.HealthCheckRequest(service=""), timeout=self._timeout)
        except grpc.RpcError as exc:
            # Unreachable: marked (or stays) down. No call of ours failed, so no
            # error is counted; the reason is kept for /health.
            self._failed(f"health probe: {_status(exc)}", counted=False)
            return False
        incarnation = dict(call.initial_metadata() or ()).get(INCARNATION)
        with self._lock:
            if incarnation is not None and incarnation != self.incarnation:
                if self.incarnation is not None:
                    self.restarts += 1
                self.incarnation = incarnation
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            self._answered()
            return True
        return False

    # -- one call, sync and awaited --

    def _call(self, stub: Any, request: Any, *, write: bool = False, extra: float = 0.0,
              share: float = 1.0) -> Any:
        """One call with the peer's timeout times share, plus extra seconds."""
        # A write is tried even on a peer marked down: it has no other replica
        # to fall back on, and a live peer marked down by a slow load missed it.
        if not self.up and not write:
            raise PeerDown(f"{self.addr} is marked down: {self.last_error}")
        try:
            response = stub(request, timeout=self._timeout * share + extra,
                            metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._refused(exc, short=share < 1.0) from None
        self._answered()
        return response

    async def _acall(self, method: str, request: Any, *, batch: bool = False,
                     extra: float = 0.0) -> Any:
        """_call on the running event loop, through that loop's grpc.aio channel.

        batch: a batch of gets, which raises _Refetch, leaving the peer up,
        when one key's getter failed or the failure is in _REFETCHED.
        """
        if not self.up and method not in ("set", "delete"):
            raise PeerDown(f"{self.addr} is marked down: {self.last_error}")
        loop = asyncio.get_running_loop()
        methods = self._aio.of(loop)
        try:
            response = await getattr(methods, method)(
                request, timeout=self._timeout + extra, metadata=self._metadata)
        except grpc.RpcError as exc:  # grpc.aio.AioRpcError
            if batch and _refetched(exc):
                raise _Refetch(exc.details()) from None
            raise self._refused(exc) from None
        except asyncio.CancelledError:
            # Closing a grpc.aio channel cancels its calls, and their callers
            # would see their own tasks cancelled; a sync call gets CANCELLED.
            if not self._closed_under(loop, methods):
                raise
            self._failed(_CLOSED)
            raise _closed(self.addr) from None
        self._answered()
        return response

    def _closed_under(self, loop: asyncio.AbstractEventLoop, methods: _Methods) -> bool:
        """Whether a call through methods was cancelled by close(), not by its caller."""
        cancelling = getattr(asyncio.current_task(), "cancelling", None)  # Python >= 3.11
        if cancelling is not None and cancelling():
            return False  # the caller's task is being cancelled: that wins
        return not self._aio.holds(loop, methods)

    # -- the four calls, each with its coroutine twin --

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        """The value of key in group; raises NotFound when the source lacks it."""
        r = self._call(self._get, pb.GetRequest(group=group, key=key, forwarded=forwarded))
        if not r.found:
            raise NotFound(key)
        return r.data  # type: ignore[no-any-return]

    def get_entry(self, group: str, key: str) -> tuple[bytes, int, float | None]:
        """(value, version, seconds it has left or None) of key, asked forwarded;
        raises NotFound when the source lacks it."""
        r = self._call(self._get, pb.GetRequest(group=group, key=key, forwarded=True))
        if not r.found:
            raise NotFound(key)
        return r.data, r.version, r.ttl or None

    async def aget_entry(self, group: str, key: str) -> tuple[bytes, int, float | None]:
        """get_entry, awaited (outside the loop's batch of gets: it needs the ttl)."""
        r = await self._acall("get", pb.GetRequest(group=group, key=key, forwarded=True))
        if not r.found:
            raise NotFound(key)
        return r.data, r.version, r.ttl or None

    def get_cached(self, group: str, key: str) -> tuple[bytes, int] | None:
        """(value, version) of key in the peer's main cache, None when not there; the
        peer never loads it (a replica asking its co-replica before the source).

        The ask has a quarter of the timeout: it runs inside a forwarded Get,
        whose caller waits one timeout for the whole load, so a co-replica that
        stopped answering must leave time for the source; running out of it
        does not mark the peer down (a slow answer is not a dead peer).
        """
        r = self._call(self._get, pb.GetRequest(group=group, key=key, forwarded=True,
                                                cache_only=True), share=CO_REPLICA_SHARE)
        return (r.data, r.version) if r.found else None

    async def aget(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        """get, awaited. The gets a loop makes of one group in one turn go as one
        GetMany (getbatch.py) unless the peer was made with batch_gets=False."""
        if not self._batch_gets:
            return await self._aget_one(group, key, forwarded)
        methods = self._aio.of(asyncio.get_running_loop())
        batcher = methods.batchers.get((group, forwarded))
        if batcher is None:
            batcher = methods.batchers[(group, forwarded)] = GetBatcher(
                lambda k: self._aget_one(group, k, forwarded),
                lambda ks: self._aget_batch(group, ks, forwarded),
                lambda exc: isinstance(exc, _Refetch))
        return await batcher.get(key)

    async def _aget_one(self, group: str, key: str, forwarded: bool) -> bytes:
        r = await self._acall("get", pb.GetRequest(group=group, key=key, forwarded=forwarded))
        if not r.found:
            raise NotFound(key)
        return r.data  # type: ignore[no-any-return]

    async def _aget_batch(self, group: str, keys: list[str], forwarded: bool
                          ) -> dict[str, bytes]:
        r = await self._acall("get_many", pb.GetManyRequest(group=group, keys=keys,
                                                            forwarded=forwarded), batch=True)
        return {e.key: e.data for e in r.entries}

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                 ) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        r = self._call(self._get_many,
                       pb.GetManyRequest(group=group, keys=list(keys), forwarded=forwarded))
        return {e.key: e.data for e in r.entries}

    async def aget_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                        ) -> dict[str, bytes]:
        """get_many, awaited."""
        r = await self._acall("get_many", pb.GetManyRequest(group=group, keys=list(keys),
                                                            forwarded=forwarded))
        return {e.key: e.data for e in r.entries}

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = True, version: int = 0) -> int:
        """Stores value in the peer's cache (never in the source of truth); the version
        the write took there."""
        return self._write_set(group, key, value, ttl, forwarded=forwarded, version=version)

    def order_set(self, group: str, key: str, value: bytes, ttl: float | None = None) -> int:
        """Has the peer, the key's first replica, order a client's set (distcache.peers);
        the version it gave the write, 0 from a node that orders nothing."""
        return self._write_set(group, key, value, ttl, forwarded=True, coordinate=True)

    def _write_set(self, group: str, key: str, value: bytes, ttl: float | None, *,
                   forwarded: bool, version: int = 0, coordinate: bool = False) -> int:
        check_value_size(len(value))
        r = self._call(self._set, pb.SetRequest(group=group, key=key, data=bytes(value),
                                                ttl=ttl or 0.0, forwarded=forwarded,
                                                version=version, coordinate=coordinate),
                       write=True, extra=transfer_seconds(len(value)))
        return _written(self.addr, r)

    async def aset(self, group: str, key: str, value: bytes, ttl: float | None = None,
                   *, forwarded: bool = True, version: int = 0) -> int:
        """set, awaited."""
        check_value_size(len(value))
        r = await self._acall("set", pb.SetRequest(group=group, key=key, data=bytes(value),
                                                   ttl=ttl or 0.0, forwarded=forwarded,
                                                   version=version),
                              extra=transfer_seconds(len(value)))
        return _written(self.addr, r)

    def delete(self, group: str, key: str, *, forwarded: bool = True, version: int = 0) -> bool:
        """Drops key from the peer's caches; True if it had it."""
        r = self._call(self._delete, pb.DeleteRequest(group=group, key=key, forwarded=forwarded,
                                                      version=version), write=True)
        _written(self.addr, r)
        return r.success  # type: ignore[no-any-return]

    def order_delete(self, group: str, key: str) -> int:
        """Has the peer, the key's first replica, order a client's delete; its version."""
        r = self._call(self._delete, pb.DeleteRequest(group=group, key=key, forwarded=True,
                                                      coordinate=True), write=True)
        return _written(self.addr, r)

    async def adelete(self, group: str, key: str, *, forwarded: bool = True,
                      version: int = 0) -> bool:
        """delete, awaited."""
        r = await self._acall("delete", pb.DeleteRequest(group=group, key=key,
                                                         forwarded=forwarded, version=version))
        _written(self.addr, r)
        return r.success  # type: ignore[no-any-return]

    def close(self) -> None:
        """Closes the channel and every event loop's grpc.aio channel; later calls fail."""
        self._aio.close()
        self._channel.close()

    async def aclose(self) -> None:
        """close, awaited: the running loop's channel is closed on it, the others
        (loops of other threads, which close() waits for) from a worker thread."""
        await self._aio.aclose()
        self._channel.close()
