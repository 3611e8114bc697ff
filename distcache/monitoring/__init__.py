"""Observability: /metrics, /stats, /status and /health (docs/monitoring.md).

The only subpackage that imports prometheus_client. prometheus.py is the
collector that reads the groups' counters at scrape time (never on the hot
path), server.py the node's monitoring server, sampler.py and schema.py what
/stats says, http.py the pages over the standard library's HTTP server.
"""

from .prometheus import DistcacheCollector, enable_metrics
from .server import MetricsServer, start_metrics_server

__all__ = ["DistcacheCollector", "MetricsServer", "enable_metrics", "start_metrics_server"]
