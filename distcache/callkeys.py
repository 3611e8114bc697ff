"""The keys of ``@cached`` calls, both ways: a call to its key, a key back to its call.

A ``@cached`` function's results are kept under one key per call, and the
node of a cluster that owns a key rebuilds the call from the key alone, so
the key is a format that every node reads and writes alike
(docs/async.md, "The @cached decorator", states it for users):

    <name>:<rest>

``<name>`` is the function's ``name=`` or, by default, ``module.qualname``
(``function_name``); it is one name across processes, never empty, and
holds no ``:``, so the key's first ``:`` ends it (``group.functions`` routes
a key to its function by that part). The standard ``<rest>`` is the
canonical JSON of the call's bound arguments:

- the call is bound to the function's signature
  (``inspect.signature(f).bind(*args, **kwargs)``, then
  ``apply_defaults()``), so a positional, a keyword and a defaulted
  argument of one value give one key;
- the mapping of every parameter's name to its value is written by
  ``json.dumps(arguments, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False, allow_nan=False)``: a ``*args`` parameter is a list
  under its name, a ``**kwargs`` parameter an object under its name;
- a value is ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, or a
  list, tuple or ``str``-keyed dict of them, of exactly these types (a
  tuple is written, and decoded, as a list); anything else is a
  ``TypeError`` that names the argument (``_key_problem`` says why);
- the whole key is at most ``MAX_KEY_LEN`` bytes in UTF-8 (``ValueError``).

The call ``search("ada", "b", "a", limit=5, lang="en")`` of
``def search(query, *tags, limit=10, **options)`` in module ``app`` has the key
``app.search:{"limit":5,"options":{"lang":"en"},"query":"ada","tags":["b","a"]}``.

Decoding (``CallKeys.arguments``) is the inverse: the part after the
function's ``<name>:`` is ``json.loads``-ed, must be an object whose keys
are exactly the parameter names (a ``*args`` one a list, a ``**kwargs`` one
an object), and is bound to the signature again to give the call's
positional and keyword arguments; any other text is a ``ValueError`` naming
the key.

With ``key=``, ``<rest>`` is whatever that callable returns for the call's
arguments (a ``str``; the same byte limit). Such a key cannot be decoded:
the process that calls the function keeps the arguments of its calls in
progress by key, for its own loader, and computes itself a key that
another node owns (``distcache.decorator``).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from ._contract import MAX_KEY_LEN

__all__ = ["CallKeys", "MakeKey", "function_name"]

MakeKey = Callable[[tuple[Any, ...], dict[str, Any]], str]
"""make_key(args, kwargs): the key of a call given its positional and keyword arguments."""

# The canonical JSON of a call's arguments (the slow path; the fast path
# below writes the same text by hand for calls of scalars).
_KEY_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)

# A str of at most a quarter of MAX_KEY_LEN in characters is within it in
# UTF-8 bytes, so only longer keys are encoded to be measured.
_SURELY_SHORT = MAX_KEY_LEN // 4

# The keys of one-parameter calls kept per function (make_one_key): at most
# this many, each of at most this many characters (about 0.3 MB at most).
_KEPT_KEYS = 1024
_KEPT_KEY_CHARS = 256


def _json_float(x: float) -> str:
    if x != x or x in (math.inf, -math.inf):
        raise ValueError("not finite")  # the slow path says why
    return float.__repr__(x)


# How each scalar of a key is written: exactly what _KEY_JSON writes for it
# (tests/decorator/test_cached.py checks the two paths give one text).
_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    int: int.__repr__,
    bool: lambda b: "true" if b else "false",
    type(None): lambda _: "null",
    float: _json_float,
}

_KEYABLE = "str, int, float, bool, None, and lists, tuples and str-keyed dicts of them"


def _key_problem(value: Any) -> str | None:
    """Why value cannot be part of a standard key, or None if it can."""
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and not math.isfinite(value):
            return f"the float {value!r} (JSON has no NaN or infinity)"
        return None
    if kind is list or kind is tuple:
        for item in value:
            problem = _key_problem(item)
            if problem is not None:
                return problem
        return None
    if kind is dict:
        for k, item in value.items():
            if type(k) is not str:
                return f"a dict key of type {type(k).__name__} (JSON object keys are str)"
            problem = _key_problem(item)
            if problem is not None:
                return problem
        return None
    return f"a {kind.__qualname__}"


def function_name(func: Callable[..., Any]) -> str:
    """module.qualname of func; ValueError when that is not one name across processes."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ValueError(f"@cached cannot name {func!r}: pass name=")
    fname = f"{module}.{qualname}"
    if "<" in fname:
        # "f.<locals>.g" is shared by every g a call of f makes (with other
        # closures: their results would be served for each other), and every
        # lambda of a module is "<lambda>".
        raise ValueError(
            f"@cached function {fname} is defined inside a function or is a lambda, so its "
            f"name is not one function's: pass name='...' (unique in the group)"
        )
    if ":" in fname:
        raise ValueError(f"@cached function name {fname!r} contains ':': pass name=")
    return fname


