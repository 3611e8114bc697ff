"""The applications' clients of one node: Client (sync) and AsyncClient (asyncio).

Siblings, each holding a _Peer that is never marked down. Their calls are
never marked forwarded: the node answers for any key, asking the key's
replicas itself. A request is checked as a group checks it before anything
is sent (a key that is not str or bytes-like is a TypeError, one over
MAX_KEY_LEN bytes a ValueError; values and ttls as Group.set checks them), so
a bad key never joins the batch of gets it would share with other tasks. A
request the node refuses all the same is a ValueError with its reason, an
unknown group a LookupError, a key the source lacks NotFound; any other
failure raises ConnectionError (docs/grpc.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._contract import check_ttl, key_bytes, value_view
from ..group.keys import key_str
from .peer import _Peer
from .wire import TLSConfig, _bearer, check_value_size

__all__ = ["AsyncClient", "Client", "connect", "connect_async"]


def _key(key: object) -> str:
    """key as the node is sent it, refused as a group refuses it: TypeError for a
    key that is not str or bytes-like, ValueError over MAX_KEY_LEN bytes, a
    UnicodeError for one that is no UTF-8 text."""
    name = key_str(key)
    key_bytes(name)  # key_str passes a str as it is: its size and UTF-8 are checked here
    return name


def _keys(keys: Iterable[object]) -> list[str]:
    """Every key of a get_many, each checked by _key before any is sent."""
    return [_key(key) for key in keys]


def _write(key: object, value: Any, ttl: Any) -> tuple[str, Any, float | None]:
    """(key, value, ttl) of a set, refused as Group.set refuses them: a value that is
    not bytes-like is a TypeError, a ttl that is no number too, one not > 0 a ValueError."""
    name = _key(key)
    check_value_size(len(value_view(value)))
    return name, value, None if ttl is None else check_ttl(ttl, "ttl")


def _client_peer(addr: str, timeout: float, token: str | None, tls: TLSConfig | None,
                 batch_gets: bool) -> _Peer:
    """The peer a client calls through: never marked down, the client has no other."""
    return _Peer(addr, timeout, _bearer(token), mark_down=False, tls=tls, batch_gets=batch_gets)


class Client:
    """A client of one node, for applications: get, get_many, set and delete of a group."""

    def __init__(self, addr: str, *, timeout: float = 1.0, token: str | None = None,
                 tls: TLSConfig | None = None, batch_gets: bool = True) -> None:
        self.addr = addr
        self._peer = _client_peer(addr, timeout, token, tls, batch_gets)

    def __repr__(self) -> str:
        return f"<Client {self.addr}>"

    def get(self, group: str, key: str) -> bytes:
        """The value of key in group; raises NotFound when the source lacks it."""
        return self._peer.get(group, _key(key), forwarded=False)

    def get_many(self, group: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        return self._peer.get_many(group, _keys(keys), forwarded=False)

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Stores value on the key's replicas (never in the source of truth)."""
        self._peer.set(group, *_write(key, value, ttl), forwarded=False)

    def delete(self, group: str, key: str) -> bool:
        """Drops key from every node's caches."""
        return self._peer.delete(group, _key(key), forwarded=False)

    def close(self) -> None:
        """Closes the channel; later calls fail."""
        self._peer.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(addr: str, **kw: Any) -> Client:
    """A Client of the node at addr (timeout, token, tls and batch_gets as keywords)."""
    return Client(addr, **kw)


class AsyncClient:
    """Client's asyncio sibling: aget, aget_many, aset and adelete, as coroutines.

    Each event loop that calls it gets its own grpc.aio channel; the loop is
    never blocked by the network. The gets a loop makes of one group in one
    turn go as one GetMany unless batch_gets=False. `async with` closes it.
    """

    def __init__(self, addr: str, *, timeout: float = 1.0, token: str | None = None,
                 tls: TLSConfig | None = None, batch_gets: bool = True) -> None:
        self.addr = addr
        self._peer = _client_peer(addr, timeout, token, tls, batch_gets)

    def __repr__(self) -> str:
        return f"<AsyncClient {self.addr}>"

    async def aget(self, group: str, key: str) -> bytes:
        """The value of key in group; raises NotFound when the source lacks it."""
        return await self._peer.aget(group, _key(key), forwarded=False)

    async def aget_many(self, group: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        return await self._peer.aget_many(group, _keys(keys), forwarded=False)

    async def aset(self, group: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Stores value on the key's replicas (never in the source of truth)."""
        await self._peer.aset(group, *_write(key, value, ttl), forwarded=False)

    async def adelete(self, group: str, key: str) -> bool:
        """Drops key from every node's caches."""
        return await self._peer.adelete(group, _key(key), forwarded=False)

    async def aclose(self) -> None:
        """Closes every event loop's channel, the running loop's on it; later calls fail."""
        await self._peer.aclose()

    def close(self) -> None:
        """Closes every event loop's channel, each on its own loop; later calls fail."""
        self._peer.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def connect_async(addr: str, **kw: Any) -> AsyncClient:
    """An AsyncClient of the node at addr (timeout, token, tls and batch_gets as keywords)."""
    return AsyncClient(addr, **kw)
