"""The applications' clients of one node: Client (sync) and AsyncClient (asyncio).

Siblings, each holding a _Peer that is never marked down. Their calls are
never marked forwarded: the node answers for any key, asking the key's
replicas itself. A failed call raises ConnectionError (LookupError for an
unknown group, NotFound for a key the source lacks).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .peer import _Peer
from .wire import TLSConfig, _bearer

__all__ = ["AsyncClient", "Client", "connect", "connect_async"]


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
        return self._peer.get(group, key, forwarded=False)

    def get_many(self, group: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        return self._peer.get_many(group, keys, forwarded=False)

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Stores value on the key's replicas (never in the source of truth)."""
        self._peer.set(group, key, value, ttl, forwarded=False)

    def delete(self, group: str, key: str) -> bool:
        """Drops key from every node's caches."""
        return self._peer.delete(group, key, forwarded=False)

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
        return await self._peer.aget(group, key, forwarded=False)

    async def aget_many(self, group: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The values of the keys found, in their order."""
        return await self._peer.aget_many(group, keys, forwarded=False)

    async def aset(self, group: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Stores value on the key's replicas (never in the source of truth)."""
        await self._peer.aset(group, key, value, ttl, forwarded=False)

    async def adelete(self, group: str, key: str) -> bool:
        """Drops key from every node's caches."""
        return await self._peer.adelete(group, key, forwarded=False)

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
