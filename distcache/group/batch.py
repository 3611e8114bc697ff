"""A group's batch reads: get_many and aget_many, side by side.

One lookup of the main cache answers the keys it holds; the keys this node
is not a replica of go to their first replica, one GetMany per replica, all
replicas asked together; the rest (and the keys of a replica that failed)
take the single-key path, get's failover included. With a stale_ttl, an
entry past its ttl is answered as get answers it: a stale hit, refreshed
once in the background (reads.py's _on_stale).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..peers import NotFound
from . import offload
from .keys import key_str

if TYPE_CHECKING:
    from .state import GroupState
else:
    GroupState = object

__all__ = ["BatchReads"]

# Threads of one get_many that ask its keys' replicas side by side.
_MANY_LOADERS = 8


class BatchReads(GroupState):
    """A Group's get_many and aget_many (a mixin)."""

    def get_many(self, keys: Iterable[str], *, forwarded: bool = False) -> dict[str, bytes]:
        """The values of keys, in their order; keys the source lacks are left out.

        Main-cache hits are answered at once; the keys this node is not a
        replica of go to their first replica, one GetMany per replica, all
        replicas asked in parallel; a replica that fails leaves its keys to
        get()'s own failover. forwarded=True (a peer's call) never forwards.
        An error of the getter raises, as get() does.
        """
        names, found, local, by_peer = self._split_many(keys, forwarded)
        if by_peer:
            with ThreadPoolExecutor(max_workers=min(_MANY_LOADERS, len(by_peer))) as pool:
                asked = [pool.submit(peer.get_many, self.name, ks, forwarded=True)
                         for peer, ks in by_peer.items()]
            for ks, future in zip(by_peer.values(), asked, strict=True):
                try:
                    answer: Any = future.result()
                except Exception as exc:
                    answer = exc
                self._merge_batch(found, local, ks, answer)
        get = self.get_local if forwarded else self.get

        # One after another: loading them side by side took a thread pool per
        # call, and a getter holding a connection per thread (SQLiteGetter)
        # then opened one per call (the node soak saw 300 fds a second).
        for key in local:
            try:
                found[key] = get(key)
            except NotFound:
                pass
        return {key: found[key] for key in names if key in found}

    async def aget_many(self, keys: Iterable[str], *, forwarded: bool = False) -> dict[str, bytes]:
        """get_many for asyncio: replicas asked together on the loop, local keys as tasks."""
        names, found, local, by_peer = self._split_many(keys, forwarded)
        if by_peer:
            answers = await asyncio.gather(
                *(offload.ask(peer, "get_many", self.name, ks, forwarded=True)
                  for peer, ks in by_peer.items()),
                return_exceptions=True,
            )
            for ks, answer in zip(by_peer.values(), answers, strict=True):
                if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                    raise answer  # a cancellation, not a peer's failure
                self._merge_batch(found, local, ks, answer)

        async def one(key: str) -> bytes | None:
            value = self._peek(key)
            if value is not None:
                return value  # type: ignore[no-any-return]
            try:
                return await self._aget_slow(key, not forwarded)
            except NotFound:
                return None

        for key, value in zip(local, await asyncio.gather(*(one(k) for k in local)), strict=True):
            if value is not None:
                found[key] = value
        return {key: found[key] for key in names if key in found}

    def _split_many(
        self, keys: Iterable[str], forwarded: bool
    ) -> tuple[list[str], dict[str, bytes], list[str], dict[Any, list[str]]]:
        """(names, main-cache hits, keys to load here, keys by the replica to ask)."""
        names = [key_str(k) for k in keys]
        found = self._aged_many(names) if self._stale_ttl else self._main.get_many(names)
        self._counts.add("get_many_calls")
        self._counts.add_n("batch_hits", len(found))
        by_peer: dict[Any, list[str]] = {}
        local = []
        for key in names:
            if key in found:
                continue
            placement = None if forwarded else self._placement(key)
            if placement is None or placement.local:
                local.append(key)
            else:
                by_peer.setdefault(placement.others[0], []).append(key)
        return names, found, local, by_peer

    def _aged_many(self, names: list[str]) -> dict[str, bytes]:
        """The main cache's hits among names, each stale one answered through _on_stale."""
        # The cache's get_many cannot tell a stale entry from a fresh one, so
        # with a stale window each key is looked up alone, as the hit path
        # does (the same counting: a lookup is what get_many does per key).
        window = self._stale_ttl
        found: dict[str, bytes] = {}
        for key in names:
            aged = self._main._get_aged(key, window)
            if aged is not None:
                value, stale = aged
                found[key] = self._on_stale(key, value, 1) if stale else value
        return found

    def _merge_batch(
        self, found: dict[str, bytes], local: list[str], keys: list[str], answer: Any
    ) -> None:
        """A replica's GetMany answer into found; on its failure its keys are loaded here."""
        self._counts.add("peer_loads")
        if isinstance(answer, Exception):
            self._counts.add("peer_errors")
            local.extend(keys)  # get() fails over, then loads
        else:
            found.update(answer)
