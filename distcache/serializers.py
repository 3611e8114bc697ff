"""Serializers: how a ``@cached`` function's return value becomes the bytes a group stores.

A serializer is any object with ``dumps(obj) -> bytes`` and ``loads(data) ->
obj`` (and a ``name`` for messages). Four are named:

- ``"raw"``: bytes-like in, ``bytes`` out, nothing encoded;
- ``"json"``: the standard library's json, compact, UTF-8 (the default);
- ``"msgpack"``: when ``msgpack`` is installed (``pip install pydistcache[msgpack]``);
- ``"pickle"``: only when asked for by that name, never a default (the pickle
  module, or its dumps and loads under another name, is refused). The bytes a
  group holds come from any node of the cluster, or from anyone who can call
  ``set`` on it, and ``pickle.loads`` of crafted bytes runs code of their
  author's choosing (docs/async.md, "Serializers and their safety").

A leaf module: it knows nothing of groups or functions.
"""

from __future__ import annotations

import functools
import json
import json.scanner
import pickle
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "NAMES",
    "JSONSerializer",
    "MsgpackSerializer",
    "PickleSerializer",
    "RawSerializer",
    "Serializer",
    "serializer_for",
    "serializer_name",
]


@runtime_checkable
class Serializer(Protocol):
    """Turns a value into bytes and back; loads raises on bytes dumps never wrote."""

    name: str

    def dumps(self, obj: Any) -> bytes:
        """obj as bytes; raises (TypeError, ValueError...) for what it cannot encode."""
        ...

    def loads(self, data: bytes) -> Any:
        """The value data encodes; raises on bytes that are not a valid encoding."""
        ...


class RawSerializer:
    """Bytes stored as they are: the function must return a bytes-like object."""

    name = "raw"

    def dumps(self, obj: Any) -> bytes:
        """obj as bytes; TypeError unless it is a C-contiguous bytes-like object."""
        if type(obj) is bytes:
            return obj
        try:
            with memoryview(obj) as view:
                if view.c_contiguous:
                    return view.tobytes()
        except TypeError:
            pass
        raise TypeError(f"raw needs a (C-contiguous) bytes-like object, not {type(obj).__name__}")

    def loads(self, data: bytes) -> bytes:
        """data itself, as bytes."""
        return data if type(data) is bytes else bytes(data)


class JSONSerializer:
    """The standard library's json: compact separators, UTF-8, non-ASCII kept as it is.

    json's own rules apply: a tuple comes back as a list, and a dict's int,
    float, bool or None keys come back as strings.
    """

    name = "json"

    def __init__(self) -> None:
        # One encoder built once: json.dumps with any option builds a new
        # JSONEncoder per call (a third of a small value's encoding time).
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
        # The decoder's C scanner, called directly: json.loads adds an
        # encoding detection on bytes and a regex for trailing whitespace,
        # which measured 4.2 us and 1.2 us against 0.7 us for the scanner alone
        # on a 47-byte dict (this machine, python 3.11). Anything the scanner
        # does not take whole goes to json.loads, so errors and edge cases are
        # exactly the standard library's.
        self._scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]

    def dumps(self, obj: Any) -> bytes:
        """obj as compact UTF-8 JSON; TypeError or ValueError as json.dumps raises them."""
        return self._encoder.encode(obj).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        """The value of the UTF-8 JSON document data; ValueError if it is not one."""
        text = (data if type(data) is bytes else bytes(data)).decode("utf-8")
        try:
            value, end = self._scan(text, 0)
        except StopIteration:  # the scanner's "no value here" (empty, or whitespace first)
            end = -1
        if end == len(text):
            return value
        return json.loads(text)  # raises json's own error, or accepts surrounding whitespace


