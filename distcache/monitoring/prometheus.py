"""Prometheus metrics: distcache's collector (docs/monitoring.md).

Nothing here is on the hot path: a custom collector reads the groups'
counters (the C hit path's among them) and the pools' peer states when
Prometheus scrapes, so a get never touches a prometheus object.
``enable_metrics()`` adds the collector to prometheus_client's default
registry (beside its process and platform collectors), for an application
that already serves that registry; ``start_metrics_server()`` (server.py)
serves it at /metrics with /stats, /status and /health beside it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .._version import __version__
from ..group import Group, all_groups
from ..group.latency import NBUCKETS, bucket_bounds
from .pools import node_health, pools_of

__all__ = ["DistcacheCollector", "enable_metrics"]

# The histogram's upper bounds: every other power of two from 2**10 ns (~1 us)
# to 2**34 ns (~17 s), 13 buckets and +Inf; each is an upper bound of one of
# latency.py's buckets, so the cumulative counts are exact, not interpolated.
_LE_INDEXES = [i for i in range(NBUCKETS - 1)
               if (b := bucket_bounds(i)[1]) & (b - 1) == 0 and 10 <= b.bit_length() - 1 <= 34
               and (b.bit_length() - 1) % 2 == 0]


class DistcacheCollector(Collector):
    """Reads every registered group and its pool at each scrape."""

    def collect(self) -> Iterator[Metric]:
        groups = all_groups()
        pools = pools_of(groups)
        yield from self._group_metrics(groups)
        yield from self._peer_metrics(pools)
        health = node_health(pools)
        up = GaugeMetricFamily("distcache_healthy",
                               "1 when /health says healthy, 0 when degraded")
        up.add_metric([], 1.0 if health["status"] == "healthy" else 0.0)
        yield up
        info = GaugeMetricFamily("distcache_build_info", "distcache's version", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info

    def _group_metrics(self, groups: list[Group]) -> Iterator[Metric]:
        def counter(name: str, doc: str, *labels: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=["group", *labels])

        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=["group", *labels])

        requests = counter("distcache_requests", "Calls of the group's API, by outcome",
                           "method", "status")
        duration = HistogramMetricFamily(
            "distcache_request_duration_seconds",
            "Time of a get, hits (sampled 1 in 64, scaled) and misses", labels=["group", "method"])
        hits = counter("distcache_hits", "Gets answered from a cache, by which", "type")
        hot_hits = counter("distcache_hot_key_hits", "Gets answered by the hot cache")
        hot_keys = counter("distcache_hot_keys", "Keys copied into or dropped from the hot cache",
                           "action")
        bloom = counter("distcache_bloom_filter_queries",
                        "Lookups of the negative cache's bloom filters, by answer", "result")
        size = gauge("distcache_cache_size_bytes", "Bytes charged for the main and hot caches")
        max_bytes = gauge("distcache_cache_max_bytes", "The group's byte budget")
        items = gauge("distcache_cache_items", "Entries stored", "cache")
        evictions = counter("distcache_cache_evictions", "Entries evicted for room", "cache")
        expirations = counter("distcache_cache_expirations", "Entries dropped by their ttl",
                              "cache")
        loads = counter("distcache_getter_loads", "Calls of the getter (the source of truth)")
        dedup = counter("distcache_loads_deduplicated",
                        "Gets that joined a load already in flight (singleflight)")
        negative = counter("distcache_negative_hits",
                           "Gets answered NotFound by the negative cache")
        rejects = counter("distcache_admission_rejects", "Loaded values TinyLFU refused to store")
        peer_loads = counter("distcache_peer_loads", "Requests to a replica on another node")
        peer_load_errors = counter("distcache_peer_load_errors", "Of those, the failed ones")
        failovers = counter("distcache_failovers",
                            "A replica failed and the next one in ring order was asked")
        degraded = counter("distcache_degraded_loads",
                           "Getter calls made here because no replica answered")
        pushes = counter("distcache_replica_pushes",
                         "Loaded values sent to the key's other replica, by result", "result")
        broadcasts = counter("distcache_broadcasts",
                             "Calls telling the other nodes of a client set or delete "
                             "(one per node), by result", "result")
        stale = counter("distcache_stale_hits",
                        "Hits on an entry past its ttl, answered stale while it is refreshed")
        refreshes = counter("distcache_refreshes",
                            "Background refreshes of stale entries, by result", "result")
        superseded = counter("distcache_superseded_writes",
                             "Peers' versioned writes not applied: a newer value was held")
        co_replica = counter("distcache_co_replica_hits",
                             "Misses of a replica answered by another replica's cached copy")
        ordering = counter("distcache_ordering_failures",
                           "Client writes the key's first replica failed to order "
                           "(ordered by the node asked instead)")
        hints = counter("distcache_hints",
                        "Writes a peer missed, kept for it, by what became of them: "
                        "queued, replayed, dropped", "result")
        pending = gauge("distcache_hints_pending", "Hints not yet replayed to their peer")
        handoffs = counter("distcache_handoffs",
                           "Held keys sent to a replica that came back up or that a ring "
                           "change added")
        for group in groups:
            s = group.stats()
            g = group.name
            # Each result is read from the counters that count it, never as a
            # difference of totals: a difference can go negative when the
            # counters mean something else, or down while a call is in flight.
            # The keys of get_many that its batch lookup missed went through
            # get() and are counted there (and timed); the ones it found are
            # not: stats() adds them into local_hits, from the same snapshot.
            get_ok = (s["local_hits"] - s["batch_hits"] + s["hot_hits"] + s["remote_hits"]
                      + s["loaded"])
            requests.add_metric([g, "get", "ok"], get_ok)
            requests.add_metric([g, "get", "not_found"], s["not_found"] + s["negative_hits"])
            requests.add_metric([g, "get", "error"], s["errors"])
            requests.add_metric([g, "get_many", "ok"], s["get_many_calls"])
            requests.add_metric([g, "set", "ok"], s["sets_ok"])
            requests.add_metric([g, "set", "error"], s["set_errors"])
            requests.add_metric([g, "delete", "ok"], s["deletes"])
            counts, total_ns, _ = group.latency_buckets()
            cumulative, running, at = [], 0.0, 0
            for index in _LE_INDEXES:
                running += sum(counts[at:index + 1])
                at = index + 1
                # Hits are scaled from samples: whole counts, as a histogram's.
                cumulative.append((repr(bucket_bounds(index)[1] / 1e9), round(running)))
            cumulative.append(("+Inf", round(running + sum(counts[at:]))))
            duration.add_metric([g, "get"], cumulative, total_ns / 1e9)
            for kind in ("local", "hot", "remote"):
                hits.add_metric([g, kind], s[f"{kind}_hits"])
            hot_hits.add_metric([g], s["hot_hits"])
            hot_keys.add_metric([g, "promoted"], s["promotions"])
            hot_keys.add_metric([g, "demoted"], s["demotions"])
            if s["negative"] is not None:
                for result in ("negative", "positive", "false_positive"):
                    bloom.add_metric([g, result], s["negative"][f"bloom_{result}"])
            size.add_metric([g], s["nbytes"])
            max_bytes.add_metric([g], s["max_bytes"])
            for cache in ("main", "hot"):
                c = s[cache]
                if c is None:
                    continue
                items.add_metric([g, cache], c["items"])
                evictions.add_metric([g, cache], c["evictions"])
                expirations.add_metric([g, cache], c["expirations"])
            loads.add_metric([g], s["getter_loads"])
            dedup.add_metric([g], s["loads_deduplicated"])
            negative.add_metric([g], s["negative_hits"])
            rejects.add_metric([g], s["admission_rejects"])
            peer_loads.add_metric([g], s["peer_loads"])
            peer_load_errors.add_metric([g], s["peer_errors"])
            failovers.add_metric([g], s["failovers"])
            degraded.add_metric([g], s["degraded_loads"])
            pushes.add_metric([g, "ok"], s["replica_pushes"])
            pushes.add_metric([g, "failed"], s["replica_push_failures"])
            pushes.add_metric([g, "dropped"], s["replica_push_dropped"])
            broadcasts.add_metric([g, "ok"], s["broadcast_calls_ok"])
            broadcasts.add_metric([g, "error"], s["broadcast_errors"])
            stale.add_metric([g], s["stale_hits"])
            refreshes.add_metric([g, "ok"], s["refreshes"])
            refreshes.add_metric([g, "error"], s["refresh_errors"])
            superseded.add_metric([g], s["superseded_writes"])
            co_replica.add_metric([g], s["co_replica_hits"])
            ordering.add_metric([g], s["ordering_failures"])
            hints.add_metric([g, "queued"], s["hints"])
            hints.add_metric([g, "replayed"], s["hints_replayed"])
            hints.add_metric([g, "dropped"], s["hints_dropped"])
            pending.add_metric([g], s["hints_pending"])
            handoffs.add_metric([g], s["handoffs"])
        yield from (requests, duration, hits, hot_hits, hot_keys, bloom, size, max_bytes, items,
                    evictions, expirations, loads, dedup, negative, rejects, peer_loads,
                    peer_load_errors, failovers, degraded, pushes, broadcasts, stale, refreshes,
                    superseded, co_replica, ordering, hints, pending, handoffs)

    def _peer_metrics(self, pools: list[Any]) -> Iterator[Metric]:
        up = GaugeMetricFamily("distcache_peer_up",
                               "1 when the peer is not marked down", labels=["peer"])
        errors = CounterMetricFamily("distcache_peer_errors",
                                     "Failed calls to the peer", labels=["peer"])
        for pool in pools:
            for p in pool.peer_states():
                up.add_metric([p["addr"]], 1.0 if p["up"] else 0.0)
                errors.add_metric([p["addr"]], p["errors"])
        yield up
        yield errors


# Guards _enabled: enable_metrics may be called from several threads.
_enable_lock = threading.Lock()
_enabled: DistcacheCollector | None = None


def enable_metrics() -> DistcacheCollector:
    """Adds distcache's collector to prometheus_client's default registry (once).

    It reports every registered group, and the peers of the pools they were
    registered with (GRPCPool), as they are at each scrape.
    """
    global _enabled
    with _enable_lock:
        if _enabled is None:
            _enabled = DistcacheCollector()
            REGISTRY.register(_enabled)
        return _enabled
