"""@distcache.cached over sync and async functions, on both cores.

What is proved here: the key's exact text and its stability across
processes; one computation for concurrent callers and across a cluster of
in-process nodes; ttl and invalidation; each bad input's exact message, and
that corrupt bytes in the cache are never served as a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import distcache
from distcache import NotFound, cached, new_group
from distcache.decorator import _CallsInProgress
from distcache.group.registry import _reset_groups
from tests.group.fakes import FakeClock, FakeCluster

ROOT = Path(__file__).resolve().parents[2]
HERE = __name__  # "tests.decorator.test_cached": the module part of every key below
WAIT = 30.0  # seconds any wait of these tests may last before it fails

CALLS: list[tuple[str, tuple[Any, ...]]] = []


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    _reset_groups()
    CALLS.clear()
    yield
    _reset_groups()


def make_group(core: ModuleType, name: str = "users", **kw: Any) -> distcache.Group:
    return new_group(name, 1 << 20, _core=core, **kw)


def run(coro: Any) -> Any:
    """coro run on a fresh event loop, failed (not hung) after WAIT seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, WAIT)

    return asyncio.run(bounded())


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


# Module-level functions: their names are module.qualname, the default.


def load_user(user_id: int, verbose: bool = False) -> dict[str, Any]:
    CALLS.append(("load_user", (user_id, verbose)))
    return {"id": user_id, "name": "ada", "tags": ["x", "y"]}


async def aload_user(user_id: int) -> dict[str, Any]:
    CALLS.append(("aload_user", (user_id,)))
    await asyncio.sleep(0)
    return {"id": user_id}


def search(query: str, *tags: str, limit: int = 10, **options: Any) -> list[Any]:
    CALLS.append(("search", (query, tags, limit, options)))
    return [query, list(tags), limit, options]


def pair(a: Any, b: Any) -> list[Any]:
    CALLS.append(("pair", (a, b)))
    return [a, b]


def echo(x: Any) -> Any:
    CALLS.append(("echo", (x,)))
    return x


def nothing(x: int) -> None:
    CALLS.append(("nothing", (x,)))


def ret_set(x: int) -> set[int]:
    CALLS.append(("ret_set", (x,)))
    return {x}


class Point:
    """An argument that is not JSON."""


# ------------------------------------------------------------------ keys


def test_key_is_name_and_canonical_json_of_the_bound_arguments(core: ModuleType) -> None:
    f = cached(make_group(core))(load_user)
    key = f"{HERE}.load_user:" + '{"user_id":42,"verbose":false}'
    # Positional, keyword and default all bind to one call, so one key.
    assert f.cache_key(42) == f.cache_key(user_id=42) == f.cache_key(42, False) == key
    assert f.cache_key(verbose=False, user_id=42) == key
    assert f(42) == f(user_id=42) == f(42, verbose=False) == {
        "id": 42, "name": "ada", "tags": ["x", "y"]
    }
    assert CALLS == [("load_user", (42, False))]
    assert f.cache_key(42, True) == f"{HERE}.load_user:" + '{"user_id":42,"verbose":true}'


def test_kwargs_order_and_var_arguments(core: ModuleType) -> None:
    f = cached(make_group(core))(search)
    key = f.cache_key("ada", "b", "a", limit=5, z=1, lang="en")
    assert key == (
        f"{HERE}.search:"
        '{"limit":5,"options":{"lang":"en","z":1},"query":"ada","tags":["b","a"]}'
    )
    assert f.cache_key("ada", "b", "a", lang="en", z=1, limit=5) == key
    # The loader rebuilds the call from the key: the same call, *tags and **options too.
    result = ["ada", ["b", "a"], 5, {"z": 1, "lang": "en"}]
    assert f("ada", "b", "a", limit=5, z=1, lang="en") == result
    assert CALLS == [("search", ("ada", ("b", "a"), 5, {"lang": "en", "z": 1}))]
    assert f("ada", "b", "a", lang="en", z=1, limit=5) == result
    assert len(CALLS) == 1


