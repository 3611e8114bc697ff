"""GRPCPool: this node's place in the cluster, its ring of peers and its server.

GRPCPool is the PeerPicker a group is given (distcache.peers): it places keys
on a HashRing of node addresses and reaches the other nodes as _Peers
(peer.py); its NodeServer (server.py) answers the CacheService of
proto/distcache.proto, and the standard health service, from the registered
groups. docs/grpc.md is the user's page.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .._contract import refuse_copy
from ..hlc import HybridClock, node_id
from ..peers import Placement
from .hashring import HashRing
from .peer import _Peer
from .server import NodeServer
from .wire import MAX_VALUE, TLSConfig, _bearer

__all__ = ["GRPCPool", "HANDOFF_SECONDS"]

# How long after a ring change a replica that misses a key asks the key's
# replicas under the ring before it for their copy: the keys a change moved
# are pulled by their new replicas on first use. A minute covers a rolling
# change of a few nodes; past it a key not read since loads from the source.
HANDOFF_SECONDS = 60.0


class GRPCPool:
    """This node's place in the cluster: its ring of peers and its gRPC server."""

    def __init__(self, self_addr: str, *, replicas: int = 2, timeout: float = 0.5,
                 token: str | None = None, tls: TLSConfig | None = None,
                 vnodes: int = 160, workers: int = 32, batch_gets: bool = True) -> None:
        if not isinstance(self_addr, str) or ":" not in self_addr:
            raise ValueError(f"self_addr must be HOST:PORT, not {self_addr!r}")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be an int >= 1, not {replicas!r}")
        # inf would be no deadline at all: a hung peer would hold its callers forever.
        if not 0 < timeout < float("inf"):
            raise ValueError(f"timeout must be a finite number of seconds > 0, not {timeout!r}")
        self.self_addr = self_addr
        self.replicas = replicas
        self.max_value = MAX_VALUE  # a group refuses a larger set (distcache/peers.py)
        # Versions this node's writes and loads (distcache/hlc.py); groups take it
        # when registered with the pool.
        self.clock = HybridClock(node_id(self_addr))
        self.timeout = timeout
        self._token = token
        self._tls = tls
        self._workers = workers
        self._vnodes = vnodes
        self._batch_gets = batch_gets  # the peers' aget (getbatch.py)
        self._metadata = _bearer(token)
        # Guards _ring, _peers, ring_version, _previous and _previous_until:
        # set_peers swaps them together.
        self._lock = threading.Lock()
        self._ring = HashRing([self_addr], vnodes=vnodes)
        self._peers: dict[str, _Peer] = {}
        # The ring before the last change, until _previous_until (monotonic):
        # a replica that misses a key asks its replicas under that ring too.
        self._previous: HashRing | None = None
        self._previous_until = 0.0
        self.ring_version = 0
        # The last start()'s server; stop() keeps it, as health() reads the
        # calls it still answers while it drains.
        self._server: NodeServer | None = None
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self.port: int | None = None

    def __copy__(self) -> Any:
        refuse_copy(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        refuse_copy(self)

    # -- membership --

    def set_peers(self, *addrs: str) -> None:
        """The cluster's nodes, this one included: swaps the ring at once.

        Channels to nodes no longer listed are closed.
        """
        names = set(addrs)
        if self.self_addr not in names:
            raise ValueError(f"the peers must include this node's own address {self.self_addr!r}")
        for addr in names:
            if not isinstance(addr, str) or ":" not in addr:
                raise ValueError(f"a peer is HOST:PORT, not {addr!r}")
        ring = HashRing(names, vnodes=self._vnodes)
        with self._lock:
            old = self._peers
            peers = {a: old.get(a) or self._connect(a) for a in names if a != self.self_addr}
            removed = [p for a, p in old.items() if a not in peers]
            if self.ring_version:  # not the first ring: the one it replaces still holds keys
                self._previous = self._ring
                self._previous_until = time.monotonic() + HANDOFF_SECONDS
            self._ring, self._peers = ring, peers
            self.ring_version += 1
        for peer in removed:
            peer.close()

    def _connect(self, addr: str) -> _Peer:
        return _Peer(addr, self.timeout, self._metadata, tls=self._tls,
                     batch_gets=self._batch_gets)

    def placement(self, key: str) -> Placement:
        """The key's replicas in ring order, None for this node; and, for a while after
        a ring change, its replicas under the ring before that are no longer replicas."""
        with self._lock:
            ring, peers, previous = self._ring, self._peers, self._previous
            if previous is not None and time.monotonic() >= self._previous_until:
                previous = self._previous = None
        now = ring.get_n(key, self.replicas)
        before: tuple[_Peer, ...] = ()
        added: tuple[_Peer, ...] = ()
        if previous is not None:
            then = previous.get_n(key, self.replicas)
            before = tuple(peers[a] for a in then if a not in now and a in peers)
            added = tuple(peers[a] for a in now if a not in then and a != self.self_addr)
        return Placement(tuple(None if a == self.self_addr else peers[a] for a in now),
                         before, added)

    @property
    def key_replicas(self) -> int:
        """The replicas each key has now: replicas, or the ring's node count if it is smaller."""
        # The ring cannot place a key on more distinct nodes than it holds: a
        # node alone keeps each key once, whatever replicas says.
        with self._lock:
            return min(self.replicas, len(self._peers) + 1)

    def peers(self) -> tuple[Any, ...]:
        """Every other node."""
        with self._lock:
            return tuple(self._peers.values())

    def peer_states(self) -> list[dict[str, Any]]:
        """Per peer: address, up or down, errors and the last one (for /stats)."""
        return [{"addr": p.addr, "up": not p.down, "errors": p.errors, "last_error": p.last_error}
                for p in self.peers()]

    def health(self) -> dict[str, Any]:
        """"healthy", or "degraded" with the reasons: a peer marked down, or every
        server worker busy (calls queue). /health and the health service say this."""
        reasons = [f"peer {p.addr} is down: {p.last_error}" for p in self.peers() if p.down]
        server = self._server
        inflight = server.inflight if server is not None else 0
        if server is not None and inflight >= self._workers:
            reasons.append(f"overloaded: {inflight} calls in flight, {self._workers} workers")
        return {"status": "degraded" if reasons else "healthy", "reasons": reasons,
                "inflight": inflight, "workers": self._workers}

    def _publish_health(self) -> None:
        server = self._server
        if server is not None:
            server.publish(self.health()["status"] == "healthy")

    # -- the server --

    def start(self, bind: str | None = None) -> int:
        """Starts serving on bind (default: this node's address); returns the port."""
        if self._server is not None and self._server.serving:
            raise RuntimeError("this pool is already serving")
        server = NodeServer(workers=self._workers, token=self._token, tls=self._tls)
        self._server = server
        port = server.start(bind or self.self_addr)
        self.port = port
        self._stop.clear()
        self._prober = threading.Thread(target=self._probe_loop, name="distcache-prober",
                                        daemon=True)
        self._prober.start()
        return port

    def serve(self) -> None:
        """start(), then blocks until stop()."""
        server = self._server
        if server is None or not server.serving:
            self.start()
            server = self._server
        assert server is not None
        server.wait()

    def stop(self, grace: float | None = 1.0) -> None:
        """Stops serving (in-flight calls get `grace` seconds) and closes every channel."""
        self._stop.set()
        if self._server is not None:
            self._server.stop(grace)
        if self._prober is not None:
            self._prober.join(timeout=5)
        with self._lock:
            peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.close()

    def _probe_loop(self) -> None:
        # Brings marked-down peers back as soon as their health service answers.
        # and keeps the health service's verdict current. Peers that read as up
        # are asked too, once a second, so that a dead peer nobody called is
        # known down (and /health says so) before a reader pays for it.
        tick = 0
        while not self._stop.wait(0.25):
            tick += 1
            for peer in self.peers():
                if peer.down or tick % 4 == 0:
                    peer.probe()
            self._publish_health()
