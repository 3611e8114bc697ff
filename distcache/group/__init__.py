"""Groups: a named cache over a getter, the groupcache way (docs/usage.md).

A key's request path: ``Group.get`` is the C hit path (``HitPath`` in the
core) over the main cache, then the hot cache; a miss comes back to Python,
which asks the negative cache, then the key's replicas through the peer
picker (``distcache.peers``), then the getter under singleflight, and stores
what it loaded. docs/internals.md walks one key through it.
"""

from .group import (
    Getter,
    Group,
    NotFound,
    Peer,
    PeerPicker,
    _groups,  # noqa: F401  (the registry's internals, for tests)
    _groups_lock,  # noqa: F401
    _reset_groups,  # noqa: F401
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
