"""Handoff of held keys: to a replica that is back up, and to new replicas after a ring change.

Hints (hints.py) carry the writes a peer missed while it was unreachable. A
peer that restarted lost more than those: every key it held. And a ring
change gives keys replicas that never had them. So one thread per group
watches two things, four times a second:

- a peer that restarted (its ``restarts`` went up: the pool's prober saw a
  new incarnation in its health answer) and so lost its cache: every key
  held here of which that peer is a replica is sent to it. A peer that
  tells no incarnation (an in-process fake) counts as restarted when it
  read as down for MIN_DOWN or longer and reads as up again;
- the pool's ring version: after a change every key held here is sent to
  the replicas the change gave it (Placement.added).

Each key goes with its version and the seconds it has left, as a forwarded
set, so a replica that holds the same or a newer version keeps it. The walk
takes the keys of the main cache as they are when it starts (each shard's
view under its lock, _core's ``keys``), at most MAX_KEYS of them; a call
that fails stops the walk for that peer, which is walked again when it is
next seen come back up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Handoff", "MAX_KEYS", "TICK"]

TICK = 0.25  # seconds between looks at the peers and the ring (the prober's period)
# A peer must have read as down this long for its return to be walked: a
# live peer marked down by one slow call is back within a probe (0.25 s) and
# lost nothing, while a restart takes longer than this.
MIN_DOWN = 0.5
MAX_KEYS = 1_000_000  # keys one walk may send: a bound on one event's work


class Handoff:
    """The thread that sends held keys to replicas that came back or were added."""

    def __init__(self, group: str, main: Callable[[], Any], picker: Any,
                 count: Callable[[str], None], stale_ttl: float = 0.0) -> None:
        self._group = group
        self._stale_ttl = stale_ttl  # part of an entry's ttl the receiver adds back itself
        self._main = main  # the group's main cache now (register_peers rebuilds it)
        self._picker = picker
        self._count = count  # count("handoffs")
        self._ring = getattr(picker, "ring_version", 0)
        self._down: dict[Any, float] = {}  # peers that read as down: since when (monotonic)
        self._restarts: dict[Any, int] = {}  # each peer's restarts at the last look
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"distcache-handoff-{group}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed.wait(TICK):
            try:
                self.look()
            except Exception:  # a peer or the ring changed under the walk: next tick
                continue

    def look(self) -> None:
        """Sends what a peer back up or a ring change calls for."""
        peers = self._picker.peers()
        now = time.monotonic()
        down = {p: self._down.get(p, now) for p in peers if getattr(p, "down", False)}
        back = {p for p, since in self._down.items() if p in peers and p not in down
                and now - since >= MIN_DOWN and not hasattr(p, "restarts")}
        self._down = down
        restarts = {p: p.restarts for p in peers if hasattr(p, "restarts")}
        back |= {p for p, n in restarts.items() if n != self._restarts.get(p, n)}
        self._restarts = restarts
        ring = getattr(self._picker, "ring_version", 0)
        if ring != self._ring:
            self._ring = ring
            self.walk(None)
        elif back:
            self.walk(back)

    def walk(self, to: set[Any] | None) -> int:
        """Sends each held key to its other replicas (only those in to, unless None);
        the keys sent."""
        main = self._main()
        placement = self._picker.placement
        failed: set[Any] = set()
        sent = 0
        for raw in main.keys(MAX_KEYS):
            if self._closed.is_set():
                break
            key = raw.decode("utf-8", "surrogatepass")  # a group's keys are str
            where = placement(key)
            candidates = where.added if to is None else where.others
            targets = [p for p in candidates if p not in failed and (to is None or p in to)]
            if not targets:
                continue
            held = main.get_versioned(key)
            if held is None or not held[1]:
                continue  # gone since, or unversioned: nothing to order it by
            ttl = main.ttl_of(key)
            if ttl is not None and not math.isinf(ttl):
                ttl -= self._stale_ttl
                if ttl <= 0:
                    continue  # stale already: the replica loads it fresh
            else:
                ttl = None
            for peer in targets:
                try:
                    peer.set(self._group, key, bytes(held[0]), ttl, forwarded=True,
                             version=held[1])
                except Exception:  # down again: walked again when it is back
                    failed.add(peer)
                else:
                    sent += 1
                    self._count("handoffs")
        return sent

    def close(self, timeout: float = 5.0) -> None:
        """Stops the thread."""
        self._closed.set()
        self._thread.join(timeout)
