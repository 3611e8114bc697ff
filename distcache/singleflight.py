"""Duplicate call suppression: concurrent calls for one key run the function once.

The Python counterpart of groupcache's ``singleflight`` package, for threads
and asyncio tasks together: a thread calling ``do`` and a task awaiting
``ado`` for the same key share one call, whichever started it. A leaf module:
it knows nothing of caches, groups or peers.

A task's call runs as a task of its own, not in the caller: a caller that is
cancelled stops waiting, and the call goes on for the others (and for the
cache it fills). Only when the call's own task is cancelled (its event loop
is shutting down) do the waiters get ``LoadCancelled``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["LoadCancelled", "SingleFlight"]

T = TypeVar("T")

# The keys (per SingleFlight) whose async call the current task is running:
# an ado() of one of them from inside its own call would wait for itself.
_running: contextvars.ContextVar[frozenset[tuple[int, Hashable]]] = contextvars.ContextVar(
    "distcache_singleflight_running", default=frozenset()
)


class LoadCancelled(RuntimeError):
    """The shared call was cancelled before it finished (its event loop stopped)."""


class _Call(Generic[T]):
    """One in-flight call: its leader, its outcome, and how waiters learn of it."""

    __slots__ = ("done", "error", "leader", "loop", "task", "value", "waiters")

    def __init__(self, leader: int, loop: asyncio.AbstractEventLoop | None) -> None:
        # Set when value or error is final; made (under the SingleFlight's lock)
        # only when a thread waits: most calls have task waiters or none.
        self.done: threading.Event | None = None
        self.leader = leader  # thread id of the caller that started it
        self.loop = loop  # the event loop running it, None for a thread's call
        self.task: asyncio.Task[None] | None = None  # an async call's own task
        self.value: T | None = None
        self.error: BaseException | None = None
        # Futures of waiting tasks, each resolved on its own loop.
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled waiter stays cancelled
        future.set_result(None)


class SingleFlight(Generic[T]):
    """A set of in-flight calls keyed by an arbitrary hashable key."""

    def __init__(self) -> None:
        # Guards _calls, every _Call's waiters, leaders and deduplicated.
        # Never held while a call runs.
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[T]] = {}
        self.leaders = 0
        """Calls that ran their function themselves."""
        self.deduplicated = 0
        """Calls that waited for another caller's call instead of running their own."""

    def do(self, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run fn once for all concurrent callers of key; return (value, shared).

        ``shared`` is False for the leader (the caller that ran fn) and True for a
        caller that waited for the leader. When fn raises, the leader and every
        waiter raise the same exception object (as concurrent.futures does); the
        in-flight entry is removed whatever fn raises, KeyboardInterrupt and
        SystemExit included, so the next call starts afresh.
        """
        me = threading.get_ident()
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = _Call(me, None)
                self.leaders += 1
                leader = True
            elif call.leader == me:
                # Waiting would block the very thread that must finish the call.
                where = "on the event loop that is loading it" if call.loop else "recursively"
                raise RuntimeError(f"singleflight: a blocking call for key {key!r} {where}")
            else:
                self.deduplicated += 1
                leader = False
                if call.done is None:
                    call.done = threading.Event()
                done = call.done
        if not leader:
            done.wait()
            return self._outcome(call), True
        try:
            value = fn()
            call.value = value
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            self._finish(key, call)
        return value, False

    async def ado(self, key: Hashable, start: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """do for a task: start() is awaited once for all concurrent callers of key.

        Threads in do() and tasks in ado() share one call. A cancelled caller
        stops waiting; the call itself goes on for the others.
        """
        loop = asyncio.get_running_loop()
        me = threading.get_ident()
        mark = (id(self), key)
        if mark in _running.get():
            raise RuntimeError(f"singleflight: a call for key {key!r} awaits itself")
        waiter: asyncio.Future[None] = loop.create_future()
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = _Call(me, loop)
                self.leaders += 1
                leader = True
            elif call.loop is None and call.leader == me:
                raise RuntimeError(f"singleflight: a call for key {key!r} awaits itself")
            else:
                self.deduplicated += 1
                leader = False
            call.waiters.append((loop, waiter))
        if leader:
            context = contextvars.copy_context()
            context.run(_running.set, _running.get() | {mark})
            call.task = loop.create_task(self._run(key, call, start), context=context)
        await waiter
        return self._outcome(call), not leader

    async def _run(self, key: Hashable, call: _Call[T], start: Callable[[], Awaitable[T]]) -> None:
        try:
            call.value = await start()
        except asyncio.CancelledError:
            call.error = LoadCancelled(f"the load of {key!r} was cancelled before it finished")
            raise
        except BaseException as exc:
            call.error = exc
        finally:
            self._finish(key, call)

    def _finish(self, key: Hashable, call: _Call[T]) -> None:
        with self._lock:
            del self._calls[key]
            waiters, call.waiters = call.waiters, []
            done = call.done
        if done is not None:
            done.set()
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for loop, future in waiters:
            if loop is here:  # this thread's own loop: no wake-up through its self-pipe
                _wake(future)
                continue
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed: nobody is waiting there
                pass

    @staticmethod
    def _outcome(call: _Call[Any]) -> Any:
        if call.error is not None:
            raise call.error
        return call.value

    def in_flight(self) -> int:
        """The number of keys being loaded right now."""
        with self._lock:
            return len(self._calls)
