"""The cluster's network: a pool of gRPC peers and the node's gRPC server.

The only module that imports grpc. GRPCPool is the PeerPicker a group is
given (distcache.peers): it places keys on a HashRing of node addresses and
reaches the other nodes over gRPC channels; its server answers the
CacheService of proto/distcache.proto (and the standard health service)
from the registered groups. docs/grpc.md is the user's page.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .._contract import refuse_copy
from ..group import Group, get_group
from ..peers import NotFound, Placement
from . import distcache_pb2 as pb
from .getbatch import GetBatcher
from .hashring import HashRing

__all__ = ["AsyncClient", "Client", "GRPCPool", "PeerDown", "TLSConfig", "connect",
           "connect_async"]

SERVICE = "distcache.CacheService"
MAX_MESSAGE = 64 << 20  # a value may be up to 4 GiB in the core; over gRPC, 64 MiB
MAX_KEY_BYTES = 65535
# Calls a node's server holds at once, queued or running; past it a call gets
# RESOURCE_EXHAUSTED at once. Without it gRPC core cancels the calls past
# 1,000 waiting to be taken by the Python server with a bare CANCELLED, which
# a client cannot tell from a crash (3-27% of 10,000 concurrent Gets,
# tests/test_limits.py); its queue is sized above this bound instead.
MAX_CONCURRENT_CALLS = 4096
_MAX_QUEUED_SECONDS = 3600  # how long a call may wait for a worker before gRPC core cancels it
# A restarted peer is used again within seconds, not after gRPC's default
# reconnect back-off of up to two minutes (docs/grpc.md).
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
]
# How long closing a peer waits for an event loop running in another thread
# to close that loop's channel; a loop that does not answer keeps it until it
# ends (the channel is destroyed with the loop's last reference to it).
_AIO_CLOSE_WAIT = 5.0


class PeerDown(ConnectionError):
    """A peer is marked down (failed recently) and was not called."""


@dataclass(frozen=True)
class TLSConfig:
    """PEM bytes: this node's certificate and key, and the CA that signs its peers."""

    cert: bytes
    key: bytes
    ca: bytes | None = None  # verifies peers' servers; with require_client_cert, clients too
    require_client_cert: bool = False


# ------------------------------------------------------------------ client


@dataclass(frozen=True)
class _Methods:
    """The four CacheService calls of one channel (grpc or grpc.aio: the same shape)."""

    channel: Any
    get: Any
    get_many: Any
    set: Any
    delete: Any
    # A grpc.aio channel's GetBatchers, by (group, forwarded): made on the first
    # aget, used on that channel's loop only (getbatch.py).
    batchers: dict[tuple[str, bool], GetBatcher] = field(default_factory=dict)

    @classmethod
    def of(cls, channel: Any) -> _Methods:
        call = channel.unary_unary
        return cls(
            channel,
            get=call(f"/{SERVICE}/Get", request_serializer=pb.GetRequest.SerializeToString,
                     response_deserializer=pb.GetResponse.FromString),
            get_many=call(f"/{SERVICE}/GetMany",
                          request_serializer=pb.GetManyRequest.SerializeToString,
                          response_deserializer=pb.GetManyResponse.FromString),
            set=call(f"/{SERVICE}/Set", request_serializer=pb.SetRequest.SerializeToString,
                     response_deserializer=pb.SetResponse.FromString),
            delete=call(f"/{SERVICE}/Delete",
                        request_serializer=pb.DeleteRequest.SerializeToString,
                        response_deserializer=pb.DeleteResponse.FromString))


# Tasks closing a grpc.aio channel on the loop that asked for the close (a
# loop keeps only weak references to its tasks). Touched from loop threads
# only, one set operation at a time.
_closing: set[asyncio.Task[None]] = set()


