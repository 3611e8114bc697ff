"""Groups: a named cache over a getter, the groupcache way (docs/usage.md).

A key's request path: ``Group.get`` is the C hit path (``HitPath`` in the
core, docs/internals.md) over the main cache, then the hot cache; a miss
comes back to Python (reads.py), which asks the negative cache, then the
key's replicas through the peer picker (``distcache.peers``), then the
getter under singleflight, and stores what it loaded (the lookup order of
docs/usage.md's "get"). group.py assembles ``Group`` from its concerns
(reads.py, batch.py, writes.py, stats.py); registry.py holds the groups by
name.
"""

from .group import (
    Getter,
    Group,
    NotFound,
    Peer,
    PeerPicker,
    all_groups,
    get_group,
    new_group,
)

__all__ = [
    "Getter",
    "Group",
    "NotFound",
    "Peer",
    "PeerPicker",
    "all_groups",
    "get_group",
    "new_group",
]
