"""Hinted handoff: the writes a peer missed, kept for it until it is seen up again.

A write (a client's Set or Delete, a replica push of a load) that could not
reach a peer, because the peer was marked down or its call failed, is kept
here as a hint: the key, what to do, the value, the version and when its ttl
ends. One worker thread replays a peer's hints once the peer no longer reads
as down (the pool's prober brings it back as soon as its health service
answers), oldest first; the receiver applies each one only when it is newer
than what it holds, so a replay never overwrites a later write.

A peer keeps at most one hint per key (the newest version wins), and at most
MAX_HINTS hints and MAX_HINT_BYTES bytes of values; past either the oldest
is dropped, counted in ``hints_dropped``, as are the hints of a peer that
left the ring and those whose ttl ran out before the replay. This is
Cassandra's hinted handoff (docs/grpc.md, "Consistency").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Hints", "MAX_HINT_BYTES", "MAX_HINTS"]

MAX_HINTS = 10_000  # per peer: one per key, the newest version kept
MAX_HINT_BYTES = 64 << 20  # per peer, of values: one largest value
TICK = 0.1  # seconds between the worker's looks at the peers it holds hints for


@dataclass(frozen=True)
class Hint:
    """One write a peer missed: a set (value) or a delete (value None)."""

    value: bytes | None
    version: int
    ttl: float | None  # seconds the value had left when hinted
    made: float  # time.monotonic() when hinted

    def remaining_ttl(self, now: float) -> float | None:
        """Seconds the value has left now; None for no ttl."""
        return None if self.ttl is None else self.ttl - (now - self.made)


class Hints:
    """The hints a group holds for its peers, and the thread that replays them."""

    def __init__(self, group: str, count: Callable[[str], None],
                 peers: Callable[[], tuple[Any, ...]], *, max_hints: int = MAX_HINTS,
                 max_bytes: int = MAX_HINT_BYTES) -> None:
        self._group = group
        self._count = count  # count("hints" | "hints_replayed" | "hints_dropped")
        self._peers = peers  # every other node now: a peer not among them left the ring
        self._max_hints = max_hints
        self._max_bytes = max_bytes
        # Guards _held, _bytes, _thread and _closed.
        self._lock = threading.Lock()
        self._held: dict[Any, OrderedDict[str, Hint]] = {}
        self._bytes: dict[Any, int] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def add(self, peer: Any, key: str, value: bytes | None, version: int,
            ttl: float | None = None) -> None:
        """Keeps a write peer missed: a set of value (ttl seconds), or a delete (None)."""
        hint = Hint(None if value is None else bytes(value), version, ttl, time.monotonic())
        size = 0 if hint.value is None else len(hint.value)
        with self._lock:
            if self._closed.is_set():
                return
            held = self._held.setdefault(peer, OrderedDict())
            old = held.get(key)
            if old is not None:
                if old.version > version:
                    return  # the peer is owed a newer write of key already
                self._forget(peer, held, key)
            held[key] = hint
            self._bytes[peer] = self._bytes.get(peer, 0) + size
            while len(held) > self._max_hints or self._bytes[peer] > self._max_bytes:
                self._forget(peer, held, next(iter(held)))
                self._count("hints_dropped")
            self._count("hints")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"distcache-hints-{self._group}", daemon=True)
                self._thread.start()

    def _forget(self, peer: Any, held: OrderedDict[str, Hint], key: str) -> None:
        """Drops held[key]; the caller holds _lock."""
        hint = held.pop(key)
        self._bytes[peer] -= 0 if hint.value is None else len(hint.value)

    def pending(self) -> int:
        """Hints not yet replayed, over every peer."""
        with self._lock:
            return sum(len(h) for h in self._held.values())

    def pending_for(self, peer: Any) -> int:
        """Hints not yet replayed to peer."""
        with self._lock:
            return len(self._held.get(peer, ()))

    def _run(self) -> None:
        while not self._closed.wait(TICK):
            self.replay()

    def replay(self) -> None:
        """Sends the hints of every peer that reads as up, oldest first; a peer
        whose call fails keeps the rest for a later round."""
        members = set(self._peers())
        with self._lock:
            owed = [p for p, held in self._held.items() if held]
            for peer in [p for p in owed if p not in members]:
                held = self._held.pop(peer)
                self._bytes.pop(peer, None)
                for _ in held:
                    self._count("hints_dropped")
        for peer in owed:
            if peer in members and not getattr(peer, "down", False):
                self._replay_to(peer)

    def _replay_to(self, peer: Any) -> None:
        while not self._closed.is_set():
            with self._lock:
                held = self._held.get(peer)
                if not held:
                    return
                key, hint = next(iter(held.items()))
                self._forget(peer, held, key)
            ttl = hint.remaining_ttl(time.monotonic())
            if ttl is not None and ttl <= 0:
                self._count("hints_dropped")  # the value would be expired there
                continue
            try:
                if hint.value is None:
                    peer.delete(self._group, key, forwarded=True, version=hint.version)
                else:
                    peer.set(self._group, key, hint.value, ttl, forwarded=True,
                             version=hint.version)
            except Exception:  # still unreachable: kept (unless a newer hint came)
                self._restore(peer, key, hint)
                return
            self._count("hints_replayed")

    def _restore(self, peer: Any, key: str, hint: Hint) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            held = self._held.setdefault(peer, OrderedDict())
            if key in held:
                return  # a newer write of key was hinted during the call
            held[key] = hint
            held.move_to_end(key, last=False)
            self._bytes[peer] = self._bytes.get(peer, 0) + (
                0 if hint.value is None else len(hint.value))

    def close(self, timeout: float = 5.0) -> None:
        """Stops the worker; hints not replayed by then are lost with the process."""
        with self._lock:
            self._closed.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