def _close_aio(loop: asyncio.AbstractEventLoop, channel: aio.Channel) -> None:
    """Closes a grpc.aio channel, from any thread, on the event loop it belongs to.

    A grpc.aio channel and its calls live on one loop: closing cancels the
    calls in flight, which only that loop may do.
    """
    if loop.is_closed():
        return  # its calls ended with the loop; dropping the channel destroys it
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # asked from a callback of that loop: it cannot wait here
        task = loop.create_task(channel.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    elif loop.is_running():  # running in another thread
        close = channel.close()
        try:
            done = asyncio.run_coroutine_threadsafe(close, loop)
        except RuntimeError:  # the loop closed in between
            close.close()
            return
        try:
            done.result(_AIO_CLOSE_WAIT)
        except Exception:  # a stuck or stopping loop: the channel goes with it
            done.cancel()
    elif running is None:  # an idle loop, not closed: it can still run the close
        loop.run_until_complete(channel.close())
    # else an idle loop while another runs in this thread: dropped, destroyed with it


class _Refetch(Exception):
    """A batch of gets refused for one key's sake: its keys are asked one by one."""


# A batch's failures that may be some keys' fault, not the peer's: answers over
# the message limit, and a deadline passed while the owner loaded cold keys one
# after another (asked one by one, a frozen peer then costs two deadlines).
_REFETCHED = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED)


def _getter_error(exc: grpc.RpcError) -> bool:
    """Whether a failed call is a getter's error, passed on by a peer that answered
    (_getter_failed sets the "err" trailer), not the peer failing."""
    return any(k == "err" for k, _ in exc.trailing_metadata() or ())  # type: ignore[attr-defined]


