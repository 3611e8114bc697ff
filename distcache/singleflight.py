"""Duplicate call suppression: concurrent calls for one key run the function once.

The Python counterpart of groupcache's ``singleflight`` package, for threads
and asyncio tasks together: a thread calling ``do`` and a task awaiting
``ado`` for the same key share one call, whichever started it. A leaf module:
it knows nothing of caches, groups or peers.

A task's call runs as a task of its own, not in the caller: a caller that is
cancelled stops waiting, and the call goes on for the others (and for the
cache it fills). Only when the call's own task is cancelled (its event loop
is shutting down) do the waiters get ``LoadCancelled``.

A loop closed without cancelling its tasks (``loop.close()`` with no
``asyncio.run`` around it) leaves its call unable ever to finish. Such a call
is abandoned by the first caller that finds its loop closed: a thread in
``do()`` or a task in ``ado()`` on another loop, when it joins the call and,
while it waits, every ``LOOP_CHECK`` seconds. That caller removes the call and
starts a fresh one for the key. The abandoned call ends in ``LoadCancelled``,
as a cancelled one does: the tasks still waiting on it get that error. Threads
in ``do()`` never get it for an abandoned call: each of them starts over
(joining the fresh call), since a blocking caller has no timeout or
cancellation of its own and asked only for the value. Only ``is_closed()``
counts as proof: a loop that is merely not running (between two
``run_until_complete`` calls) resumes its call when it runs again.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["LOOP_CHECK", "LoadCancelled", "SingleFlight"]

T = TypeVar("T")

LOOP_CHECK = 0.1
"""Seconds between two looks of a caller waiting on another loop's call at whether it closed."""

# The keys (per SingleFlight) whose async call the current task is running:
# an ado() of one of them from inside its own call would wait for itself.
_running: contextvars.ContextVar[frozenset[tuple[int, Hashable]]] = contextvars.ContextVar(
    "distcache_singleflight_running", default=frozenset()
)


class LoadCancelled(RuntimeError):
    """The shared call was cancelled, or abandoned with its closed loop, before it finished."""


# Futures of waiting tasks, each with the loop it is resolved on.
_Waiters = list[tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]]


class _Call(Generic[T]):
    """One in-flight call: its leader, its outcome, and how waiters learn of it."""

    __slots__ = ("abandoned", "done", "error", "leader", "loop", "task", "value", "waiters")

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
        self.waiters: _Waiters = []
        # Set (under the SingleFlight's lock, with error) when its loop closed first.
        self.abandoned = False


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled waiter stays cancelled
        future.set_result(None)


