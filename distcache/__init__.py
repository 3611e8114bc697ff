"""distcache: a distributed cache in the groupcache family, with a C hot path.

The local core (LRUCache, BloomFilter, CountMinSketch, FNV hashes) comes from
the C extension ``distcache._core``, or from its pure-Python twin
``distcache._pycore`` (``_backend.py`` says when). docs/internals.md maps the
package.
"""

from ._backend import core as _impl
from ._version import __version__
from .decorator import cached
from .group import Group, NotFound, Peer, PeerPicker, get_group, new_group
from .singleflight import SingleFlight

LRUCache = _impl.LRUCache
BloomFilter = _impl.BloomFilter
CountMinSketch = _impl.CountMinSketch
fnv32 = _impl.fnv32
fnv32a = _impl.fnv32a
fnv64a = _impl.fnv64a
ENTRY_OVERHEAD: int = _impl.ENTRY_OVERHEAD
MAX_KEY_LEN: int = _impl.MAX_KEY_LEN
IMPLEMENTATION: str = _impl.IMPLEMENTATION

__all__ = [
    "ENTRY_OVERHEAD",
    "IMPLEMENTATION",
    "MAX_KEY_LEN",
    "BloomFilter",
    "CountMinSketch",
    "Group",
    "LRUCache",
    "NotFound",
    "Peer",
    "PeerPicker",
    "SingleFlight",
    "__version__",
    "cached",
    "get_group",
    "new_group",
    "fnv32",
    "fnv32a",
    "fnv64a",
]