class _Peer:
    """Another node, reached over one gRPC channel; marked down with back-off on failure."""

    def __init__(self, addr: str, channel: grpc.Channel, timeout: float,
                 metadata: tuple[tuple[str, str], ...], *, mark_down: bool = True,
                 tls: TLSConfig | None = None, batch_gets: bool = True) -> None:
        self.addr = addr
        self._batch_gets = batch_gets
        self._mark_down = mark_down
        self._channel = channel
        self._timeout = timeout
        self._metadata = metadata
        self._tls = tls  # the grpc.aio channels are made as the sync one was
        sync = _Methods.of(channel)
        self._get, self._get_many = sync.get, sync.get_many
        self._set, self._delete = sync.set, sync.delete
        self._health = health_pb2_grpc.HealthStub(channel)
        # Guards _aio and _closed. A grpc.aio channel belongs to the event loop
        # it was made on, so each loop that calls this peer gets its own, made
        # on its first call. A plain dict, not a WeakKeyDictionary: a channel
        # holds its loop, so a weak key would never go; the channels of loops
        # that closed are dropped when a new loop arrives, and by close().
        self._aio_lock = threading.Lock()
        self._aio: dict[asyncio.AbstractEventLoop, _Methods] = {}
        self._closed = False
        # Guards the failure state below.
        self._lock = threading.Lock()
        self.failures = 0  # consecutive
        self.errors = 0  # since start
        self.last_error = ""
        self.down_until = 0.0  # not called before this (monotonic time)
        # Failed and not answered since: what /health and /stats report. Calls
        # are tried again after down_until; this stays until one answers.
        self.down = False

    def __repr__(self) -> str:
        return f"<peer {self.addr}>"

    @property
    def up(self) -> bool:
        """Not marked down."""
        return time.monotonic() >= self.down_until

    def _call(self, stub: Any, request: Any, *, write: bool = False) -> Any:
        # A write is tried even on a peer marked down: it has no other replica
        # to fall back on, and a live peer marked down by a slow load missed it.
        if not self.up and not write:
            raise PeerDown(f"{self.addr} is marked down: {self.last_error}")
        try:
            response = stub(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._refusal(exc) from None
        self._answered()
        return response

    async def _acall(self, method: str, request: Any, *, batch: bool = False) -> Any:
        """_call on the running event loop, through that loop's grpc.aio channel.

        batch: a batch of gets, which raises _Refetch, leaving the peer up,
        when one key's getter failed or the failure is in _REFETCHED.
        """
        if not self.up and method not in ("set", "delete"):
            raise PeerDown(f"{self.addr} is marked down: {self.last_error}")
        loop = asyncio.get_running_loop()
        methods = self._aio_methods(loop)
        try:
            response = await getattr(methods, method)(request, timeout=self._timeout,
                                                      metadata=self._metadata)
        except grpc.RpcError as exc:  # grpc.aio.AioRpcError
            if batch and (exc.code() in _REFETCHED or _getter_error(exc)):
                raise _Refetch(exc.details()) from None
            raise self._refusal(exc) from None
        except asyncio.CancelledError:
            # Closing a grpc.aio channel cancels its calls, and their callers
            # would see their own tasks cancelled; a sync call gets CANCELLED.
            if not self._closed_under(loop, methods):
                raise
            self._failed("CANCELLED: the channel was closed")
            raise ConnectionError(f"{self.addr}: CANCELLED: the channel was closed") from None
        self._answered()
        return response

    def _closed_under(self, loop: asyncio.AbstractEventLoop, methods: _Methods) -> bool:
        """Whether a call through methods was cancelled by close(), not by its caller."""
        cancelling = getattr(asyncio.current_task(), "cancelling", None)  # Python >= 3.11
        if cancelling is not None and cancelling():
            return False  # the caller's task is being cancelled: that wins
        with self._aio_lock:
            return self._aio.get(loop) is not methods

    def _refusal(self, exc: grpc.RpcError) -> Exception:
        """What a failed call raises: LookupError for an unknown group, else
        ConnectionError, the peer then marked down unless its getter failed."""
        code = exc.code()  # type: ignore[attr-defined]
        details = exc.details()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.NOT_FOUND:  # an unknown group: the peer is fine
            return LookupError(details)
        # Its getter failed (_getter_failed sets "err"): the peer answered and is
        # not marked down, or every key it holds would be skipped for the back-off.
        if _getter_error(exc):
            return ConnectionError(f"{self.addr}: {code.name}: {details}")
        self._failed(f"{code.name}: {details}")
        return ConnectionError(f"{self.addr}: {code.name}: {details}")

    def _aio_methods(self, loop: asyncio.AbstractEventLoop) -> _Methods:
        """The grpc.aio channel of loop (the running one) to this peer, made on its first call."""
        # Every aget asks: a dict read is atomic, so the lock is for the first
        # call on a loop (or after close(), which empties the dict) only.
        methods = self._aio.get(loop)
        if methods is not None:
            return methods
        with self._aio_lock:
            methods = self._aio.get(loop)
            if methods is None:
                if self._closed:
                    raise ValueError(f"{self.addr}: the peer is closed")
                for gone in [lp for lp in self._aio if lp.is_closed()]:
                    del self._aio[gone]
                methods = self._aio[loop] = _Methods.of(_aio_channel(self.addr, self._tls))
        return methods

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

    def probe(self) -> bool:
        """Asks the peer's health service; marks it up when it serves."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(service=""),
                                       timeout=self._timeout)
        except grpc.RpcError as exc:
            # Unreachable: marked (or stays) down. No call of ours failed, so no
            # error is counted; the reason is kept for /health.
            self._failed(f"health probe: {exc.code().name}: {exc.details()}", counted=False)
            return False
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            self._answered()
            return True
        return False

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        r = self._call(self._get, pb.GetRequest(group=group, key=key, forwarded=forwarded))
        if not r.found:
            raise NotFound(key)
        return r.data  # type: ignore[no-any-return]

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                 ) -> dict[str, bytes]:
        r = self._call(self._get_many,
                       pb.GetManyRequest(group=group, keys=list(keys), forwarded=forwarded))
        return {e.key: e.data for e in r.entries}

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = True) -> None:
        self._call(self._set, pb.SetRequest(group=group, key=key, data=bytes(value),
                                            ttl=ttl or 0.0, forwarded=forwarded), write=True)

    def delete(self, group: str, key: str, *, forwarded: bool = True) -> bool:
        r = self._call(self._delete, pb.DeleteRequest(group=group, key=key, forwarded=forwarded),
                       write=True)
        return r.success  # type: ignore[no-any-return]

    # The same four calls as coroutines on the running event loop (never blocking it).

    async def aget(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        """get, awaited. The gets a loop makes of one group in one turn go as one
        GetMany (getbatch.py) unless the peer was made with batch_gets=False."""
        if not self._batch_gets:
            return await self._aget_one(group, key, forwarded)
        methods = self._aio_methods(asyncio.get_running_loop())
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

    async def aget_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                        ) -> dict[str, bytes]:
        """get_many, awaited."""
        r = await self._acall("get_many", pb.GetManyRequest(group=group, keys=list(keys),
                                                            forwarded=forwarded))
        return {e.key: e.data for e in r.entries}

    async def aset(self, group: str, key: str, value: bytes, ttl: float | None = None,
                   *, forwarded: bool = True) -> None:
        """set, awaited."""
        await self._acall("set", pb.SetRequest(group=group, key=key, data=bytes(value),
                                               ttl=ttl or 0.0, forwarded=forwarded))

    async def adelete(self, group: str, key: str, *, forwarded: bool = True) -> bool:
        """delete, awaited."""
        r = await self._acall("delete", pb.DeleteRequest(group=group, key=key,
                                                         forwarded=forwarded))
        return r.success  # type: ignore[no-any-return]

    def close(self) -> None:
        """Closes the channel and every event loop's grpc.aio channel; later calls fail."""
        with self._aio_lock:
            self._closed = True
            channels, self._aio = self._aio, {}
        for loop, methods in channels.items():
            _close_aio(loop, methods.channel)
        self._channel.close()

    async def aclose(self) -> None:
        """close, awaited: the running loop's channel is closed on it, the others
        (loops of other threads, which close() waits for) from a worker thread."""
        with self._aio_lock:
            mine = self._aio.pop(asyncio.get_running_loop(), None)
            others = bool(self._aio)
        if mine is not None:
            await mine.channel.close()
        if others:
            await asyncio.to_thread(self.close)
        else:
            self.close()


def _credentials(tls: TLSConfig) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca,
        private_key=tls.key if tls.require_client_cert else None,
        certificate_chain=tls.cert if tls.require_client_cert else None)


