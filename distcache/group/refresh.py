"""Background refreshes of stale entries: at most one per key at a time.

A stale hit asks for a refresh and returns at once; the refresh runs in the
bounded pool of distcache.offload. A key already being refreshed is not
queued again, so a hot stale key costs one refresh, not one per hit. A leaf
module: it knows nothing of groups.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from . import offload

__all__ = ["Refresher"]


class Refresher:
    """The keys being refreshed now, and the starting of one more."""

    def __init__(self) -> None:
        # Guards _keys.
        self._lock = threading.Lock()
        self._keys: set[str] = set()

    def start(self, key: str, refresh: Callable[[], None]) -> bool:
        """Run refresh() in the background unless key is being refreshed; True if started."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys.add(key)

        def run() -> None:
            try:
                refresh()
            finally:
                with self._lock:
                    self._keys.discard(key)

        try:
            offload.submit(run)
        except RuntimeError:  # the interpreter is shutting down: no new threads
            with self._lock:
                self._keys.discard(key)
            return False
        return True

    def running(self) -> int:
        """The number of refreshes queued or running."""
        with self._lock:
            return len(self._keys)
