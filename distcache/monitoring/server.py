"""The monitoring server of a node: /metrics, /stats, /status and /health (docs/monitoring.md).

MetricsServer samples the registered groups (sampler.py) and answers the
pages over http.py; the /metrics text is prometheus_client's encoding of a
registry that holds distcache's collector (prometheus.py).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from .._version import __version__
from ..group import all_groups
from .http import Pages, StatusServer
from .pools import node_health, pools_of
from .prometheus import enable_metrics
from .sampler import Sampler, group_stats, peer_stats, process_start_time
from .schema import SCHEMA, NodeInfo, NodeStats

__all__ = ["MetricsServer", "start_metrics_server"]


def _addr(pools: list[Any]) -> str:
    """This node's address in the cluster, or "local" without a pool."""
    return str(pools[0].self_addr) if pools else "local"


class MetricsServer:
    """A running monitoring server: .url, .port, .stop()."""

    def __init__(self, addr: str, *, interval: float, window: float,
                 registry: CollectorRegistry) -> None:
        self._registry = registry
        self._started = process_start_time()
        self.sampler = Sampler(all_groups, interval=interval, window=window)
        self.sampler.start()
        try:
            self._http = StatusServer(addr, Pages(self._metrics, self.stats, self.health))
        except BaseException:
            self.sampler.stop()
            raise
        self.url = self._http.url
        self.port = self._http.port
        # Guards _stopped.
        self._lock = threading.Lock()
        self._stopped = False

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}>"

    def _node_pools(self) -> list[Any]:
        return pools_of(all_groups())

    def _metrics(self, accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self._registry), content_type

    def health(self) -> dict[str, Any]:
        """/health's document."""
        pools = self._node_pools()
        document = node_health(pools)
        document["addr"] = _addr(pools)
        return document

    def stats(self) -> dict[str, Any]:
        """/stats's document (schema.NodeStats as a dict)."""
        pools = self._node_pools()
        health = node_health(pools)
        now = time.time()
        node = NodeInfo(addr=_addr(pools), version=__version__, pid=os.getpid(),
                        uptime_seconds=round(now - self._started, 3), time=now,
                        health=health["status"], reasons=health["reasons"])
        peers = [p for pool in pools for p in peer_stats(pool)]
        document = NodeStats(SCHEMA, node, [group_stats(g, self.sampler) for g in all_groups()],
                             peers)
        return dataclasses.asdict(document)

    def stop(self) -> None:
        """Stops serving and sampling; a second call does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._http.stop()
        self.sampler.stop()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_metrics_server(addr: str = "127.0.0.1:9090", *, interval: float = 1.0,
                         window: float = 10.0) -> MetricsServer:
    """Serves /metrics, /stats, /status and /health on addr (127.0.0.1 unless a host is given).

    ":PORT" binds 127.0.0.1; port 0 picks a free one (see .url). interval is
    the sampler's period behind /stats's windows and charts, window their span
    in seconds. OSError when addr cannot be listened on.
    """
    enable_metrics()
    return MetricsServer(addr, interval=interval, window=window, registry=REGISTRY)