def _channel(addr: str, tls: TLSConfig | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(addr, options=_CHANNEL_OPTIONS)
    return grpc.secure_channel(addr, _credentials(tls), options=_CHANNEL_OPTIONS)


def _aio_channel(addr: str, tls: TLSConfig | None) -> aio.Channel:
    """_channel's twin on the running event loop (grpc.aio)."""
    if tls is None:
        return aio.insecure_channel(addr, options=_CHANNEL_OPTIONS)
    return aio.secure_channel(addr, _credentials(tls), options=_CHANNEL_OPTIONS)


class Client(_Peer):
    """A client of one node, for applications: get, get_many, set and delete of a group.

    Calls are not marked forwarded: the node answers for any key, asking the
    key's replicas itself. A failed call raises ConnectionError (LookupError
    for an unknown group, NotFound for a key the source lacks).
    """

    def __init__(self, addr: str, *, timeout: float = 1.0, token: str | None = None,
                 tls: TLSConfig | None = None, batch_gets: bool = True) -> None:
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        super().__init__(addr, _channel(addr, tls), timeout, metadata, mark_down=False, tls=tls,
                         batch_gets=batch_gets)

    def get(self, group: str, key: str, *, forwarded: bool = False) -> bytes:
        """The value of key in group; raises NotFound when the source lacks it."""
        return super().get(group, key, forwarded=forwarded)

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = False
                 ) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        return super().get_many(group, keys, forwarded=forwarded)

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = False) -> None:
        """Stores value on the key's replicas (never in the source of truth)."""
        super().set(group, key, value, ttl, forwarded=forwarded)

    def delete(self, group: str, key: str, *, forwarded: bool = False) -> bool:
        """Drops key from every node's caches."""
        return super().delete(group, key, forwarded=forwarded)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(addr: str, **kw: Any) -> Client:
    """A Client of the node at addr (timeout, token and tls as keywords)."""
    return Client(addr, **kw)


class AsyncClient(Client):
    """A Client whose calls are also coroutines: aget, aget_many, aset and adelete.

    Each event loop that calls it gets its own grpc.aio channel; the loop is
    never blocked by the network. `async with` closes it on the way out.
    """

    async def aget(self, group: str, key: str, *, forwarded: bool = False) -> bytes:
        """The value of key in group; raises NotFound when the source lacks it."""
        return await super().aget(group, key, forwarded=forwarded)

    async def aget_many(self, group: str, keys: Iterable[str], *, forwarded: bool = False
                        ) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        return await super().aget_many(group, keys, forwarded=forwarded)

    async def aset(self, group: str, key: str, value: bytes, ttl: float | None = None,
                   *, forwarded: bool = False) -> None:
        """Stores value on the key's replicas (never in the source of truth)."""
        await super().aset(group, key, value, ttl, forwarded=forwarded)

    async def adelete(self, group: str, key: str, *, forwarded: bool = False) -> bool:
        """Drops key from every node's caches."""
        return await super().adelete(group, key, forwarded=forwarded)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def connect_async(addr: str, **kw: Any) -> AsyncClient:
    """An AsyncClient of the node at addr (timeout, token and tls as keywords)."""
    return AsyncClient(addr, **kw)


