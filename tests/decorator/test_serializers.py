"""The named serializers: round trips, their exact bytes, and what each refuses."""

from __future__ import annotations

import _pickle
import functools
import json
import math
import pickle
import subprocess
import sys
import types

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

import distcache
import distcache.group.registry
from distcache.serializers import (
    NAMES,
    JSONSerializer,
    MsgpackSerializer,
    PickleSerializer,
    RawSerializer,
    Serializer,
    serializer_for,
    serializer_name,
)

# JSON-shaped values: what every named serializer but raw carries both ways.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_the_names() -> None:
    assert NAMES == ("raw", "json", "msgpack", "pickle")
    for name, kind in zip(
        NAMES, (RawSerializer, JSONSerializer, MsgpackSerializer, PickleSerializer), strict=True
    ):
        s = serializer_for(name)
        assert type(s) is kind and s.name == name == serializer_name(s)
        assert isinstance(s, Serializer)


@given(json_values)
def test_json_round_trip_and_bytes(value: object) -> None:
    s = serializer_for("json")
    data = s.dumps(value)
    assert type(data) is bytes
    # Exactly the standard library's compact UTF-8 text.
    assert data == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert s.loads(data) == value
    assert s.loads(bytearray(data)) == value and s.loads(memoryview(data)) == value


@given(json_values)
def test_msgpack_round_trip(value: object) -> None:
    s = serializer_for("msgpack")
    data = s.dumps(value)
    assert type(data) is bytes and data == msgpack.packb(value, use_bin_type=True)
    assert s.loads(data) == value


@given(json_values)
def test_pickle_round_trip(value: object) -> None:
    s = serializer_for("pickle")
    assert s.loads(s.dumps(value)) == value


def test_json_keeps_unicode_and_follows_json_rules() -> None:
    s = serializer_for("json")
    assert s.dumps({"name": "Ada Lovelace é 世"}) == '{"name":"Ada Lovelace é 世"}'.encode()
    assert s.dumps(None) == b"null"
    assert s.loads(b"null") is None
    # json's own rules, documented: tuples come back as lists, int keys as str.
    assert s.loads(s.dumps({1: (2, 3)})) == {"1": [2, 3]}
    # NaN round-trips as the standard library writes it.
    assert math.isnan(s.loads(s.dumps(float("nan"))))
    # Whitespace around a document (another writer's) is json.loads's business.
    assert s.loads(b' {"a": 1} \n') == {"a": 1}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", json.JSONDecodeError),
        (b" ", json.JSONDecodeError),
        (b"{", json.JSONDecodeError),
        (b'{"a":1}x', json.JSONDecodeError),
        (b"[1,2", json.JSONDecodeError),
        (b"\xff\xfe", UnicodeDecodeError),
        (b"nul", json.JSONDecodeError),
    ],
)
def test_json_rejects_what_is_not_one_document(data: bytes, error: type) -> None:
    with pytest.raises(error):
        serializer_for("json").loads(data)
    assert issubclass(error, ValueError)  # what @cached turns into its message


def test_json_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        serializer_for("json").dumps({1, 2})


def test_raw_takes_bytes_like_only() -> None:
    s = serializer_for("raw")
    assert s.dumps(b"ab") == b"ab"
    assert s.dumps(bytearray(b"ab")) == b"ab" and type(s.dumps(bytearray(b"ab"))) is bytes
    with pytest.raises(TypeError, match=r"raw needs a \(C-contiguous\) bytes-like object, not str"):
        s.dumps("text")
    with pytest.raises(TypeError, match="not NoneType"):
        s.dumps(None)
    assert s.loads(memoryview(b"xy")) == b"xy" and type(s.loads(memoryview(b"xy"))) is bytes


def test_raw_refuses_a_strided_view() -> None:
    view = memoryview(bytearray(b"abcd"))[::2]
    with pytest.raises(TypeError, match="not memoryview"):
        RawSerializer().dumps(view)