def test_argument_types_are_kept_apart(core: ModuleType) -> None:
    f = cached(make_group(core))(echo)
    values = [1, 1.0, True, "1", None, [1], {"1": 1}, -0.0, 0, False, "", [], {}]
    keys = [f.cache_key(v) for v in values]
    assert len(set(keys)) == len(values)
    # Again, now that the keys of int and str arguments are kept: 1 == 1.0 ==
    # True, and each still gets its own key (in either order).
    assert [f.cache_key(v) for v in values] == keys
    assert [f.cache_key(v) for v in reversed(values)] == keys[::-1]
    assert f.cache_key("é\"\n\x00") == f"{HERE}.echo:" + '{"x":"é\\"\\n\\u0000"}'
    # A tuple is keyed as a list and reaches the function as one (the key is JSON).
    assert f.cache_key((1, 2)) == f.cache_key([1, 2])
    assert f((1, 2)) == [1, 2] and CALLS == [("echo", ([1, 2],))]


def test_kept_keys_are_bounded(core: ModuleType) -> None:
    from distcache.callkeys import _KEPT_KEY_CHARS, _KEPT_KEYS

    f = cached(make_group(core))(echo)
    make_key = f.cache_key.__self__.make_key
    cells = dict(zip(make_key.__code__.co_freevars, make_key.__closure__, strict=True))
    known = cells["known"].cell_contents
    for i in range(3 * _KEPT_KEYS):
        assert f.cache_key(i) == f'{HERE}.echo:{{"x":{i}}}'
        assert 0 < len(known) <= _KEPT_KEYS
    long = "x" * _KEPT_KEY_CHARS
    assert f.cache_key(long) == f.cache_key(long) == f'{HERE}.echo:{{"x":"{long}"}}'
    assert long not in known  # a long key is built each time, not kept


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


