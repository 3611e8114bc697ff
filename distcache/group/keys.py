"""A key as a group's getter and peers see it: str, bytes-like keys UTF-8 decoded.

The core takes str and bytes-like keys alike; a group's getter, its peers and
its @cached functions are given text.
"""

from __future__ import annotations

from typing import Any

from .._contract import key_bytes

__all__ = ["key_str", "str_keys"]


def key_str(key: object) -> str:
    """A key as the str the getter and peers see; bytes-like keys are UTF-8 decoded."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str(key)
    # The core's rules (type, C-contiguous, MAX_KEY_LEN), then UTF-8.
    return key_bytes(key).decode("utf-8")


def str_keys(keys: list[Any]) -> list[str]:
    """Sampled hit keys as str; a bytes key that is not UTF-8 is left out."""
    out = []
    for key in keys:
        if type(key) is not str:
            try:
                key = key_str(key)
            except ValueError:
                continue
        out.append(key)
    return out
