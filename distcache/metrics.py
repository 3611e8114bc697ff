"""The documented import path of the monitoring server (docs/monitoring.md).

The code lives in distcache/monitoring/; this module only names it.
"""

from .monitoring.prometheus import DistcacheCollector, enable_metrics
from .monitoring.server import MetricsServer, start_metrics_server

__all__ = ["DistcacheCollector", "MetricsServer", "enable_metrics", "start_metrics_server"]
