"""Pushes of freshly loaded values to a key's other replicas, off the reader's path.

A replica that loaded a key sends the value to the key's other replica so
that a read there is a hit. The push carries the version the load took when
it started: a replica that has a newer write of the key by then keeps it.
The reader never waits for that: pushes go through a bounded queue to one
worker thread, a full queue drops the push (counted), and a failed one is
counted and left as a hint (hints.py), sent again when that replica is up.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ReplicaPusher"]

_STOP = object()


class ReplicaPusher:
    """A bounded queue of (peer, key, value) pushes and the thread that sends them."""

    def __init__(self, group: str, count: Callable[[str], None],
                 hint: Callable[[Any, str, bytes | None, int], None] | None = None,
                 capacity: int = 1024) -> None:
        self._group = group
        self._count = count  # count("replica_pushes" | "replica_push_failures" | ...)
        self._hint = hint  # hint(peer, key, value, version): a failed push, sent again later
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        # Guards _thread (started on the first push) and _closed.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def offer(self, peer: Any, key: str, value: bytes | None, version: int = 0) -> None:
        """Queues a push of key to peer; drops it (counted) when the queue is full.

        version: the load's, so that the peer keeps a newer write it took since.
        value None: a Delete of that version (a tombstone sent back, writes.py).
        """
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"distcache-push-{self._group}", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait((peer, key, value, version))
        except queue.Full:
            self._count("replica_push_dropped")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                peer, key, value, version = item
                try:
                    if value is None:
                        peer.delete(self._group, key, forwarded=True, version=version)
                    else:
                        peer.set(self._group, key, value, None, forwarded=True,
                                 version=version)
                except Exception:  # counted, and sent again when the replica is up
                    self._count("replica_push_failures")
                    if self._hint is not None:
                        self._hint(peer, key, value, version)
                else:
                    self._count("replica_pushes")
            finally:
                self._queue.task_done()

    def flush(self, timeout: float) -> bool:
        """Waits until every queued push was sent or failed; False on timeout."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stops the worker after the pushes already queued."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