# ------------------------------------------------------------------ server


# Characters of a status message or err trailer: a message that echoes a
# request's 64 KiB name would make trailers over the 16 KiB that gRPC clients
# accept, and the client would get RESOURCE_EXHAUSTED instead (found by
# tests/fuzz/grpc_requests.py).
_MAX_DETAILS = 1024


def _capped(text: str) -> str:
    """text, cut to _MAX_DETAILS characters."""
    return text if len(text) <= _MAX_DETAILS else text[:_MAX_DETAILS] + "..."


def _bad(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> None:
    context.abort(code, _capped(message))


def _group_of(name: str, context: grpc.ServicerContext) -> Group:
    group = get_group(name) if isinstance(name, str) else None
    if group is None:
        _bad(context, grpc.StatusCode.NOT_FOUND, f"no group named {name!r} on this node")
    return group  # type: ignore[return-value]


def _check_key(key: str, context: grpc.ServicerContext) -> None:
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        _bad(context, grpc.StatusCode.INVALID_ARGUMENT,
             f"key is {size} bytes; the limit is {MAX_KEY_BYTES}")


def _parse(message: Any, raw: bytes, context: grpc.ServicerContext) -> Any:
    """The request message from its bytes; INVALID_ARGUMENT when they are not one."""
    try:
        return message.FromString(raw)
    except Exception as exc:  # DecodeError, or a string field that is not UTF-8
        _bad(context, grpc.StatusCode.INVALID_ARGUMENT,
             f"not a {message.DESCRIPTOR.full_name}: {exc}")


def _getter_failed(context: grpc.ServicerContext, exc: Exception) -> None:
    text = _capped(f"{type(exc).__name__}: {exc}")
    context.set_trailing_metadata((("err", text),))
    _bad(context, grpc.StatusCode.UNAVAILABLE, text)


class _Service:
    """The CacheService handlers, answering from the groups of this process."""

    def __init__(self) -> None:
        # Guards inflight, the calls being answered now (read by the health check).
        self._lock = threading.Lock()
        self.inflight = 0

    def counted(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """fn, counted in inflight while it runs."""
        def call(raw: Any, context: Any) -> Any:
            with self._lock:
                self.inflight += 1
            try:
                return fn(raw, context)
            finally:
                with self._lock:
                    self.inflight -= 1
        return call

    def Get(self, raw: bytes, context: grpc.ServicerContext) -> pb.GetResponse:
        request = _parse(pb.GetRequest, raw, context)
        group = _group_of(request.group, context)
        _check_key(request.key, context)
        try:
            value = group.get_local(request.key) if request.forwarded else group.get(request.key)
        except NotFound:
            return pb.GetResponse(found=False)
        except Exception as exc:  # the getter's error: the client is told, the node lives
            # Even a TypeError or ValueError: the request was checked above, so
            # it is the getter's (or its source's), not the client's.
            _getter_failed(context, exc)
        return pb.GetResponse(data=value, found=True)

    def GetMany(self, raw: bytes, context: grpc.ServicerContext) -> pb.GetManyResponse:
        request = _parse(pb.GetManyRequest, raw, context)
        group = _group_of(request.group, context)
        for key in request.keys:
            _check_key(key, context)
        try:
            values = group.get_many(request.keys, forwarded=request.forwarded)
        except Exception as exc:  # the keys were checked: as in Get, the getter's
            _getter_failed(context, exc)
        return pb.GetManyResponse(entries=[pb.Entry(key=k, data=v) for k, v in values.items()])

    def Set(self, raw: bytes, context: grpc.ServicerContext) -> pb.SetResponse:
        request = _parse(pb.SetRequest, raw, context)
        group = _group_of(request.group, context)
        _check_key(request.key, context)
        if request.ttl < 0 or request.ttl != request.ttl:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT, f"ttl must be >= 0, not {request.ttl}")
        try:
            group.set(request.key, request.data, request.ttl or None, forwarded=request.forwarded)
        except (TypeError, ValueError) as exc:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            return pb.SetResponse(success=False, err=f"{type(exc).__name__}: {exc}")
        return pb.SetResponse(success=True)

    def Delete(self, raw: bytes, context: grpc.ServicerContext) -> pb.DeleteResponse:
        request = _parse(pb.DeleteRequest, raw, context)
        group = _group_of(request.group, context)
        _check_key(request.key, context)
        try:
            group.delete(request.key, forwarded=request.forwarded)
        except (TypeError, ValueError) as exc:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            return pb.DeleteResponse(success=False, err=f"{type(exc).__name__}: {exc}")
        return pb.DeleteResponse(success=True)


def _handler(service: _Service) -> grpc.GenericRpcHandler:
    # Requests arrive as bytes and are parsed by the handlers, so that bytes
    # that are no message get INVALID_ARGUMENT (a deserializer's failure
    # would be INTERNAL).
    def unary(fn: Callable[..., Any], response: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            service.counted(fn), response_serializer=response.SerializeToString)

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Get": unary(service.Get, pb.GetResponse),
        "Set": unary(service.Set, pb.SetResponse),
        "Delete": unary(service.Delete, pb.DeleteResponse),
        "GetMany": unary(service.GetMany, pb.GetManyResponse),
    })


