"""What crosses the wire as an error, both halves side by side.

The server half turns a refused request or a getter's failure into a gRPC
status (the getter's also into the "err" trailer); the client half turns a
status back into what a caller gets. _refusal is the one place a failed
call's grpc.RpcError becomes a Python exception: a refused request is the
caller's error (ValueError, LookupError), not the peer's failure.
"""

from __future__ import annotations

import grpc

__all__ = ["PeerDown"]


class PeerDown(ConnectionError):
    """A peer is marked down (failed recently) and was not called."""


# ------------------------------------------------------------------ client


class _Refetch(Exception):
    """A batch of gets refused for one key's sake: its keys are asked one by one."""


# A batch's failures that may be some keys' fault, not the peer's: answers over
# the message limit, a deadline passed while the owner loaded cold keys one
# after another (asked one by one, a frozen peer then costs two deadlines), and
# a request refused for one key (a GetMany is refused whole for one bad key,
# which would fail every other caller of the batch).
_REFETCHED = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.INVALID_ARGUMENT)

# The statuses of a peer that answered: the request was refused (an unknown
# group, a bad argument), the peer did not fail.
_REFUSED = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)

_CLOSED = "CANCELLED: the channel was closed"
"""Why a grpc.aio call cancelled by closing its channel failed."""


def _getter_error(exc: grpc.RpcError) -> bool:
    """Whether a failed call is a getter's error, passed on by a peer that answered
    (_getter_failed sets the "err" trailer), not the peer failing."""
    return any(k == "err" for k, _ in exc.trailing_metadata() or ())  # type: ignore[attr-defined]


def _refetched(exc: grpc.RpcError) -> bool:
    """Whether a failed batch of gets is to be asked again key by key (_Refetch)."""
    return exc.code() in _REFETCHED or _getter_error(exc)  # type: ignore[attr-defined]


def _status(exc: grpc.RpcError) -> str:
    """The failed call's status, as the peer's last error says it."""
    return f"{exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]


def _peer_failed(exc: grpc.RpcError) -> bool:
    """Whether a failed call marks its peer down: not when the peer answered, with
    a refusal (_REFUSED) or its getter's error."""
    # Its getter failed (_getter_failed sets "err"), or it refused the request:
    # the peer answered and is not marked down, or every key it holds would be
    # skipped for the back-off.
    return exc.code() not in _REFUSED and not _getter_error(exc)  # type: ignore[attr-defined]


def _refusal(addr: str, exc: grpc.RpcError) -> Exception:
    """What a failed call to addr raises: LookupError for an unknown group,
    ValueError with the peer's reason for a request it refused, else ConnectionError."""
    code = exc.code()  # type: ignore[attr-defined]
    if code == grpc.StatusCode.NOT_FOUND:
        return LookupError(exc.details())  # type: ignore[attr-defined]
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        # A request the client could not check (e.g. a newer node's other limits).
        return ValueError(exc.details())  # type: ignore[attr-defined]
    return ConnectionError(f"{addr}: {_status(exc)}")


def _closed(addr: str) -> ConnectionError:
    """What a grpc.aio call to addr raises when closing its channel cancelled it."""
    return ConnectionError(f"{addr}: {_CLOSED}")


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
    """Ends the call with code and message (capped); raises."""
    context.abort(code, _capped(message))


def _getter_failed(context: grpc.ServicerContext, exc: Exception) -> None:
    """Ends the call with the getter's error: UNAVAILABLE and the "err" trailer."""
    text = _capped(f"{type(exc).__name__}: {exc}")
    context.set_trailing_metadata((("err", text),))
    _bad(context, grpc.StatusCode.UNAVAILABLE, text)
