"""The ``@cached`` decorator: a function's results kept in a group, computed once per cluster.

    users = distcache.new_group("users", 64 << 20)      # no getter: @cached functions

    @distcache.cached(users, ttl=60)
    def load_user(user_id: int) -> dict:
        return db.fetch_user(user_id)

    load_user(42)        # key "app.users.load_user:{\"user_id\":42}"

The decorated function becomes the group's getter (``group.functions``): a
miss goes to the node that owns the key, and that node rebuilds the call
from the key, runs it once for all concurrent callers and stores the
serialized result. The key's format, and its decoding back into a call,
are ``distcache.callkeys``'s.

A ``key=`` callable builds the key's rest itself; such a key cannot be
decoded, so the node that calls the function computes it, from the
arguments of the calls in progress that this module keeps by key.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, Protocol, TypeVar, overload

from ._contract import check_ttl
from .callkeys import CallKeys, function_name
from .peers import NotFound
from .serializers import Serializer, serializer_for, serializer_name
from .singleflight import SingleFlight

__all__ = ["MAX_CALLS_IN_PROGRESS", "AsyncCachedFunction", "CachedFunction", "cached"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

MAX_CALLS_IN_PROGRESS = 10_000
"""Bound of a key= function's table of calls in progress: distinct keys at once, per process."""


class CachedFunction(Protocol[P, R]):
    """A @cached plain function: called as the function, plus its cache's handles."""

    group: Any
    """The group that holds its results."""
    serializer: Serializer
    """How its results become bytes."""
    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """The function's result for these arguments, from the cache when it holds it."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key of the call with these arguments."""
        ...

    def cache_invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the result of that call from every node; True if it was cached here."""
        ...


class AsyncCachedFunction(Protocol[P, T]):
    """A @cached async function: awaited as the function, plus its cache's handles."""

    group: Any
    """The group that holds its results."""
    serializer: Serializer
    """How its results become bytes."""
    __wrapped__: Callable[P, Coroutine[Any, Any, T]]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        """The function's result for these arguments, from the cache when it holds it."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key of the call with these arguments."""
        ...

    def cache_invalidate(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, bool]:
        """Drop the result of that call from every node; True if it was cached here."""
        ...


class _Decorator(Protocol):
    """What cached(group, ...) returns: applied to a function, its cached wrapper."""

    # An async def matches both; the first wins (mypy --strict calls that an
    # unsafe overlap, as it does for the same pair in typeshed).
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, func: Callable[P, Coroutine[Any, Any, T]], /
    ) -> AsyncCachedFunction[P, T]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]: ...


def cached(
    group: Any,
    *,
    key: Callable[..., str] | None = None,
    serializer: str | Serializer = "json",
    ttl: float | None = None,
    name: str | None = None,
    memo: int = 0,
) -> _Decorator:
    """Decorator: keep a function's results in group, the function being its getter.

    group: a group made without a getter (``new_group(name, max_bytes)``).
    key: called with the function's arguments, returns the rest of the key
    (after ``"<name>:"``) as a str; by default the rest is the canonical JSON
    of the bound arguments. serializer: "json" (default), "raw", "msgpack",
    "pickle" (only by that name: see distcache.serializers) or an object with
    dumps and loads. ttl: seconds a result is kept (None: the group's
    default_ttl). name: the function's name in keys, by default
    ``module.qualname``; needed for a function defined inside another one or
    a lambda, whose qualname is not one name across processes. memo: keep
    up to this many decoded results in this process; a hit whose stored
    bytes are those a kept result was decoded from returns that very object,
    shared by every caller as cachetools and cachebox do, instead of
    decoding a new one (0, the default: every call gets its own object; a
    caller must not mutate a shared one).
    """
    functions = getattr(group, "functions", None)
    if functions is None:
        if not callable(getattr(group, "get", None)):
            raise TypeError(f"@cached needs a distcache group, not {type(group).__name__}")
        raise ValueError(
            f"group {getattr(group, 'name', group)!r} has a getter of its own; @cached needs "
            f"a group made without one (new_group(name, max_bytes)), whose getter is its "
            f"@cached functions"
        )
    codec = serializer_for(serializer)
    if ttl is not None:
        ttl = check_ttl(ttl, "ttl")
    if key is not None and not callable(key):
        raise TypeError(f"key must be a callable returning a str, not {type(key).__name__}")
    if name is not None and (not isinstance(name, str) or not name or ":" in name):
        raise ValueError(f"name must be a non-empty str without ':', not {name!r}")
    if type(memo) is not int:
        raise TypeError(f"memo must be an int (results kept decoded), not {type(memo).__name__}")
    if memo < 0:
        raise ValueError(f"memo must be >= 0 (0 keeps none), not {memo}")

    def decorate(func: Callable[..., Any]) -> Any:
        if not callable(func):
            raise TypeError(f"@cached decorates a function, not {type(func).__name__}")
        fname = name if name is not None else function_name(func)
        is_async = inspect.iscoroutinefunction(func)
        spec = _Spec(fname, func, group, codec, ttl, key, memo)
        functions.register(fname, spec.loader(is_async), is_async=is_async, ttl=ttl)
        wrapper = spec.async_wrapper() if is_async else spec.wrapper()
        functools.update_wrapper(wrapper, func)
        wrapper.group = group  # type: ignore[attr-defined]
        wrapper.serializer = codec  # type: ignore[attr-defined]
        wrapper.cache_key = spec.keys.cache_key  # type: ignore[attr-defined]
        wrapper.cache_invalidate = (  # type: ignore[attr-defined]
            spec.acache_invalidate if is_async else spec.cache_invalidate
        )
        return wrapper

    return decorate


