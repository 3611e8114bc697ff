"""Membership from DNS: a pool's peers follow what a name resolves to.

What a Kubernetes headless service gives: one A (or AAAA) record per live
pod. Every `every` seconds the name is resolved again and, when the set of
addresses changed, the pool's ring is swapped (GRPCPool.set_peers, which
closes the channels of nodes that left). No gossip protocol of our own. A
failed resolution keeps the ring as it is. The resolver is a parameter, so
tests change the answer without a DNS server. A resolution that starts
failing is one warning in the ``distcache.cluster`` log, its recovery one
line at info (not one a try); the ring's changes are logged by peerwatch.py.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["DNSMembership", "resolve_addresses"]

_log = logging.getLogger(__package__)


def resolve_addresses(name: str) -> list[str]:
    """The IP addresses name resolves to, sorted (IPv6 in brackets)."""
    infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    ips = {info[4][0] for info in infos}
    return sorted(f"[{ip}]" if ":" in ip else ip for ip in ips)


class DNSMembership:
    """Keeps pool's peers equal to NAME's addresses, each with port."""

    def __init__(self, pool: Any, name: str, port: int, *, every: float = 5.0,
                 resolve: Callable[[str], list[str]] = resolve_addresses) -> None:
        self._pool = pool
        self._name = name
        self._port = port
        self._every = every
        self._resolve = resolve
        # Guards _current, _failing and the counters.
        self._lock = threading.Lock()
        self._current: frozenset[str] = frozenset()
        self._failing = False  # the last resolution failed
        self.swaps = 0
        self.failures = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Resolves once; swaps the ring if the set changed. True when it did."""
        try:
            found = {f"{ip}:{self._port}" for ip in self._resolve(self._name)}
        except OSError as exc:
            with self._lock:
                self.failures += 1
                self.last_error = f"{self._name}: {exc}"
                first = not self._failing
                self._failing = True
            if first:
                _log.warning("DNS membership: %s does not resolve (%s); the ring stays as it is",
                             self._name, exc)
            return False
        found.add(self._pool.self_addr)  # this node serves whatever DNS says
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            _log.info("DNS membership: %s resolves again", self._name)
        with self._lock:
            if found == self._current:
                return False
            self._pool.set_peers(*sorted(found))
            self._current = frozenset(found)
            self.swaps += 1
        return True

    @property
    def members(self) -> frozenset[str]:
        """The addresses of the ring now."""
        with self._lock:
            return self._current

    def start(self) -> None:
        """Resolves now, then every `every` seconds in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="distcache-dns", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.refresh()

    def stop(self) -> None:
        """Stops re-resolving."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
