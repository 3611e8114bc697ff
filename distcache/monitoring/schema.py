"""What /stats says about a node: typed records, one field a line.

The JSON of /stats is ``dataclasses.asdict(NodeStats)``; every field below is
documented where it is declared, and docs/monitoring.md shows an example. The
window figures are filled in by the sampler (sampler.py).
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "SCHEMA",
    "BloomStats",
    "GroupStats",
    "History",
    "HotKey",
    "NodeInfo",
    "NodeStats",
    "PeerStats",
]

SCHEMA = 1  # bumped when a field changes meaning or goes away


@dataclasses.dataclass
class HotKey:
    key: str  # the key as the getter sees it (JSON-escaped by the encoder, never markup)
    count: int  # its estimated recent request count (the main cache's frequency sketch)


@dataclasses.dataclass
class BloomStats:
    """The negative cache's bloom filters (they answer "surely not absent" for most keys)."""

    queries: int  # lookups of the negative cache
    negative: int  # answered "not remembered" by the filters alone
    positive: int  # filters said maybe, the exact table confirmed
    false_positive: int  # filters said maybe, the exact table said no
    false_positive_rate: float  # false_positive / (false_positive + negative); 0.0 when none


@dataclasses.dataclass
class History:
    """One point per sampler interval, oldest first, for the dashboard's charts."""

    t: list[float]  # unix time of each point, seconds
    qps: list[float]  # gets per second over the interval before the point
    hit_rate: list[float | None]  # hits / gets over that interval; None when no gets
    p50: list[float]  # seconds, over that interval; 0.0 when no gets
    p99: list[float]  # seconds, over that interval; 0.0 when no gets


@dataclasses.dataclass
class GroupStats:
    name: str
    gets: int  # every get since start, hits and misses (get_many counts a get per key)
    hit_rate: float  # (local + hot + remote hits) / gets since start; 0.0 before any
    window_seconds: float  # the span the three figures below cover (up to Sampler.window)
    qps: float  # gets per second over the window
    window_hit_rate: float | None  # hit rate over the window; None when it had no gets
    p50: float  # latency of a get in seconds over the window (hits and misses)
    p95: float
    p99: float
    items: int  # entries in the main and hot caches
    bytes: int  # bytes charged for them (keys, values and per-entry overhead)
    max_bytes: int  # the group's budget
    hot_keys: list[HotKey]  # the most requested keys now, most requested first
    bloom: BloomStats | None  # None when the group has no negative cache
    counters: dict[str, int]  # every counter of Group.stats(), by name, since start
    history: History


@dataclasses.dataclass
class PeerStats:
    addr: str  # HOST:PORT as named in --peers
    state: str  # "up", or "down" while marked down after a failure (until a probe answers)
    errors: int  # failed calls to it since start
    last_error: str  # the last failure's gRPC status and text; "" when none


@dataclasses.dataclass
class NodeInfo:
    addr: str  # this node's HOST:PORT in the cluster, or "local" without a pool
    version: str  # distcache's version
    pid: int
    uptime_seconds: float  # since the process started
    time: float  # unix time this document was made
    health: str  # "healthy" or "degraded", as /health says
    reasons: list[str]  # why degraded; empty when healthy


@dataclasses.dataclass
class NodeStats:
    schema: int  # SCHEMA
    node: NodeInfo
    groups: list[GroupStats]
    peers: list[PeerStats]
