"""Where a group runs a getter that does not fit its caller.

``aget`` must never block its event loop, so a plain (sync) getter runs in a
bounded thread pool; ``get`` is called from threads, so an ``async def``
getter runs on one background event loop thread. Both are made on first use
and live as long as the process (daemon threads: they never hold up exit).
A peer is asked the same way from a task (``ask``): its ``a<method>`` awaited
when it has one, else its plain method in the pool. A leaf module: it knows
nothing of groups.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["POOL_WORKERS", "ask", "in_pool", "on_loop_thread", "submit"]

T = TypeVar("T")

# As concurrent.futures' own default: enough for getters that wait on I/O,
# bounded so that a burst of cold keys cannot start a thread per key.
POOL_WORKERS = min(32, (os.cpu_count() or 1) + 4)

# Guards _pool, _loop and _thread (created once, on first use).
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _the_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="distcache-getter")
        return _pool


def submit(fn: Callable[[], Any]) -> None:
    """fn() in the bounded pool, in the background (its exceptions are fn's to handle)."""
    _the_pool().submit(fn)


async def in_pool(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in the bounded pool, awaited on the running loop."""
    return await asyncio.get_running_loop().run_in_executor(_the_pool(), fn, *args)


async def ask(peer: Any, method: str, *args: Any, **kw: Any) -> Any:
    """peer.a<method>(...) awaited, or a peer without it called in the pool."""
    native = getattr(peer, "a" + method, None)
    if native is not None:
        return await native(*args, **kw)
    return await in_pool(functools.partial(getattr(peer, method), *args, **kw))


def _the_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="distcache-async-getters",
                                      daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def on_loop_thread(awaitable: Awaitable[T]) -> T:
    """The result of awaitable, run on the background loop; blocks the calling thread."""
    loop = _the_loop()
    if threading.current_thread() is _thread:
        raise RuntimeError("a blocking get() on distcache's async getter thread; await aget()")

    async def run() -> T:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(run(), loop).result()
