"""What a node's log says of its peers: one seen down, one up again, the ring changed.

A thread reads the pool's peer_states() (what /stats shows) twice a second
and logs what changed since the last read, to the ``distcache.cluster``
logger: a peer marked down at WARNING with the error that marked it, its
return and a change of the ring's members at INFO. Polling keeps the calls
themselves free of logging; a peer down and up again within half a second
may go unseen, which the pool's error counters still count.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["PeerWatch"]

_log = logging.getLogger(__package__)

INTERVAL = 0.5
"""Seconds between two reads of the peers' states."""


class PeerWatch:
    """Logs the changes of a pool's peers (GRPCPool.peer_states) until stopped."""

    def __init__(self, pool: Any, *, interval: float = INTERVAL) -> None:
        self._pool = pool
        self._interval = interval
        # Read and written by check() alone: start() calls it before the thread runs.
        self._up: dict[str, bool] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """Reads the states once and logs what changed since the previous read."""
        states = {s["addr"]: s for s in self._pool.peer_states()}
        before = set(self._up)
        if self._thread is not None and set(states) != before:
            joined, left = sorted(set(states) - before), sorted(before - set(states))
            _log.info("ring changed: joined %s; left %s; peers now %s",
                      ", ".join(joined) or "none", ", ".join(left) or "none",
                      ", ".join(sorted(states)) or "none")
        for addr, state in states.items():
            was = self._up.get(addr, True)
            if was and not state["up"]:
                _log.warning("peer %s seen down: %s", addr, state["last_error"] or "no answer")
            elif not was and state["up"]:
                _log.info("peer %s up again", addr)
        self._up = {addr: bool(s["up"]) for addr, s in states.items()}

    def start(self) -> None:
        """Takes the peers as they are now, then watches them in a daemon thread."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="distcache-peerwatch",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # a watcher's fault must not end the node's log of peers
                _log.exception("peer watch failed")

    def stop(self) -> None:
        """Stops watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
