"""distcache.callkeys: a call's key decodes back to the same call.

The node that owns a standard key rebuilds the call from the key alone, so
for every call the key's decoding, bound to the signature again, must be
the call's own bound arguments (a tuple comes back as a list: the key is
JSON). tests/decorator/test_cached.py checks the key's text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distcache.callkeys import CallKeys
from distcache.decorator import cached
from distcache.group import new_group
from distcache.group.registry import _reset_groups


def load_user(user_id: int, verbose: bool = False) -> None: ...


def search(query: str, *tags: str, limit: int = 10, **options: Any) -> None: ...


def pair(a: Any, b: Any) -> None: ...


def only(a: int, /, b: str, *, c: float = 0.5) -> None: ...


def nothing() -> None: ...


def bound(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """func's arguments for this call, defaults applied: what decides its key."""
    arguments = inspect.signature(func).bind(*args, **kwargs)
    arguments.apply_defaults()
    return arguments.arguments


def round_trip(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    keys = CallKeys(f"app.{func.__name__}", inspect.signature(func))
    key = keys.cache_key(*args, **kwargs)
    decoded_args, decoded_kwargs = keys.arguments(key)
    assert bound(func, decoded_args, decoded_kwargs) == bound(func, args, kwargs), key
    # The decoded call has the same key: a node that rebuilds it stores it there.
    assert keys.cache_key(*decoded_args, **decoded_kwargs) == key


@pytest.mark.parametrize(
    ("func", "args", "kwargs"),
    [
        (load_user, (42,), {}),
        (load_user, (), {"user_id": 42, "verbose": True}),
        (load_user, ("é\"\n\x00",), {}),
        (search, ("ada", "b", "a"), {"limit": 5, "lang": "en", "z": [1, {"k": None}]}),
        (search, ("ada",), {}),
        (pair, (1.5, -0.0), {}),
        (pair, ([1, [2, 3]], {"x": {"y": False}}), {}),
        (only, (1, "b"), {"c": 2.0}),
        (only, (1,), {"b": "b"}),
        (nothing, (), {}),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_a_key_decodes_to_its_call(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    round_trip(func, *args, **kwargs)


def test_a_tuple_comes_back_as_a_list() -> None:
    keys = CallKeys("app.pair", inspect.signature(pair))
    assert keys.arguments(keys.cache_key((1, 2), ())) == (([1, 2], []), {})


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(values, values)
def test_any_keyable_call_decodes_to_itself(a: Any, b: Any) -> None:
    round_trip(pair, a, b)  # positional: the hand-written fast path when scalars
    round_trip(pair, b=b, a=a)  # keywords: bind() and the JSON encoder


def test_a_cached_functions_keys_are_its_call_keys() -> None:
    _reset_groups()
    try:
        f = cached(new_group("callkeys", 1 << 20))(search)
        keys = f.cache_key.__self__  # type: ignore[attr-defined]
        assert isinstance(keys, CallKeys)
        key = f.cache_key("q", "t", limit=1, x=[1])
        assert keys.arguments(key) == (("q", "t"), {"limit": 1, "x": [1]})
    finally:
        _reset_groups()