class _Spec:
    """One decorated function: its group, serializer, ttl and memo, its loader and wrappers."""

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        group: Any,
        codec: Serializer,
        ttl: float | None,
        key: Callable[..., str] | None,
        memo: int = 0,
    ) -> None:
        self.name = name
        self.func = func
        self.group = group
        self.codec = codec
        self.codec_name = serializer_name(codec)
        self.ttl = ttl
        self.keys = CallKeys(name, inspect.signature(func), key)
        self.make_key = self.keys.make_key
        # key= calls only: their arguments by key while they run, for the loader.
        self.calls = _CallsInProgress(name) if key is not None else None
        # key= calls only: computed here when the key's owner could not (a
        # peer has none of this node's calls in progress).
        self.flight: SingleFlight[bytes] = SingleFlight()
        self.decode = self._decoder(memo)

    # --------------------------------------------------------------- values

    def encode(self, value: Any) -> bytes:
        """The function's result as the bytes the group stores."""
        try:
            data = self.codec.dumps(value)
        except Exception as exc:
            raise TypeError(
                f"@cached function {self.name} returned a {type(value).__qualname__} that the "
                f"{self.codec_name} serializer cannot encode: {exc}"
            ) from exc
        if type(data) is not bytes:
            raise TypeError(
                f"serializer {self.codec_name} of @cached function {self.name} returned "
                f"{type(data).__name__}, not bytes"
            )
        return data

    def _decoder(self, memo: int) -> Callable[[str, bytes], Any]:
        """decode(key, data): the value the wrappers return for the bytes the group gave.

        With memo > 0 the last results decoded are kept with their bytes, at
        most memo of them: a hit whose bytes equal the kept ones (the entry
        was not rewritten since) returns the kept object.
        """
        loads = self.codec.loads
        if memo == 0:
            return lambda key, data: loads(data)
        # Every step is one dict operation, atomic under the GIL; a race only
        # decodes a value twice or drops one kept result, never pairs a
        # result with other bytes (an entry is one tuple, replaced whole).
        kept: dict[str, tuple[bytes, Any]] = {}

        def decode(key: str, data: bytes) -> Any:
            entry = kept.get(key)
            if entry is not None and entry[0] == data:
                return entry[1]
            value = loads(data)
            if len(kept) >= memo and key not in kept:
                try:  # the oldest kept result makes room
                    del kept[next(iter(kept))]
                except (KeyError, RuntimeError, StopIteration):
                    pass  # another thread changed it first; the bound holds within a few
            kept[key] = (data, value)
            return value

        return decode

    def _corrupt(self, key: str, exc: Exception) -> ValueError:
        return ValueError(
            f"the cached value of @cached function {self.name} for key {key!r} is not valid "
            f"{self.codec_name} ({type(exc).__name__}: {exc}); the entry was deleted, so the "
            f"next call computes it again"
        )

    # --------------------------------------------------------------- loader

    def loader(self, is_async: bool) -> Callable[[str], Any]:
        """What group.functions calls for a key of this function: its value's bytes."""
        func, encode = self.func, self.encode
        calls = self.calls
        call_of = self.keys.arguments if calls is None else calls.arguments

        if is_async:

            async def aload(key: str) -> bytes:
                args, kwargs = call_of(key)
                return encode(await func(*args, **kwargs))

            return aload

        def load(key: str) -> bytes:
            args, kwargs = call_of(key)
            return encode(func(*args, **kwargs))

        return load

    # ------------------------------------------------------------- wrappers

    def wrapper(self) -> Callable[..., Any]:
        """The sync function that replaces the decorated one."""
        make_key, get, decode = self.make_key, self.group.get, self.decode
        corrupt, delete = self._corrupt, self.group.delete
        calls = self.calls

        if calls is None:

            def cached_call(*args: Any, **kwargs: Any) -> Any:
                key = make_key(args, kwargs)
                data = get(key)
                try:
                    return decode(key, data)
                except Exception as exc:
                    # Never a value from bytes the serializer rejects; drop them
                    # so the next call loads afresh.
                    delete(key)
                    raise corrupt(key, exc) from exc

            return cached_call

        def cached_call_by_key(*args: Any, **kwargs: Any) -> Any:
            key = make_key(args, kwargs)
            call = calls.enter(key, args, kwargs)
            try:
                try:
                    data = get(key)
                except NotFound:
                    if not self._owned_elsewhere(key):
                        raise  # the function itself said absent, here
                    data = self._compute_here(key, args, kwargs)
            finally:
                calls.leave(key, call)
            try:
                return decode(key, data)
            except Exception as exc:
                delete(key)
                raise corrupt(key, exc) from exc

        return cached_call_by_key

    def async_wrapper(self) -> Callable[..., Any]:
        """The async function that replaces the decorated one."""
        make_key, aget, decode = self.make_key, self.group.aget, self.decode
        corrupt, adelete = self._corrupt, self.group.adelete
        calls = self.calls

        if calls is None:

            async def cached_call(*args: Any, **kwargs: Any) -> Any:
                key = make_key(args, kwargs)
                data = await aget(key)
                try:
                    return decode(key, data)
                except Exception as exc:
                    await adelete(key)
                    raise corrupt(key, exc) from exc

            return cached_call

        async def cached_call_by_key(*args: Any, **kwargs: Any) -> Any:
            key = make_key(args, kwargs)
            call = calls.enter(key, args, kwargs)
            try:
                try:
                    data = await aget(key)
                except NotFound:
                    if not self._owned_elsewhere(key):
                        raise
                    data = await self._acompute_here(key, args, kwargs)
            finally:
                calls.leave(key, call)
            try:
                return decode(key, data)
            except Exception as exc:
                await adelete(key)
                raise corrupt(key, exc) from exc

        return cached_call_by_key

    def _owned_elsewhere(self, key: str) -> bool:
        """Whether this node is not a replica of key (so its owner may lack the call)."""
        picker = self.group.picker
        return picker is not None and not picker.placement(key).local

    def _compute_here(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        """A key= key whose owner is another node: computed here once, then set at its owner."""

        def compute() -> bytes:
            data = self.encode(self.func(*args, **kwargs))
            self.group.set(key, data, self.ttl)
            return data

        return self.flight.do(key, compute)[0]

    async def _acompute_here(
        self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> bytes:
        """_compute_here for an async function."""

        async def compute() -> bytes:
            data = self.encode(await self.func(*args, **kwargs))
            await self.group.aset(key, data, self.ttl)
            return data

        return (await self.flight.ado(key, compute))[0]

    def cache_invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the result of the call with these arguments from every node."""
        return self.group.delete(self.make_key(args, kwargs))  # type: ignore[no-any-return]

    async def acache_invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """cache_invalidate for an async function."""
        return await self.group.adelete(self.make_key(args, kwargs))  # type: ignore[no-any-return]


class _Call:
    """The arguments of the calls of one key in progress, and how many there are."""

    __slots__ = ("args", "count", "kwargs")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args = args
        self.kwargs = kwargs
        self.count = 0  # calls of this key in progress


class _CallsInProgress:
    """Arguments of a key= function's calls in progress, by key: what its loader reads."""

    def __init__(self, name: str, limit: int = MAX_CALLS_IN_PROGRESS) -> None:
        self.name = name
        self.limit = limit
        # Guards _calls and every _Call's count.
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}

    def enter(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
        """Note a call of key with these arguments; RuntimeError past the bound."""
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                if len(self._calls) >= self.limit:
                    self._full()
                call = self._calls[key] = _Call(args, kwargs)
            call.count += 1
            return call

    def _full(self) -> NoReturn:
        raise RuntimeError(
            f"@cached function {self.name}: {self.limit} calls with distinct keys are in "
            f"progress in this process (the bound of the table its key= keys are loaded from)"
        )

    def leave(self, key: str, call: _Call) -> None:
        """The end of a call entered with enter."""
        with self._lock:
            call.count -= 1
            if call.count == 0 and self._calls.get(key) is call:
                del self._calls[key]

    def arguments(self, key: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments of a call of key in progress here; NotFound if there is none.

        NotFound (not an error): the node that owns a key= key has no call of
        it in progress when another node asks, and the asking node then
        computes it itself (_Spec._compute_here).
        """
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                raise NotFound(key)
            return call.args, call.kwargs
