"""The node's gRPC server: the CacheService and the standard health service.

NodeServer is what GRPCPool starts and stops: a grpc.server with the wire's
limits, TLS when configured, the token check, and the health servicer that
says what GRPCPool.health() says.
"""

from __future__ import annotations

import secrets
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .service import _handler, _Service, _TokenCheck
from .wire import (
    _MAX_QUEUED_SECONDS,
    INCARNATION,
    MAX_CONCURRENT_CALLS,
    MAX_MESSAGE,
    SERVICE,
    TLSConfig,
)

__all__ = ["NodeServer"]

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class _Health(health.HealthServicer):
    """The standard health servicer; its answers carry the server's incarnation."""

    def __init__(self, incarnation: str) -> None:
        super().__init__()
        self._incarnation = ((INCARNATION, incarnation),)

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
        context.send_initial_metadata(self._incarnation)
        return super().Check(request, context)


class NodeServer:
    """One start of this node's gRPC server: the CacheService and the health service."""

    def __init__(self, *, workers: int, token: str | None = None,
                 tls: TLSConfig | None = None) -> None:
        self._workers = workers
        self._token = token
        self._tls = tls
        self._service = _Service()
        self._health = _Health(secrets.token_hex(8))
        self._serving_status: Any = None  # what the health service says of SERVICE now
        self._server: grpc.Server | None = None

    @property
    def serving(self) -> bool:
        """Started and not stopped."""
        return self._server is not None

    @property
    def inflight(self) -> int:
        """The calls being answered now."""
        return self._service.inflight

    def start(self, address: str) -> int:
        """Starts serving on address; returns the port. OSError when it cannot listen."""
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
        server.add_generic_rpc_handlers((_handler(self._service),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
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
        self._health.set("", _SERVING)
        self._health.set(SERVICE, _SERVING)
        self._serving_status = _SERVING
        self._server = server
        return port

    def publish(self, healthy: bool) -> None:
        """Says healthy (SERVING) or not (NOT_SERVING) of the CacheService."""
        # The whole server ("") stays SERVING while it runs: peers probe it to
        # tell a live node, and a node whose own peer is down is still alive.
        # The CacheService's status is /health's verdict.
        status = _SERVING if healthy else _NOT_SERVING
        if status != self._serving_status:
            self._serving_status = status
            self._health.set(SERVICE, status)

    def wait(self) -> None:
        """Blocks until the server stops."""
        server = self._server
        if server is not None:
            server.wait_for_termination()

    def stop(self, grace: float | None) -> None:
        """Stops serving; in-flight calls get `grace` seconds. Once only; later calls do nothing."""
        server, self._server = self._server, None
        if server is not None:
            self._health.enter_graceful_shutdown()
            server.stop(grace).wait(timeout=(grace or 0) + 5)