class _TokenCheck(grpc.ServerInterceptor):
    """Refuses every CacheService call without `authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        if not details.method.startswith(f"/{SERVICE}/"):
            return continuation(details)  # the health service stays open
        given = dict(details.invocation_metadata).get("authorization", "")
        if hmac.compare_digest(given.encode(), self._expected):
            return continuation(details)
        return self._refusal


# -------------------------------------------------------------------- pool


class GRPCPool:
    """This node's place in the cluster: its ring of peers and its gRPC server."""

    def __init__(self, self_addr: str, *, replicas: int = 2, timeout: float = 0.5,
                 token: str | None = None, tls: TLSConfig | None = None,
                 vnodes: int = 160, workers: int = 32, batch_gets: bool = True) -> None:
        if not isinstance(self_addr, str) or ":" not in self_addr:
            raise ValueError(f"self_addr must be HOST:PORT, not {self_addr!r}")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be an int >= 1, not {replicas!r}")
        # inf would be no deadline at all: a hung peer would hold its callers forever.
        if not 0 < timeout < float("inf"):
            raise ValueError(f"timeout must be a finite number of seconds > 0, not {timeout!r}")
        self.self_addr = self_addr
        self.replicas = replicas
        self.timeout = timeout
        self._token = token
        self._tls = tls
        self._workers = workers
        self._vnodes = vnodes
        self._batch_gets = batch_gets  # the peers' aget (getbatch.py)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        # Guards _ring, _peers and ring_version: set_peers swaps all three.
        self._lock = threading.Lock()
        self._ring = HashRing([self_addr], vnodes=vnodes)
        self._peers: dict[str, _Peer] = {}
        self.ring_version = 0
        self._server: grpc.Server | None = None
        self._service: _Service | None = None
        self._health: health.HealthServicer | None = None
        self._serving_status: Any = None  # what the health service says of SERVICE now
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self.port: int | None = None

    def __copy__(self) -> Any:
        refuse_copy(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        refuse_copy(self)

    # -- membership --

    def set_peers(self, *addrs: str) -> None:
        """The cluster's nodes, this one included: swaps the ring at once.

        Channels to nodes no longer listed are closed.
        """
        names = set(addrs)
        if self.self_addr not in names:
            raise ValueError(f"the peers must include this node's own address {self.self_addr!r}")
        for addr in names:
            if not isinstance(addr, str) or ":" not in addr:
                raise ValueError(f"a peer is HOST:PORT, not {addr!r}")
        ring = HashRing(names, vnodes=self._vnodes)
        with self._lock:
            old = self._peers
            peers = {a: old.get(a) or self._connect(a) for a in names if a != self.self_addr}
            removed = [p for a, p in old.items() if a not in peers]
            self._ring, self._peers = ring, peers
            self.ring_version += 1
        for peer in removed:
            peer.close()

    def _connect(self, addr: str) -> _Peer:
        return _Peer(addr, _channel(addr, self._tls), self.timeout, self._metadata,
                     tls=self._tls, batch_gets=self._batch_gets)

    def placement(self, key: str) -> Placement:
        """The key's replicas in ring order; None is this node."""
        with self._lock:
            ring, peers = self._ring, self._peers
        return Placement(tuple(None if a == self.self_addr else peers[a]
                               for a in ring.get_n(key, self.replicas)))

    def peers(self) -> tuple[Any, ...]:
        """Every other node."""
        with self._lock:
            return tuple(self._peers.values())

    def peer_states(self) -> list[dict[str, Any]]:
        """Per peer: address, up or down, errors and the last one (for /stats)."""
        return [{"addr": p.addr, "up": not p.down, "errors": p.errors, "last_error": p.last_error}
                for p in self.peers()]

    def health(self) -> dict[str, Any]:
        """"healthy", or "degraded" with the reasons: a peer marked down, or every
        server worker busy (calls queue). /health and the health service say this."""
        reasons = [f"peer {p.addr} is down: {p.last_error}" for p in self.peers() if p.down]
        service = self._service
        inflight = service.inflight if service is not None else 0
        if service is not None and inflight >= self._workers:
            reasons.append(f"overloaded: {inflight} calls in flight, {self._workers} workers")
        return {"status": "degraded" if reasons else "healthy", "reasons": reasons,
                "inflight": inflight, "workers": self._workers}

    def _publish_health(self) -> None:
        # The whole server ("") stays SERVING while it runs: peers probe it to
        # tell a live node, and a node whose own peer is down is still alive.
        # The CacheService's status is /health's verdict.
        healthy = self.health()["status"] == "healthy"
        status = (health_pb2.HealthCheckResponse.SERVING if healthy
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        servicer = self._health
        if servicer is not None and status != self._serving_status:
            self._serving_status = status
            servicer.set(SERVICE, status)

    # -- the server --

    def start(self, bind: str | None = None) -> int:
        """Starts serving on bind (default: this node's address); returns the port."""
        if self._server is not None:
            raise RuntimeError("this pool is already serving")
        options = [("grpc.so_reuseport", 0),
                   ("grpc.max_send_message_length", MAX_MESSAGE),
                   ("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.server.max_pending_requests", 2 * MAX_CONCURRENT_CALLS),
                   # gRPC core cancels a call that waited this long for a worker
                   # (30 s by default), and the client gets a bare CANCELLED:
                   # seen with 10,000 calls on the slower twin. Set past any
                   # sensible deadline, the caller's deadline ends the wait first,
                   # as DEADLINE_EXCEEDED (tests/test_limits.py).
                   ("grpc.server_max_unrequested_time_in_server", _MAX_QUEUED_SECONDS)]
        interceptors = [_TokenCheck(self._token)] if self._token else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._workers),
                             options=options, interceptors=interceptors,
                             maximum_concurrent_rpcs=MAX_CONCURRENT_CALLS)
        self._service = _Service()
        server.add_generic_rpc_handlers((_handler(self._service),))
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        address = bind or self.self_addr
        try:
            if self._tls is not None:
                creds = grpc.ssl_server_credentials(
                    [(self._tls.key, self._tls.cert)], root_certificates=self._tls.ca,
                    require_client_auth=self._tls.require_client_cert)
                port = server.add_secure_port(address, creds)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {address}: {exc}") from None
        if port == 0:
            raise OSError(f"cannot listen on {address}: the address is in use or not local")
        server.start()
        self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        self._health.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
        self._serving_status = health_pb2.HealthCheckResponse.SERVING
        self._server = server
        self.port = port
        self._stop.clear()
        self._prober = threading.Thread(target=self._probe_loop, name="distcache-prober",
                                        daemon=True)
        self._prober.start()
        return port

    def serve(self) -> None:
        """start(), then blocks until stop()."""
        if self._server is None:
            self.start()
        assert self._server is not None
        self._server.wait_for_termination()

    def stop(self, grace: float | None = 1.0) -> None:
        """Stops serving (in-flight calls get `grace` seconds) and closes every channel."""
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            if self._health is not None:
                self._health.enter_graceful_shutdown()
            server.stop(grace).wait(timeout=(grace or 0) + 5)
        if self._prober is not None:
            self._prober.join(timeout=5)
        with self._lock:
            peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.close()

    def _probe_loop(self) -> None:
        # Brings marked-down peers back as soon as their health service answers.
        # and keeps the health service's verdict current. Peers that read as up
        # are asked too, once a second, so that a dead peer nobody called is
        # known down (and /health says so) before a reader pays for it.
        tick = 0
        while not self._stop.wait(0.25):
            tick += 1
            for peer in self.peers():
                if peer.down or tick % 4 == 0:
                    peer.probe()
            self._publish_health()
