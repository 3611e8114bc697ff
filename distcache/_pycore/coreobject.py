"""What every core class shares with its C counterpart outside its algorithm.

An instance made by __new__ alone answers with the C core's "not
initialised" error instead of an AttributeError, and copying or pickling
one is refused: each owns its entries and its lock.
"""

from __future__ import annotations

from typing import Any

from .. import _contract


def _initialised(obj: object, slot: str) -> bool:
    """Whether __init__ has set obj's slot (without calling __getattr__)."""
    try:
        object.__getattribute__(obj, slot)
    except AttributeError:
        return False
    return True


class _CoreObject:
    """What every core class shares: no copies, no pickling, clear errors before __init__."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute that is not set: a slot of ours means
        # __init__ never ran (the C core raises the same).
        for cls in type(self).__mro__:
            if name in getattr(cls, "__slots__", ()):
                _contract.not_initialised(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __copy__(self) -> Any:
        _contract.refuse_copy(self)

    def __deepcopy__(self, memo: Any) -> Any:
        _contract.refuse_copy(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        _contract.refuse_copy(self)
