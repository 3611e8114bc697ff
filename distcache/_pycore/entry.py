"""A cache entry: what it holds, what it costs, how long its key may be.

The two limits are csrc/lru.h's DC_ENTRY_OVERHEAD and DC_MAX_KEY_LEN, so
that a byte budget holds the same entries on either core.
"""

from __future__ import annotations

from .. import _contract

ENTRY_OVERHEAD = 64
"""Bytes charged per cache entry on top of its key and value."""

MAX_KEY_LEN = _contract.MAX_KEY_LEN
"""Longest key, in bytes, that a cache accepts."""


class _Entry:
    """One stored value with its expiry, recency stamp, charged size and version."""

    __slots__ = ("value", "expires", "stamp", "size", "sat", "version")

    def __init__(
        self, value: bytes, expires: float, stamp: int, size: int, version: int = 0
    ) -> None:
        self.value = value
        self.expires = expires
        self.stamp = stamp
        self.size = size  # charged: a version costs the budget nothing (csrc/lru.h)
        self.sat = 0  # the sketch's sat_tag when this key was seen saturated, 0: never
        self.version = version  # 0: unversioned
