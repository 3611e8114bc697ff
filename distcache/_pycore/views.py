"""Bytes views of keys, values and hash inputs.

The rules (which types are accepted, UTF-8 for str, the key length limit,
the error messages) live in distcache/_contract.py, shared with the group,
so that the twin and the group refuse the same inputs with the same words.
"""

from __future__ import annotations

from .. import _contract

_as_bytes = _contract.as_bytes
_key_bytes = _contract.key_bytes
_value_view = _contract.value_view