class CallKeys:
    """The keys of one @cached function's calls, and the calls its standard keys encode."""

    def __init__(
        self, name: str, signature: inspect.Signature, key: Callable[..., str] | None = None
    ) -> None:
        self.name = name
        self.prefix = name + ":"
        self.signature = signature
        self.make_key: MakeKey = self._argument_key() if key is None else self._custom_key(key)

    def cache_key(self, *args: Any, **kwargs: Any) -> str:
        """The key of the call with these arguments."""
        return self.make_key(args, kwargs)

    def _argument_key(self) -> MakeKey:
        """make_key for the standard key: prefix + canonical JSON of the bound arguments."""
        params = list(self.signature.parameters.values())
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        # The fast path takes calls that give every parameter positionally, as
        # scalars: it writes the sorted JSON object by hand.
        n = len(params) if all(p.kind in positional for p in params) else -1
        order = sorted(range(len(params)), key=lambda i: params[i].name)
        plan = tuple(
            (i, ("{" if j == 0 else ",") + encode_basestring(params[i].name) + ":")
            for j, i in enumerate(order)
        )
        close = "}" if plan else "{}"
        prefix = self.prefix
        scalars = _SCALARS
        slow = self._bound_key
        short = _SURELY_SHORT

        if n == 1:
            # The common case in one concatenation: 0.27 us for a one-int call,
            # where the loop below takes 0.54 us for two ints and bind() 4.2 us
            # (this machine, python 3.11). The keys of the last int and str
            # arguments are kept (about 0.05 us to find): a hit's key was
            # most of its time. Only int and str: equal ones of either type
            # have one JSON text, and an int never equals a str (True == 1
            # and 1.0 == 1 have other texts, so bool and float are not kept).
            head = prefix + plan[0][1]
            known: dict[int | str, str] = {}

            def make_one_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
                if not kwargs and len(args) == 1:
                    arg = args[0]
                    kind = type(arg)
                    if kind is int or kind is str:
                        key = known.get(arg)
                        if key is not None:
                            return key
                    try:
                        key = head + scalars[kind](arg) + "}"
                    except (KeyError, ValueError):
                        return slow(args, kwargs)
                    if len(key) > short:
                        self._check_length(key)
                    elif (kind is int or kind is str) and len(key) <= _KEPT_KEY_CHARS:
                        if len(known) >= _KEPT_KEYS:
                            known.clear()  # one dict operation: safe beside other threads
                        known[arg] = key
                    return key
                return slow(args, kwargs)

            return make_one_key

        def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            if not kwargs and len(args) == n:
                try:
                    parts = [prefix]
                    for i, fragment in plan:
                        arg = args[i]
                        parts.append(fragment)
                        parts.append(scalars[type(arg)](arg))
                    parts.append(close)
                    key = "".join(parts)
                except (KeyError, ValueError):  # not a scalar, or not finite
                    return slow(args, kwargs)
                if len(key) > short:
                    self._check_length(key)
                return key
            return slow(args, kwargs)

        return make_key

    def _bound_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The standard key of any call: its arguments bound, defaults applied, as JSON."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        for pname, value in bound.arguments.items():
            problem = _key_problem(value)
            if problem is not None:
                raise TypeError(
                    f"@cached function {self.name}: argument {pname!r} holds {problem}, which "
                    f"cannot be part of a key (a key is JSON of the arguments: {_KEYABLE}); "
                    f"pass key= to build the key another way"
                )
        key = self.prefix + _KEY_JSON.encode(bound.arguments)
        self._check_length(key)
        return key

    def _custom_key(self, key_fn: Callable[..., str]) -> MakeKey:
        """make_key for a key= function: prefix + what it returns."""
        prefix = self.prefix

        def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            rest = key_fn(*args, **kwargs)
            if not isinstance(rest, str):
                raise TypeError(
                    f"the key= function of @cached function {self.name} returned "
                    f"{type(rest).__name__}, not str"
                )
            key = prefix + rest
            if len(key) > _SURELY_SHORT:
                self._check_length(key)
            return key

        return make_key

    def _check_length(self, key: str) -> None:
        size = len(key.encode("utf-8"))
        if size > MAX_KEY_LEN:
            raise ValueError(
                f"the key of a call of @cached function {self.name} is {size} bytes; the limit "
                f"is {MAX_KEY_LEN}: pass key= to build a shorter one"
            )

    def arguments(self, key: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments a standard key encodes; ValueError if it is not one of this function."""
        if not key.startswith(self.prefix):
            raise ValueError(f"key {key!r} is not a key of @cached function {self.name}")
        try:
            arguments = json.loads(key[len(self.prefix):])
        except ValueError as exc:
            raise ValueError(
                f"key {key!r} is not a key of @cached function {self.name}: its arguments "
                f"are not JSON ({exc})"
            ) from None
        params = self.signature.parameters
        if type(arguments) is not dict or set(arguments) != set(params):
            raise ValueError(
                f"key {key!r} does not name the parameters of @cached function {self.name} "
                f"({', '.join(params)})"
            )
        for p in params.values():
            value = arguments[p.name]
            if (p.kind is p.VAR_POSITIONAL and type(value) is not list) or (
                p.kind is p.VAR_KEYWORD and type(value) is not dict
            ):
                raise ValueError(
                    f"key {key!r} gives {p.name} of @cached function {self.name} a "
                    f"{type(value).__name__}"
                )
        bound = inspect.BoundArguments(self.signature, {p: arguments[p] for p in params})
        return bound.args, bound.kwargs
