"""The wire between nodes: its limits, its channels and TLS, the CacheService's calls.

What both ends of a gRPC call agree on: the service's name, the largest
message and key, how many calls a server holds, the options of every channel
(sync and grpc.aio alike) and the TLSConfig they are made with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc import aio

from .._contract import MAX_KEY_LEN
from . import distcache_pb2 as pb
from .getbatch import GetBatcher

__all__ = ["MAX_CONCURRENT_CALLS", "MAX_KEY_BYTES", "MAX_MESSAGE", "MAX_VALUE", "SERVICE",
           "TLSConfig", "check_value_size", "transfer_seconds"]

SERVICE = "distcache.CacheService"
"""The full name of the CacheService of proto/distcache.proto."""

MAX_VALUE = 64 << 20  # a value may be up to 4 GiB in the core; over gRPC, 64 MiB
"""Largest value a Set carries over gRPC, in bytes."""

# A message carries a value beside its key, its group's name and a few small
# fields. When the message limit was the value limit, a 64 MiB value set
# through a node that is not its replica was acknowledged and its forwarded
# copy refused, 2 bytes over: the limit leaves room for the largest key.
_ENVELOPE = 128 << 10
MAX_MESSAGE = MAX_VALUE + _ENVELOPE
"""Largest gRPC message, either way, in bytes: the largest value and its envelope."""


# A call's deadline covers its work, not the transfer of a large value: a
# 64 MiB Set takes 0.2-0.6 s over loopback alone (tests/test_limits.py) and
# missed the default 0.5 s deadline under load, leaving a replica without the
# value. A write's deadline grows by one second per 32 MiB it carries.
_BYTES_PER_SECOND = 32 << 20


def transfer_seconds(size: int) -> float:
    """The time a write of size bytes is given beyond the peer's deadline."""
    return size / _BYTES_PER_SECOND


def check_value_size(size: int) -> None:
    """Raises ValueError for a value over MAX_VALUE bytes, before it is sent."""
    if size > MAX_VALUE:
        raise ValueError(f"value is {size} bytes; over gRPC a value is at most {MAX_VALUE} bytes")

# Initial metadata of every health check answer: an id drawn at each start
# of a node's server, so that a peer's prober tells a restarted node (which
# lost its cache) from one that was only slow or cut off (peer.py).
INCARNATION = "distcache-incarnation"

MAX_KEY_BYTES = MAX_KEY_LEN
"""Longest key a node accepts over gRPC, in UTF-8 bytes: the core's limit."""

# Calls a node's server holds at once, queued or running; past it a call gets
# RESOURCE_EXHAUSTED at once. Without it gRPC core cancels the calls past
# 1,000 waiting to be taken by the Python server with a bare CANCELLED, which
# a client cannot tell from a crash (3-27% of 10,000 concurrent Gets,
# tests/test_limits.py); its queue is sized above this bound instead.
MAX_CONCURRENT_CALLS = 4096
"""Calls a node's server holds at once, queued or running."""

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


@dataclass(frozen=True)
class TLSConfig:
    """PEM bytes: this node's certificate and key, and the CA that signs its peers."""

    cert: bytes
    key: bytes
    ca: bytes | None = None  # verifies peers' servers; with require_client_cert, clients too
    require_client_cert: bool = False


def _bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata that carries token to a node (none without a token)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def _credentials(tls: TLSConfig) -> grpc.ChannelCredentials:
    """A client's credentials: the CA to verify the server, and its own certificate
    when the server requires one."""
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca,
        private_key=tls.key if tls.require_client_cert else None,
        certificate_chain=tls.cert if tls.require_client_cert else None)


def _channel(addr: str, tls: TLSConfig | None) -> grpc.Channel:
    """A channel to the node at addr (TLS when tls is given)."""
    if tls is None:
        return grpc.insecure_channel(addr, options=_CHANNEL_OPTIONS)
    return grpc.secure_channel(addr, _credentials(tls), options=_CHANNEL_OPTIONS)


def _aio_channel(addr: str, tls: TLSConfig | None) -> aio.Channel:
    """_channel's twin on the running event loop (grpc.aio)."""
    if tls is None:
        return aio.insecure_channel(addr, options=_CHANNEL_OPTIONS)
    return aio.secure_channel(addr, _credentials(tls), options=_CHANNEL_OPTIONS)


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
        """The calls of channel."""
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
