"""In-process stand-ins for the network: a fake peer, a fake picker and a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable

from distcache.peers import NotFound


class FakePeer:
    """A peer that answers from a dict, counts its calls and can be made to fail."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        # Guards calls.
        self._lock = threading.Lock()
        self.data = dict(data or {})
        self.calls: list[tuple[str, str]] = []
        self.error: Exception | None = None

    def get(self, group: str, key: str) -> bytes:
        with self._lock:
            self.calls.append((group, key))
        if self.error is not None:
            raise self.error
        try:
            return self.data[key]
        except KeyError:
            raise NotFound(key) from None


class FakePicker:
    """Owns the keys for which owned_here(key) is true; every other key belongs to peer."""

    def __init__(self, peer: FakePeer, owned_here: Callable[[str], bool]) -> None:
        self.peer = peer
        self.owned_here = owned_here

    def pick_peer(self, key: str) -> FakePeer | None:
        return None if self.owned_here(key) else self.peer


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
