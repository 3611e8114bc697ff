"""The CacheService of proto/distcache.proto, answered from this process's groups.

Every request is checked (its bytes, its group, its key) before a group sees
it; a getter's failure is passed on as such (errors.py). _TokenCheck refuses
the calls that do not carry the node's token.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Any

import grpc

from ..group import Group, get_group
from ..peers import NotFound
from . import distcache_pb2 as pb
from .errors import _bad, _getter_failed
from .wire import MAX_KEY_BYTES, MAX_VALUE, SERVICE


def _group_of(name: str, context: grpc.ServicerContext) -> Group:
    """The group named name; NOT_FOUND when this node has none."""
    group = get_group(name) if isinstance(name, str) else None
    if group is None:
        _bad(context, grpc.StatusCode.NOT_FOUND, f"no group named {name!r} on this node")
    return group  # type: ignore[return-value]


def _check_key(key: str, context: grpc.ServicerContext) -> None:
    """INVALID_ARGUMENT for a key over MAX_KEY_BYTES."""
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
        if request.cache_only:  # a co-replica's question: the cache only, never the source
            held = group.cached(request.key)
            if held is None:
                return pb.GetResponse(found=False)
            return pb.GetResponse(data=held[0], found=True, version=held[1])
        try:
            value = group.get_local(request.key) if request.forwarded else group.get(request.key)
        except NotFound:
            return pb.GetResponse(found=False)
        except Exception as exc:  # the getter's error: the client is told, the node lives
            # Even a TypeError or ValueError: the request was checked above, so
            # it is the getter's (or its source's), not the client's.
            _getter_failed(context, exc)
        # What a node asking may copy, and for how long; a client learns the
        # version of what it read (0 when this node holds no copy of its own).
        version, ttl = group.entry_meta(request.key)
        return pb.GetResponse(data=value, found=True, version=version, ttl=ttl or 0.0)

    def GetMany(self, raw: bytes, context: grpc.ServicerContext) -> pb.GetManyResponse:
        request = _parse(pb.GetManyRequest, raw, context)
        group = _group_of(request.group, context)
        for key in request.keys:
            _check_key(key, context)
        try:
            values = group.get_many(request.keys, forwarded=request.forwarded)
        except Exception as exc:  # the keys were checked: as in Get, the getter's
            _getter_failed(context, exc)
        entries = []
        for k, v in values.items():
            version, ttl = group.entry_meta(k)
            entries.append(pb.Entry(key=k, data=v, version=version, ttl=ttl or 0.0))
        return pb.GetManyResponse(entries=entries)

    def Set(self, raw: bytes, context: grpc.ServicerContext) -> pb.SetResponse:
        request = _parse(pb.SetRequest, raw, context)
        group = _group_of(request.group, context)
        _check_key(request.key, context)
        if request.ttl < 0 or request.ttl != request.ttl:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT, f"ttl must be >= 0, not {request.ttl}")
        if len(request.data) > MAX_VALUE:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT,
                 f"value is {len(request.data)} bytes; the limit is {MAX_VALUE}")
        try:
            missed = 0
            if request.coordinate:  # this node is the key's first replica: it orders the write
                version = group.order_set(request.key, request.data, request.ttl or None)
            else:
                # A version from a client of the original protocol is 0: this node versions it.
                version, missed = group.set_versioned(
                    request.key, request.data, request.ttl or None, forwarded=request.forwarded,
                    version=request.version if request.forwarded else 0)
        except (TypeError, ValueError) as exc:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            return pb.SetResponse(success=False, err=f"{type(exc).__name__}: {exc}")
        return pb.SetResponse(success=True, version=version, missed=missed)

    def Delete(self, raw: bytes, context: grpc.ServicerContext) -> pb.DeleteResponse:
        request = _parse(pb.DeleteRequest, raw, context)
        group = _group_of(request.group, context)
        _check_key(request.key, context)
        try:
            if request.coordinate:
                version = group.order_delete(request.key)
            else:
                _, version = group.delete_versioned(
                    request.key, forwarded=request.forwarded,
                    version=request.version if request.forwarded else 0)
        except (TypeError, ValueError) as exc:
            _bad(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            return pb.DeleteResponse(success=False, err=f"{type(exc).__name__}: {exc}")
        return pb.DeleteResponse(success=True, version=version)


def _handler(service: _Service) -> grpc.GenericRpcHandler:
    """The CacheService's handlers, as a gRPC server takes them."""
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