def test_msgpack_keeps_bytes_and_str_apart_and_takes_int_keys() -> None:
    s = serializer_for("msgpack")
    assert s.loads(s.dumps({"s": "x", "b": b"x", 1: 2})) == {"s": "x", "b": b"x", 1: 2}
    with pytest.raises(TypeError):
        s.dumps({1, 2})
    for bad in (b"\x92\x01", b"\xc1", b"\x01\x02"):  # truncated, reserved byte, extra data
        with pytest.raises(ValueError):
            s.loads(bad)


def test_pickle_only_by_name_and_what_it_means() -> None:
    assert serializer_for("pickle").name == "pickle"
    assert "pickle" not in (serializer_for("json").name, serializer_for("raw").name)
    # Why it is opt-in: unpickling runs what the bytes name. A peer's bytes
    # calling print prove it without harm.
    evil = b"cbuiltins\nprint\n(S'ran code from the cache'\ntR."
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys; from distcache.serializers import serializer_for; "
         f"serializer_for('pickle').loads({evil!r})"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ran code from the cache\n"
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        serializer_for("pickle").loads(b"\x80\x05not a pickle")


class _PickleUnderAnotherName:
    name = "fast"
    dumps = staticmethod(pickle.dumps)
    loads = staticmethod(pickle.loads)


@pytest.mark.parametrize(
    "spec",
    [
        pickle,
        _pickle,
        _PickleUnderAnotherName(),
        _PickleUnderAnotherName,
        types.SimpleNamespace(dumps=pickle.dumps, loads=pickle.loads),
        types.SimpleNamespace(dumps=json.dumps, loads=pickle.loads),  # loads is what runs code
        types.SimpleNamespace(dumps=pickle._dumps, loads=pickle._loads),  # the pure-Python twins
        types.SimpleNamespace(dumps=pickle.dumps, loads=functools.partial(pickle.loads)),
    ],
    ids=["pickle", "_pickle", "instance", "class", "namespace", "loads only", "pure python",
         "partial"],
)
def test_pickle_is_refused_unless_named(spec: object) -> None:
    # The module (or its functions under another name) would slip past the
    # rule that pickle is chosen only by name: each says what to write instead.
    for call in (serializer_for, lambda s: distcache.cached(distcache.new_group(
            "pickle_refused", 1 << 16), serializer=s)):
        with pytest.raises(ValueError, match='write serializer="pickle"'):
            call(spec)
        distcache.group.registry._reset_groups()
    assert isinstance(serializer_for("pickle"), PickleSerializer)
    assert isinstance(serializer_for(PickleSerializer()), PickleSerializer)  # distcache's own


def test_unknown_name_lists_the_names() -> None:
    with pytest.raises(ValueError) as info:
        serializer_for("yaml")
    assert str(info.value) == (
        "unknown serializer 'yaml'; the named ones are 'raw', 'json', 'msgpack', 'pickle' "
        "(or pass an object with dumps and loads)"
    )


def test_not_a_serializer() -> None:
    with pytest.raises(TypeError) as info:
        serializer_for(42)  # type: ignore[arg-type]
    assert str(info.value) == (
        "serializer must be one of 'raw', 'json', 'msgpack', 'pickle' or an object with "
        "dumps and loads, not int"
    )


def test_any_object_with_dumps_and_loads() -> None:
    class Upper:
        name = "upper"

        def dumps(self, obj: str) -> bytes:
            return obj.upper().encode()

        def loads(self, data: bytes) -> str:
            return data.decode()

    s = Upper()
    assert serializer_for(s) is s and serializer_name(s) == "upper"
    assert serializer_name(pickle) == "pickle"  # a module: named by __name__


def test_msgpack_missing_says_which_extra() -> None:
    # A child interpreter where `import msgpack` fails, as without the extra.
    code = (
        "import sys; sys.modules['msgpack'] = None\n"
        "from distcache.serializers import serializer_for\n"
        "try:\n    serializer_for('msgpack')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "serializer 'msgpack' needs the msgpack package: pip install 'pydistcache[msgpack]'\n"
    )
