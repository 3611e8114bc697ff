"""Duplicate call suppression: concurrent calls for one key run the function once.

The Python counterpart of groupcache's ``singleflight`` package. A leaf module:
it knows nothing of caches, groups or peers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Call(Generic[T]):
    """One in-flight call: its leader thread, its outcome and the event waiters block on."""

    __slots__ = ("done", "error", "leader", "value")

    def __init__(self, leader: int) -> None:
        self.done = threading.Event()
        self.leader = leader
        self.value: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """A set of in-flight calls keyed by an arbitrary hashable key."""

    def __init__(self) -> None:
        # Guards _calls, leaders and deduplicated. Never held while fn runs.
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[T]] = {}
        self.leaders = 0
        """Calls that ran fn themselves."""
        self.deduplicated = 0
        """Calls that waited for another caller's fn instead of running their own."""

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
                call = self._calls[key] = _Call(me)
                self.leaders += 1
                leader = True
            elif call.leader == me:
                # fn asked for its own key: waiting would deadlock this thread.
                raise RuntimeError(f"singleflight: recursive call for key {key!r}")
            else:
                self.deduplicated += 1
                leader = False
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.value, True  # type: ignore[return-value]
        try:
            value = fn()
            call.value = value
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return value, False

    def in_flight(self) -> int:
        """The number of keys being loaded right now."""
        with self._lock:
            return len(self._calls)