class SingleFlight(Generic[T]):
    """A set of in-flight calls keyed by an arbitrary hashable key."""

    def __init__(self) -> None:
        # Guards _calls, every _Call's waiters and abandoned flag, a task's
        # call's outcome (given only while it is registered), leaders and
        # deduplicated. Never held while a call runs.
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
        wake_dead = None
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = _Call(me, None)
                self.leaders += 1
                leader = True
            elif call.loop is not None and call.loop.is_closed():
                # Its loop was closed with the call unfinished: it never will.
                call, wake_dead = self._replace(key, call, me, None)
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
        if wake_dead is not None:
            wake_dead()
        elif not leader:
            if call.loop is None:  # a thread's call: that thread finishes it
                done.wait()
            elif not self._wait_alive(key, call, call.loop, done):
                with self._lock:
                    self.deduplicated -= 1  # counted again by how its next try ends
                return self.do(key, fn)
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
        stops waiting; the call itself goes on for the others. A call whose
        loop was closed before it finished is replaced by a fresh one.
        """
        loop = asyncio.get_running_loop()
        me = threading.get_ident()
        mark = (id(self), key)
        if mark in _running.get():
            raise RuntimeError(f"singleflight: a call for key {key!r} awaits itself")
        waiter: asyncio.Future[None] = loop.create_future()
        wake_dead = None
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = _Call(me, loop)
                self.leaders += 1
                leader = True
            elif call.loop is None and call.leader == me:
                raise RuntimeError(f"singleflight: a call for key {key!r} awaits itself")
            elif call.loop is not None and call.loop.is_closed():
                # Its loop was closed with the call unfinished: it never will.
                call, wake_dead = self._replace(key, call, me, loop)
                leader = True
            else:
                self.deduplicated += 1
                leader = False
            call.waiters.append((loop, waiter))
        if wake_dead is not None:
            wake_dead()
        if leader:
            context = contextvars.copy_context()
            context.run(_running.set, _running.get() | {mark})
            call.task = loop.create_task(self._run(key, call, start), context=context)
            await waiter
        elif call.loop is None or call.loop is loop:
            await waiter  # a thread's call, or this running loop's: neither can close under it
        elif not await self._await_alive(key, call, call.loop, waiter):
            with self._lock:
                self.deduplicated -= 1  # counted again by how its next try ends
            return await self.ado(key, start)
        return self._outcome(call), not leader

    async def _run(self, key: Hashable, call: _Call[T], start: Callable[[], Awaitable[T]]) -> None:
        try:
            value = await start()
        except asyncio.CancelledError:
            cancelled = LoadCancelled(f"the load of {key!r} was cancelled before it finished")
            self._settle(key, call, None, cancelled)
            raise
        except BaseException as exc:
            # GeneratorExit included: the task of an abandoned call is closed
            # when it is collected, and _settle drops what that brings.
            self._settle(key, call, None, exc)
        else:
            self._settle(key, call, value, None)

    def _settle(
        self, key: Hashable, call: _Call[T], value: Any, error: BaseException | None
    ) -> None:
        # The outcome is given under the lock, and only to a registered call:
        # a caller that finds the call there may abandon it, knowing it has none.
        with self._lock:
            if self._calls.get(key) is not call:
                return  # abandoned: its waiters had LoadCancelled
            call.value, call.error = value, error
            del self._calls[key]
            waiters, call.waiters = call.waiters, []
            done = call.done
        self._wake_all(done, waiters)

    def _finish(self, key: Hashable, call: _Call[T]) -> None:
        with self._lock:
            del self._calls[key]
            waiters, call.waiters = call.waiters, []
            done = call.done
        if done is not None or waiters:
            self._wake_all(done, waiters)

    def _replace(
        self, key: Hashable, dead: _Call[T], me: int, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[_Call[T], Callable[[], None]]:
        """A fresh call led by me in place of dead, whose loop is closed; lock held.

        Returns the fresh call and what wakes dead's waiters, to run once the
        lock is released.
        """
        waiters, done = self._give_up(key, dead)
        call = self._calls[key] = _Call(me, loop)
        self.leaders += 1
        return call, lambda: self._wake_all(done, waiters)

    def _abandon(self, key: Hashable, call: _Call[T]) -> bool:
        """Abandon call if it is still the one registered for key; True if this did it."""
        with self._lock:
            if self._calls.get(key) is not call:
                return False  # it finished, or another caller abandoned it
            waiters, done = self._give_up(key, call)
        self._wake_all(done, waiters)
        return True

    def _give_up(self, key: Hashable, call: _Call[T]) -> tuple[_Waiters, threading.Event | None]:
        """Unregister call (registered, so without an outcome) as abandoned; lock held."""
        del self._calls[key]
        call.abandoned = True
        call.error = LoadCancelled(
            f"the load of {key!r} was abandoned: its event loop was closed before it finished"
        )
        waiters, call.waiters = call.waiters, []
        return waiters, call.done

    def _wait_alive(
        self, key: Hashable, call: _Call[T], loop: asyncio.AbstractEventLoop, done: threading.Event
    ) -> bool:
        """A thread's wait for loop's call: False when that call was abandoned."""
        while not done.wait(LOOP_CHECK):
            if loop.is_closed():
                self._abandon(key, call)  # or it finished or was abandoned: done is set
        return not call.abandoned

    async def _await_alive(
        self,
        key: Hashable,
        call: _Call[T],
        loop: asyncio.AbstractEventLoop,
        waiter: asyncio.Future[None],
    ) -> bool:
        """A task's wait for another loop's call: False when this caller abandoned it."""
        while not waiter.done():
            await asyncio.wait((waiter,), timeout=LOOP_CHECK)
            if not waiter.done() and loop.is_closed() and self._abandon(key, call):
                return False
        return True

    @staticmethod
    def _wake_all(done: threading.Event | None, waiters: _Waiters) -> None:
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
