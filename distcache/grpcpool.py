"""The documented import path of the cluster's clients and pool (docs/grpc.md).

The code lives in distcache/cluster/; this module only names it.
"""

from .cluster import (
    AsyncClient,
    Client,
    GRPCPool,
    PeerDown,
    TLSConfig,
    connect,
    connect_async,
)

__all__ = ["AsyncClient", "Client", "GRPCPool", "PeerDown", "TLSConfig", "connect",
           "connect_async"]