class MsgpackSerializer:
    """MessagePack through the msgpack package: str and bytes kept apart, any map keys."""

    name = "msgpack"

    def __init__(self) -> None:
        try:
            import msgpack  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ImportError(
                "serializer 'msgpack' needs the msgpack package: "
                "pip install 'pydistcache[msgpack]'"
            ) from exc
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def dumps(self, obj: Any) -> bytes:
        """obj packed; TypeError for a type msgpack has no encoding for."""
        # A Packer per call (what packb does): one shared Packer's buffer is not
        # safe to use from two threads. use_bin_type keeps bytes apart from str.
        return self._packb(obj, use_bin_type=True)  # type: ignore[no-any-return]

    def loads(self, data: bytes) -> Any:
        """The value data packs; ValueError (msgpack's) if it is not one whole object."""
        # strict_map_key=False: a dict with int keys is a valid value here.
        # msgpack's size limits (no object larger than data) stay on.
        return self._unpackb(data, raw=False, strict_map_key=False)


class PickleSerializer:
    """pickle at its highest protocol: any picklable value, for a trusted cluster only.

    Unpickling runs code the bytes name: a peer, or anyone who can write to
    the group, can make every reader run what they want. Use it only where
    every node and every writer is trusted as much as the code itself.
    """

    name = "pickle"

    def dumps(self, obj: Any) -> bytes:
        """obj pickled; pickle's own error for what cannot be pickled."""
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        """The unpickled value (runs whatever code data names: see the class)."""
        return pickle.loads(data)


_BY_NAME: dict[str, type] = {
    "raw": RawSerializer,
    "json": JSONSerializer,
    "msgpack": MsgpackSerializer,
    "pickle": PickleSerializer,
}

NAMES: tuple[str, ...] = tuple(_BY_NAME)
"""The names serializer_for accepts."""


# pickle's functions, whatever they are called where they are passed from
# (_pickle's are the same objects; pickle._dumps/_loads are the pure-Python ones).
_PICKLE_FUNCTIONS = tuple(
    f for f in (pickle.dumps, pickle.loads, getattr(pickle, "_dumps", None),
                getattr(pickle, "_loads", None)) if f is not None
)


def _is_pickle(function: Any) -> bool:
    """Whether function is one of pickle's, itself, in a functools.partial or a wrapper."""
    for _ in range(8):  # bounded: an object may answer every getattr with a new object
        if any(function is f for f in _PICKLE_FUNCTIONS):
            return True
        if isinstance(function, functools.partial):
            function = function.func
        else:
            function = getattr(function, "__wrapped__", None)
            if function is None:
                return False
    return False


def serializer_for(spec: str | Serializer) -> Serializer:
    """The serializer a name stands for, or spec itself if it has dumps and loads.

    ValueError for an unknown name (the message lists the names), and for
    pickle's own dumps or loads passed as an object (the pickle module, or
    its functions under another name): pickle is chosen only by its name,
    so that every use of it is one greppable ``serializer="pickle"``.
    ImportError for "msgpack" without the msgpack package; TypeError for
    anything else.
    """
    if isinstance(spec, str):
        kind = _BY_NAME.get(spec)
        if kind is None:
            raise ValueError(
                f"unknown serializer {spec!r}; the named ones are "
                + ", ".join(repr(n) for n in NAMES)
                + " (or pass an object with dumps and loads)"
            )
        return kind()  # type: ignore[no-any-return]
    if callable(getattr(spec, "dumps", None)) and callable(getattr(spec, "loads", None)):
        if _is_pickle(spec.dumps) or _is_pickle(spec.loads):
            raise ValueError(
                f"serializer {serializer_name(spec)} is pickle's dumps/loads; pickle is "
                f'accepted only by name: write serializer="pickle" (unpickling runs code '
                f'that the cached bytes name: docs/async.md, "Serializers and their safety")'
            )
        return spec
    raise TypeError(
        f"serializer must be one of {', '.join(repr(n) for n in NAMES)} or an object with "
        f"dumps and loads, not {type(spec).__name__}"
    )


def serializer_name(serializer: object) -> str:
    """The name of a serializer for messages: its name attribute, else its type's name."""
    name = getattr(serializer, "name", None)
    if isinstance(name, str):
        return name
    return getattr(serializer, "__name__", None) or type(serializer).__qualname__
