"""Coalescing the gets one event loop makes in one turn into one batch call.

100 tasks that each await a remote get would make 100 gRPC calls, and a
grpc.aio call costs about 200 us of the loop's CPU: the loop is then busy
for tens of milliseconds per turn and every other task waits (the event-loop
lag of docs/async.md). A GetBatcher takes the keys asked for in one turn of
the loop and sends them as one GetMany when the loop next runs its
callbacks: the same answers for one call's cost. A key asked for alone goes
as a plain Get, so a lone caller waits no longer than before.

A batch that fails as a whole for one key's sake (that key's getter failed,
the peer refused that key, or the answers are over the message limit) is
asked again key by key, so that each caller gets its own key's answer or
error. Any other failure (the peer unreachable, the deadline passed) is
every caller's, as it would be for their own calls. The transport is the
caller's: one(key) and many(keys) coroutines, and refetch(exc) saying which
failures are asked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..peers import NotFound

__all__ = ["MAX_BATCH", "GetBatcher"]

MAX_BATCH = 128
"""Most keys in one batch: a bound on one answer's size and on a batch's wait."""


class GetBatcher:
    """Gets of one loop, for one group on one peer, batched per turn of the loop.

    Used from its event loop only (one batcher per loop), so it needs no lock.
    """

    def __init__(
        self,
        one: Callable[[str], Awaitable[bytes]],
        many: Callable[[list[str]], Awaitable[dict[str, bytes]]],
        refetch: Callable[[BaseException], bool],
        max_keys: int = MAX_BATCH,
    ) -> None:
        self._one = one
        self._many = many
        self._refetch = refetch
        self._max_keys = max_keys
        # The keys asked for since the last flush, each with its caller's future.
        self._pending: list[tuple[str, asyncio.Future[bytes]]] = []
        # Batches being asked, kept because a loop holds only weak references to its tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> bytes:
        """key's value; NotFound when the peer's source lacks it. Cancelling the
        caller drops its wait only: the batch goes on for the others."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((key, future))
        if len(self._pending) >= self._max_keys:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return  # flushed when it filled up
        task = asyncio.get_running_loop().create_task(self._ask(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask(self, batch: list[tuple[str, asyncio.Future[bytes]]]) -> None:
        if len(batch) == 1:
            await self._ask_one(*batch[0])
            return
        try:
            answer = await self._many(list(dict.fromkeys(key for key, _ in batch)))
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            if self._refetch(exc):
                await asyncio.gather(*(self._ask_one(key, future) for key, future in batch))
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for key, future in batch:
            if future.done():  # its caller was cancelled
                continue
            value = answer.get(key)
            if value is None:
                future.set_exception(NotFound(key))
            else:
                future.set_result(value)

    async def _ask_one(self, key: str, future: asyncio.Future[bytes]) -> None:
        if future.done():
            return
        try:
            value = await self._one(key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(value)
