"""The grpc.aio channels to one node: one per event loop, each closed on its own loop.

A grpc.aio channel and its calls live on the event loop it was made on, so
every loop that calls a peer gets its own channel, and closing it (which
cancels its calls in flight) must happen on that loop, whichever thread asks.
"""

from __future__ import annotations

import asyncio
import threading

from grpc import aio

from .wire import TLSConfig, _aio_channel, _Methods

__all__ = ["AioChannels"]

# How long closing a peer waits for an event loop running in another thread
# to close that loop's channel; a loop that does not answer keeps it until it
# ends (the channel is destroyed with the loop's last reference to it).
_AIO_CLOSE_WAIT = 5.0

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


class AioChannels:
    """The grpc.aio channels to one node, one per event loop that calls it."""

    def __init__(self, addr: str, tls: TLSConfig | None) -> None:
        self._addr = addr
        self._tls = tls  # the channels are made as the peer's sync one was
        # Guards _by_loop and _closed. A plain dict, not a WeakKeyDictionary: a
        # channel holds its loop, so a weak key would never go; the channels of
        # loops that closed are dropped when a new loop arrives, and by close().
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _Methods] = {}
        self._closed = False

    def of(self, loop: asyncio.AbstractEventLoop) -> _Methods:
        """The calls of loop's (the running one's) channel, made on its first call."""
        # Every aget asks: a dict read is atomic, so the lock is for the first
        # call on a loop (or after close(), which empties the dict) only.
        methods = self._by_loop.get(loop)
        if methods is not None:
            return methods
        with self._lock:
            methods = self._by_loop.get(loop)
            if methods is None:
                if self._closed:
                    raise ValueError(f"{self._addr}: the peer is closed")
                for gone in [lp for lp in self._by_loop if lp.is_closed()]:
                    del self._by_loop[gone]
                methods = self._by_loop[loop] = _Methods.of(_aio_channel(self._addr, self._tls))
        return methods

    def holds(self, loop: asyncio.AbstractEventLoop, methods: _Methods) -> bool:
        """Whether methods are still loop's channel (close() drops them)."""
        with self._lock:
            return self._by_loop.get(loop) is methods

    def loops(self) -> list[asyncio.AbstractEventLoop]:
        """The event loops that hold a channel now."""
        with self._lock:
            return list(self._by_loop)

    def close(self) -> None:
        """Closes every loop's channel, each on its loop; later calls fail."""
        with self._lock:
            self._closed = True
            channels, self._by_loop = self._by_loop, {}
        for loop, methods in channels.items():
            _close_aio(loop, methods.channel)

    async def aclose(self) -> None:
        """close, awaited: the running loop's channel is closed on it, the others
        (loops of other threads, which close() waits for) from a worker thread."""
        with self._lock:
            mine = self._by_loop.pop(asyncio.get_running_loop(), None)
            others = bool(self._by_loop)
        if mine is not None:
            await mine.channel.close()
        if others:
            await asyncio.to_thread(self.close)
        else:
            self.close()
