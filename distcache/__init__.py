"""distcache: a distributed cache in the groupcache family, with a C hot path.

The local core (LRUCache, BloomFilter, CountMinSketch, FNV hashes) comes from
the C extension ``distcache._core``; ``DISTCACHE_PURE_PYTHON=1`` selects the
pure-Python twin ``distcache._pycore`` instead (msgpack and multidict do the
same), and so does a missing extension.
"""

import os as _os

if _os.environ.get("DISTCACHE_PURE_PYTHON", "") not in ("", "0"):
    from . import _pycore as _impl
else:
    try:
        from . import _core as _impl
    except ImportError:  # no compiled extension: run on the twin
        from . import _pycore as _impl

LRUCache = _impl.LRUCache
BloomFilter = _impl.BloomFilter
CountMinSketch = _impl.CountMinSketch
fnv32 = _impl.fnv32
fnv32a = _impl.fnv32a
fnv64a = _impl.fnv64a
ENTRY_OVERHEAD: int = _impl.ENTRY_OVERHEAD
MAX_KEY_LEN: int = _impl.MAX_KEY_LEN
IMPLEMENTATION: str = _impl.IMPLEMENTATION

from .cached import cached  # noqa: E402
from .group import Group, NotFound, Peer, PeerPicker, get_group, new_group  # noqa: E402
from .singleflight import SingleFlight  # noqa: E402

__version__ = "0.1.0"

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
    "cached",
    "get_group",
    "new_group",
    "fnv32",
    "fnv32a",
    "fnv64a",
]
