"""The cluster: placement on a ring, peers over gRPC, the node's server (docs/grpc.md).

The only subpackage that imports grpc, grpc_health and the generated
``distcache_pb2``. ``GRPCPool`` is the peer picker a group is given
(``distcache.peers``); ``Client`` and ``AsyncClient`` are the applications'
clients of one node.
"""

from .client import AsyncClient, Client, connect, connect_async
from .errors import PeerDown
from .pool import GRPCPool
from .wire import TLSConfig

__all__ = ["AsyncClient", "Client", "GRPCPool", "PeerDown", "TLSConfig", "connect",
           "connect_async"]