@settings(max_examples=300, deadline=None)
@given(scalars, scalars)
def test_fast_and_slow_keys_are_one_text(a: Any, b: Any) -> None:
    # Positional scalars take the hand-written fast path, keywords bind(): the
    # two must agree with json.dumps, or a cluster would hold two keys for a call.
    _reset_groups()
    g = new_group("keys", 1 << 20)
    two, one = cached(g)(pair), cached(g)(echo)
    reference = json.dumps(
        {"a": a, "b": b}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert two.cache_key(a, b) == two.cache_key(b=b, a=a) == f"{HERE}.pair:{reference}"
    ref_one = json.dumps({"x": a}, separators=(",", ":"), ensure_ascii=False)
    assert one.cache_key(a) == one.cache_key(x=a) == f"{HERE}.echo:{ref_one}"


def test_key_is_the_same_in_another_process() -> None:
    g = new_group("users", 1 << 20)
    f, s = cached(g)(load_user), cached(g)(search)
    here = [
        f.cache_key(42), f.cache_key("é", True), s.cache_key("q", "t", limit=1, x=[1, {"b": None}])
    ]
    code = (
        "import distcache\n"
        "from tests.decorator.test_cached import load_user, search\n"
        "g = distcache.new_group('users', 1 << 20)\n"
        "f, s = distcache.cached(g)(load_user), distcache.cached(g)(search)\n"
        "print(f.cache_key(42)); print(f.cache_key('é', True))\n"
        "print(s.cache_key('q', 't', limit=1, x=[1, {'b': None}]))\n"
    )
    for seed in ("1", "2"):  # keys never come from hash(): another seed, same keys
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONIOENCODING": "utf-8"}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
            text=True, encoding="utf-8", timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == here


def test_key_function_overrides(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g, key=lambda user_id, verbose=False: f"user/{user_id}")(load_user)
    assert f.cache_key(7) == f.cache_key(7, True) == f"{HERE}.load_user:user/7"
    assert f(7) == f(7, True) == {"id": 7, "name": "ada", "tags": ["x", "y"]}
    assert CALLS == [("load_user", (7, False))]  # the first call's arguments computed it
    # A set argument cannot form a standard key, but key= can take it.
    e = cached(g, key=lambda x: ",".join(sorted(x)))(echo)
    assert e.cache_key({"b", "a"}) == f"{HERE}.echo:a,b"
    with pytest.raises(TypeError, match="returned a set"):
        e({"a"})  # the result is still JSON


def test_key_functions_calls_in_progress_table_is_bounded() -> None:
    calls = _CallsInProgress("m.f", limit=2)
    a = calls.enter("m.f:a", (1,), {})
    b = calls.enter("m.f:b", (2,), {})
    assert calls.enter("m.f:a", (1,), {}) is a  # a second call of one key: no new entry
    with pytest.raises(RuntimeError) as info:
        calls.enter("m.f:c", (3,), {})
    assert str(info.value) == (
        "@cached function m.f: 2 calls with distinct keys are in progress in this process "
        "(the bound of the table its key= keys are loaded from)"
    )
    assert calls.arguments("m.f:b") == ((2,), {})
    calls.leave("m.f:b", b)
    with pytest.raises(NotFound):
        calls.arguments("m.f:b")  # what the owner of a key says when the call is elsewhere
    calls.enter("m.f:c", (3,), {})
    calls.leave("m.f:a", a)
    assert calls.arguments("m.f:a") == ((1,), {})  # one call of a is still running
    calls.leave("m.f:a", a)
    with pytest.raises(NotFound):
        calls.arguments("m.f:a")


# ------------------------------------------------------- values and ttls


def test_wrapper_attributes(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g, serializer="msgpack")(load_user)
    assert f.group is g and f.serializer.name == "msgpack"
    assert f.__wrapped__ is load_user and f.__name__ == "load_user"
    assert f.__qualname__ == "load_user" and f.__module__ == HERE
    assert g.functions is not None and g.functions.names() == [f"{HERE}.load_user"]
    af = cached(g)(aload_user)
    assert asyncio.iscoroutinefunction(af) and not asyncio.iscoroutinefunction(f)


@pytest.mark.parametrize("name", ["json", "msgpack", "pickle"])
def test_each_serializer_round_trips(core: ModuleType, name: str) -> None:
    f = cached(make_group(core), serializer=name)(echo)
    value = {"id": 1, "name": "Ada é", "tags": ["x", "y"], "score": 0.5, "none": None}
    assert f(1) == 1
    assert f.__wrapped__(value) == value
    g = cached(make_group(core, "other"), serializer=name, key=lambda x: "v")(echo)
    assert g(value) == value and g(value) == value
    assert [c for c in CALLS if c[0] == "echo"].count(("echo", (value,))) == 2  # wrapped + 1


def test_raw_bytes_and_pickle_objects(core: ModuleType) -> None:
    g = make_group(core)

    def blob(n: int) -> bytes:
        CALLS.append(("blob", (n,)))
        return bytes(range(n))

    f = cached(g, serializer="raw", name="tests.blob")(blob)
    assert f(5) == f(5) == b"\x00\x01\x02\x03\x04" and len(CALLS) == 1

    def when(n: int) -> tuple[int, frozenset[int]]:
        return (n, frozenset({n}))

    p = cached(g, serializer="pickle", name="tests.when")(when)
    assert p(3) == (3, frozenset({3}))  # pickle keeps what JSON cannot


def test_custom_serializer_object(core: ModuleType) -> None:
    class Upper:
        name = "upper"

        def dumps(self, obj: str) -> bytes:
            return obj.upper().encode()

        def loads(self, data: bytes) -> str:
            return data.decode()

    f = cached(make_group(core), serializer=Upper())(echo)
    assert f("ada") == "ADA" and f("ada") == "ADA" and len(CALLS) == 1


def test_none_is_a_cached_value(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g)(nothing)
    assert f(1) is None and f(1) is None
    assert CALLS == [("nothing", (1,))]  # stored as JSON null, not taken for a miss
    assert g.get(f.cache_key(1)) == b"null"
    m = cached(make_group(core, "m"), serializer="msgpack")(nothing)
    assert m(2) is None and m(2) is None and len(CALLS) == 2


def test_cache_invalidate_and_cache_key(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g)(load_user)
    f(1)
    f(2)
    assert f.cache_invalidate(user_id=1) is True
    assert f.cache_invalidate(1) is False  # already gone
    f(1)
    f(2)
    assert [c[1][0] for c in CALLS] == [1, 2, 1]
    assert g.get(f.cache_key(2)) == b'{"id":2,"name":"ada","tags":["x","y"]}'


def test_ttl_expires_the_result(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g, ttl=0.05)(load_user)
    assert g.functions is not None and g.functions.ttl(f.cache_key(1)) == 0.05
    f(1)
    # Recomputed once the entry expired: polled, never timed.
    poll(lambda: (f(1), len(CALLS))[1] >= 2, "the entry to expire")
    h = cached(g, ttl=3600)(echo)
    h(1)
    h(1)
    assert CALLS.count(("echo", (1,))) == 1


def test_function_exceptions_propagate_and_are_not_cached(core: ModuleType) -> None:
    boom = RuntimeError("db down")
    outcomes: list[Any] = [boom, {"ok": True}]

    def flaky(x: int) -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    f = cached(make_group(core), name="tests.flaky")(flaky)
    with pytest.raises(RuntimeError) as info:
        f(1)
    assert info.value is boom
    assert f(1) == {"ok": True} and outcomes == []


def test_not_found_from_the_function_is_remembered_for_negative_ttl(core: ModuleType) -> None:
    clock = FakeClock()
    g = make_group(core, negative_ttl=1.0, _clock=clock)
    asked: list[int] = []

    def find(x: int) -> dict[str, int]:
        asked.append(x)
        raise NotFound(str(x))

    f = cached(g, name="tests.find")(find)
    for _ in range(3):
        with pytest.raises(NotFound):
            f(1)
    assert asked == [1]  # the group's negative cache answered the others
    clock.advance(2.0)
    with pytest.raises(NotFound):
        f(1)
    assert asked == [1, 1]


# -------------------------------------------------------------- bad input


def test_unserializable_result(core: ModuleType) -> None:
    f = cached(make_group(core))(ret_set)
    for _ in range(2):  # an error, so nothing cached: the function runs again
        with pytest.raises(TypeError) as info:
            f(1)
        assert str(info.value) == (
            f"@cached function {HERE}.ret_set returned a set that the json serializer "
            f"cannot encode: Object of type set is not JSON serializable"
        )
    assert len(CALLS) == 2
    r = cached(make_group(core, "raw"), serializer="raw")(echo)
    with pytest.raises(TypeError) as info:
        r("text")
    assert str(info.value) == (
        f"@cached function {HERE}.echo returned a str that the raw serializer cannot encode: "
        f"raw needs a (C-contiguous) bytes-like object, not str"
    )


def test_serializer_that_returns_str(core: ModuleType) -> None:
    class Text:
        name = "text"

        def dumps(self, obj: Any) -> Any:
            return str(obj)

        def loads(self, data: bytes) -> Any:
            return data

    f = cached(make_group(core), serializer=Text())(echo)
    with pytest.raises(TypeError) as info:
        f(1)
    assert str(info.value) == (
        f"serializer text of @cached function {HERE}.echo returned str, not bytes"
    )


def test_key_function_returning_a_non_str(core: ModuleType) -> None:
    f = cached(make_group(core), key=lambda user_id, verbose=False: user_id)(load_user)
    with pytest.raises(TypeError) as info:
        f(1)
    assert str(info.value) == (
        f"the key= function of @cached function {HERE}.load_user returned int, not str"
    )
    with pytest.raises(TypeError):
        f.cache_key(1)
    assert CALLS == []


KEYABLE = "str, int, float, bool, None, and lists, tuples and str-keyed dicts of them"


@pytest.mark.parametrize(
    ("arg", "problem"),
    [
        ({1, 2}, "a set"),
        (Point(), "a Point"),
        (b"bytes", "a bytes"),
        ([1, [2, {3}]], "a set"),
        ({"a": {1: "x"}}, "a dict key of type int (JSON object keys are str)"),
        (float("nan"), "the float nan (JSON has no NaN or infinity)"),
        ([float("inf")], "the float inf (JSON has no NaN or infinity)"),
    ],
)
def test_arguments_that_cannot_form_a_key(core: ModuleType, arg: Any, problem: str) -> None:
    f = cached(make_group(core))(echo)
    message = (
        f"@cached function {HERE}.echo: argument 'x' holds {problem}, which cannot be part "
        f"of a key (a key is JSON of the arguments: {KEYABLE}); pass key= to build the key "
        f"another way"
    )
    for call in (lambda: f(arg), lambda: f(x=arg), lambda: f.cache_key(arg)):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == message
    assert CALLS == []


def test_a_method_needs_a_key_function(core: ModuleType) -> None:
    g = make_group(core)

    class Repo:
        def find(self, x: int) -> int:
            return x

    f = cached(g, name="tests.Repo.find")(Repo.find)
    with pytest.raises(TypeError, match="argument 'self' holds a test_a_method_needs_a_key"):
        f(Repo(), 1)
    k = cached(g, name="tests.Repo.find2", key=lambda self, x: str(x))(Repo.find)
    assert k(Repo(), 1) == 1


def test_wrong_arguments_and_long_keys(core: ModuleType) -> None:
    f = cached(make_group(core))(load_user)
    with pytest.raises(TypeError) as info:
        f()  # type: ignore[call-arg]
    assert str(info.value) == f"{HERE}.load_user(): missing a required argument: 'user_id'"
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'nope'"):
        f(1, nope=2)  # type: ignore[call-arg]
    with pytest.raises(ValueError) as info2:
        f("é" * 40_000)  # type: ignore[arg-type]
    size = len(f"{HERE}.load_user:" + '{"user_id":"","verbose":false}') + 80_000
    assert str(info2.value) == (
        f"the key of a call of @cached function {HERE}.load_user is {size} bytes; the limit "
        f"is 65535: pass key= to build a shorter one"
    )
    assert CALLS == []


@pytest.mark.parametrize(
    ("stored", "codec", "detail"),
    [
        (b"\xffnot json", "json",
         "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: "
         "invalid start byte"),
        (b'{"id":1', "json",
         "JSONDecodeError: Expecting ',' delimiter: line 1 column 8 (char 7)"),
        (b'{"id":1}{"id":2}', "json", "JSONDecodeError: Extra data: line 1 column 9 (char 8)"),
        (b"\x92\x01", "msgpack", "ValueError: Unpack failed: incomplete input"),
        (b"\x80\x05junk", "pickle", None),
    ],
)
def test_corrupt_bytes_are_never_served(
    core: ModuleType, stored: bytes, codec: str, detail: str | None
) -> None:
    g = make_group(core)
    f = cached(g, serializer=codec)(load_user)
    key = f.cache_key(1)
    g.set(key, stored)  # what a broken or hostile peer could have written
    with pytest.raises(ValueError) as info:
        f(1)
    text = str(info.value)
    head = (
        f"the cached value of @cached function {HERE}.load_user for key {key!r} is not valid "
        f"{codec} ("
    )
    assert text.startswith(head), text
    tail = "); the entry was deleted, so the next call computes it again"
    assert text.endswith(tail)
    if detail is not None:
        assert text == head + detail + tail
    assert CALLS == []
    # The bad entry is gone: the next call computes the true value.
    assert f(1) == {"id": 1, "name": "ada", "tags": ["x", "y"]}
    assert CALLS == [("load_user", (1, False))]


def test_memo_shares_a_result_while_its_bytes_stay(core: ModuleType) -> None:
    g = make_group(core)
    plain = cached(g, name="plain")(echo)
    shared = cached(g, name="shared", memo=2)(echo)
    # Without memo every call decodes its own object; with it, one object.
    assert plain([1]) == plain([1]) and plain([1]) is not plain([1])
    first = shared([1])
    assert first == [1] and shared([1]) is first
    # The entry rewritten (another node's Set, a new result): the new bytes
    # are decoded, never the kept object served for them.
    g.set(shared.cache_key([1]), b"[2]")
    assert shared([1]) == [2]
    again = shared([1])
    assert shared([1]) is again
    # At most memo results are kept: a third key pushes out the oldest.
    b, c = shared([3]), shared([4])
    assert shared([4]) is c and shared([3]) is b
    assert shared([1]) is not again and shared([1]) == [2]
    # Bytes that do not decode are never served, memo or not, and deleted.
    g.set(shared.cache_key([5]), b"[5")
    with pytest.raises(ValueError, match="is not valid json"):
        shared([5])
    assert shared([5]) == [5]
    calls = [c for c in CALLS if c[0] == "echo"]
    assert calls == [("echo", ([1],))] * 2 + [("echo", ([3],)), ("echo", ([4],)), ("echo", ([5],))]


def test_memo_for_async_functions(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g, memo=8)(aload_user)

    async def main() -> None:
        one = await f(1)
        assert await f(1) is one and one == {"id": 1}
        await g.aset(f.cache_key(1), b'{"id":9}')
        assert await f(1) == {"id": 9}
        await g.aset(f.cache_key(1), b"{")
        with pytest.raises(ValueError, match="is not valid json"):
            await f(1)

    run(main())
    assert CALLS == [("aload_user", (1,))]


def test_keys_a_peer_may_send_that_are_not_calls(core: ModuleType) -> None:
    g = make_group(core)
    cached(g)(load_user)
    name = f"{HERE}.load_user"
    with pytest.raises(ValueError) as info:
        g.get(f"{name}:not json")
    assert str(info.value) == (
        f"key '{name}:not json' is not a key of @cached function {name}: its arguments are "
        f"not JSON (Expecting value: line 1 column 1 (char 0))"
    )
    with pytest.raises(ValueError) as info:
        g.get(name + ':{"uid":1}')
    assert str(info.value) == (
        f"key '{name}:{{\"uid\":1}}' does not name the parameters of @cached function {name} "
        f"(user_id, verbose)"
    )
    s = cached(g)(search)
    with pytest.raises(ValueError, match="gives tags of @cached function .* a str"):
        g.get(s.cache_key("q").replace('"tags":[]', '"tags":"x"'))
    with pytest.raises(LookupError, match="has no @cached function 'nobody'"):
        g.get("nobody:{}")
    assert CALLS == []


def test_decorator_arguments_are_checked(core: ModuleType) -> None:
    own = new_group("own", 1 << 20, lambda key: b"v", _core=core)
    with pytest.raises(ValueError) as info:
        cached(own)
    assert str(info.value) == (
        "group 'own' has a getter of its own; @cached needs a group made without one "
        "(new_group(name, max_bytes)), whose getter is its @cached functions"
    )
    with pytest.raises(TypeError, match="^@cached needs a distcache group, not object$"):
        cached(object())
    g = make_group(core)
    with pytest.raises(ValueError, match="^ttl must be a positive number of seconds or None"):
        cached(g, ttl=0)
    with pytest.raises(TypeError, match="^ttl must be a number, not str$"):
        cached(g, ttl="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^unknown serializer 'yaml'"):
        cached(g, serializer="yaml")
    with pytest.raises(TypeError, match="^key must be a callable returning a str, not str$"):
        cached(g, key="user")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^name must be a non-empty str without ':', not 'a:b'$"):
        cached(g, name="a:b")
    with pytest.raises(TypeError, match=r"^memo must be an int \(results kept decoded\), not str$"):
        cached(g, memo="8")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^memo must be an int .*, not bool$"):
        cached(g, memo=True)
    with pytest.raises(ValueError, match=r"^memo must be >= 0 \(0 keeps none\), not -1$"):
        cached(g, memo=-1)


def test_nested_functions_and_lambdas_need_a_name(core: ModuleType) -> None:
    g = make_group(core)

    def inner(x: int) -> int:
        return x

    qual = f"{HERE}.test_nested_functions_and_lambdas_need_a_name.<locals>.inner"
    with pytest.raises(ValueError) as info:
        cached(g)(inner)
    assert str(info.value) == (
        f"@cached function {qual} is defined inside a function or is a lambda, so its name "
        f"is not one function's: pass name='...' (unique in the group)"
    )
    with pytest.raises(ValueError, match=r"\.<lambda> is defined inside"):
        cached(g)(lambda x: x)
    assert cached(g, name="tests.inner")(inner)(3) == 3


# ------------------------------------------------------------- concurrency


@pytest.mark.parametrize("by_key", [False, True], ids=["standard-key", "key-function"])
def test_one_call_for_concurrent_threads(core: ModuleType, by_key: bool) -> None:
    g = make_group(core)
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def slow(x: int) -> dict[str, int]:
        ran.append(x)
        started.set()
        if not release.wait(WAIT):  # waits off the GIL, as a real load would
            raise TimeoutError("never released")
        return {"x": x}

    # With key=, the load reads the leader's arguments from the calls in progress.
    f = cached(g, name="tests.slow", key=(lambda x: f"s{x}") if by_key else None)(slow)
    n = 16
    results: list[Any] = []
    # Guards nothing shared: list.append is atomic; each thread appends once.
    threads = [threading.Thread(target=lambda: results.append(f(7))) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        assert started.wait(WAIT)
        poll(lambda: g.stats()["loads_deduplicated"] >= n - 1, "every caller to join the load")
    finally:
        release.set()
        for t in threads:
            t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert ran == [7] and results == [{"x": 7}] * n
    # Each caller got its own object: decoded from the bytes, never shared.
    assert len({id(r) for r in results}) == n


def test_one_call_for_concurrent_tasks(core: ModuleType) -> None:
    g = make_group(core)
    ran: list[int] = []

    async def main() -> list[Any]:
        release = asyncio.Event()

        async def slow(x: int) -> dict[str, int]:
            ran.append(x)
            await release.wait()
            return {"x": x}

        f = cached(g, name="tests.aslow")(slow)
        tasks = [asyncio.create_task(f(7)) for _ in range(16)]
        while g.stats()["loads_deduplicated"] < 15:
            await asyncio.sleep(0.005)  # bounded by run()'s wait_for
        release.set()
        return await asyncio.gather(*tasks)

    assert run(main()) == [{"x": 7}] * 16
    assert ran == [7]


def test_async_function(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g, ttl=3600)(aload_user)

    async def main() -> None:
        assert await f(1) == await f(user_id=1) == {"id": 1}
        assert CALLS == [("aload_user", (1,))]
        assert f.cache_key(1) == f"{HERE}.aload_user:" + '{"user_id":1}'
        assert await f.cache_invalidate(1) is True
        assert await f(1) == {"id": 1}
        assert len(CALLS) == 2
        await g.aset(f.cache_key(2), b"[1,")
        with pytest.raises(ValueError, match="is not valid json"):
            await f(2)
        assert await f(2) == {"id": 2}  # the bad entry was deleted

    run(main())
    # A sync caller of the group reaches the async function's cached value too.
    assert g.get(f.cache_key(1)) == b'{"id":1}'


def test_async_key_function(core: ModuleType) -> None:
    g = make_group(core)
    f = cached(g, key=lambda user_id: f"u{user_id}")(aload_user)

    async def main() -> None:
        assert await f(5) == await f(5) == {"id": 5}
        assert f.cache_key(5) == f"{HERE}.aload_user:u5"

    run(main())
    assert CALLS == [("aload_user", (5,))]


# ---------------------------------------------------------------- cluster


@pytest.fixture
def cluster(core: ModuleType) -> Iterator[FakeCluster]:
    c = FakeCluster(lambda node: new_group(f"prof-{node}", 1 << 20, _core=core), n=3, replicas=1)
    yield c
    c.close()


def per_node(c: FakeCluster, ran: list[tuple[str, Any]], **kw: Any) -> dict[str, Any]:
    """One @cached function per node, one name: what one program on three nodes is."""

    def make(node: str) -> Callable[..., Any]:
        def profile(user_id: int) -> dict[str, int]:
            ran.append((node, user_id))
            return {"id": user_id}

        return profile

    return {n: cached(c.groups[n], name="tests.profile", **kw)(make(n)) for n in c.names}


def test_the_owner_computes_each_key_once(cluster: FakeCluster) -> None:
    ran: list[tuple[str, Any]] = []
    fns = per_node(cluster, ran)
    for user in range(6):
        key = fns["node0"].cache_key(user)
        owner = cluster.picker("node0").owners(key)[0]
        others = [n for n in cluster.names if n != owner]
        for node in [*others, owner, *others]:
            assert fns[node](user) == {"id": user}
        assert ran[-1] == (owner, user)  # the owner rebuilt the call from the key
    assert len(ran) == 6


def test_async_callers_in_a_cluster(cluster: FakeCluster) -> None:
    ran: list[tuple[str, Any]] = []

    def make(node: str) -> Callable[..., Any]:
        async def aprofile(user_id: int) -> dict[str, int]:
            ran.append((node, user_id))
            return {"id": user_id}

        return aprofile

    fns = {n: cached(cluster.groups[n], name="tests.aprofile")(make(n)) for n in cluster.names}
    key = fns["node0"].cache_key(9)
    owner = cluster.picker("node0").owners(key)[0]

    async def main() -> None:
        for node in [*cluster.names, *cluster.names]:
            assert await fns[node](9) == {"id": 9}

    run(main())
    assert ran == [(owner, 9)]


def test_a_key_function_key_is_computed_by_its_caller(cluster: FakeCluster) -> None:
    ran: list[tuple[str, Any]] = []
    fns = per_node(cluster, ran, key=lambda user_id: f"u{user_id}")
    key = fns["node0"].cache_key(3)
    owner = cluster.picker("node0").owners(key)[0]
    caller, third = [n for n in cluster.names if n != owner]
    assert fns[caller](3) == {"id": 3}
    # The owner could not rebuild the call: the caller computed it and set it there.
    assert ran == [(caller, 3)]
    assert fns[owner](3) == {"id": 3} and fns[third](3) == {"id": 3}
    assert ran == [(caller, 3)]
    # An owner's own call computes there, as on one node.
    key4 = fns["node0"].cache_key(4)
    owner4 = cluster.picker("node0").owners(key4)[0]
    assert fns[owner4](4) == {"id": 4}
    assert ran[-1] == (owner4, 4)


# ------------------------------------------------------------------ types


def test_the_module_is_not_shadowed_by_the_function() -> None:
    # distcache re-exports the function cached; its module has another name,
    # so importing the module by path gives the module.
    import distcache.decorator as m

    assert isinstance(m, ModuleType) and m.__name__ == "distcache.decorator"
    assert m.cached is distcache.cached and callable(m.cached)
    assert m.MAX_CALLS_IN_PROGRESS == 10_000  # the bound docs/async.md names


def test_type_checkers_keep_the_signature(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install mypy)")
    example = tmp_path / "typed_example.py"
    example.write_text(
        "import distcache\n"
        "g = distcache.new_group('t', 1 << 20)\n"
        "@distcache.cached(g)\n"
        "def f(x: int, y: str = 'a') -> dict[str, int]:\n"
        "    return {y: x}\n"
        "@distcache.cached(g, ttl=5)\n"
        "async def af(x: int) -> list[int]:\n"
        "    return [x]\n"
        "async def use() -> None:\n"
        "    reveal_type(f(1))\n"
        "    reveal_type(await af(1))\n"
        "    reveal_type(f.cache_key(1, y='b'))\n"
        "    reveal_type(f.cache_invalidate(1))\n"
        "    reveal_type(await af.cache_invalidate(1))\n"
        "    f('no')\n"
    )
    out, err, _ = api.run([
        str(example), "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"),
        "--no-error-summary",
    ])
    # Older mypy spells builtins.dict, newer dict.
    lines = [line.split(": ", 1)[1].replace("builtins.", "") for line in out.splitlines()]
    assert lines == [
        'note: Revealed type is "dict[str, int]"',
        'note: Revealed type is "list[int]"',
        'note: Revealed type is "str"',
        'note: Revealed type is "bool"',
        'note: Revealed type is "bool"',
        'error: Argument 1 to "__call__" of "CachedFunction" has incompatible type "str"; '
        'expected "int"  [arg-type]',
    ], out + err


# ------------------------------------------------------------------- docs


def doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "async.md").read_text(encoding="utf-8")
    return re.findall(r"^```py\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_doc_examples_print_what_their_comments_say() -> None:
    blocks = doc_blocks()
    assert len(blocks) >= 2  # the decorator's and the serializers' examples
    for block in blocks:
        expected = [
            line.rsplit("  # ", 1)[1]
            for line in block.splitlines()
            if line.strip().startswith("print(") and "  # " in line
        ]
        assert expected, block
        out = io.StringIO()
        _reset_groups()
        with contextlib.redirect_stdout(out):
            exec(compile(block, "docs/async.md", "exec"), {"__name__": "app.users"})
        assert out.getvalue().splitlines() == expected


def test_stale_while_revalidate_refreshes_from_the_key_alone(core: ModuleType) -> None:
    # The background refresh runs with no call in progress: it rebuilds the
    # call from the key, which a standard key allows.
    g = make_group(core, default_ttl=3600, stale_ttl=3600)
    f = cached(g, ttl=0.05)(load_user)
    assert f(1)["id"] == 1
    poll(lambda: f(1) is not None and g.stats()["refreshes"] >= 1, "a background refresh")
    assert CALLS == [("load_user", (1, False))] * 2 and g.stats()["refresh_errors"] == 0
