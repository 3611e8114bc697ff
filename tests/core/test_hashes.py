"""FNV hashes: published test vectors, input types and errors."""

from __future__ import annotations

import array
from types import ModuleType

import pytest

# Published vectors (isthe.com/chongo/tech/comp/fnv, FNV test suite), each
# also checked against the reference loops below.
FNV32 = [(b"", 0x811C9DC5), (b"a", 0x050C5D7E), (b"foobar", 0x31F0B262)]
FNV32A = [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)]
FNV64A = [(b"", 0xCBF29CE484222325), (b"a", 0xAF63DC4C8601EC8C), (b"foobar", 0x85944171F73967E8)]


def ref_fnv32(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h = (h * 16777619) % 2**32
        h ^= byte
    return h


def ref_fnv32a(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h ^= byte
        h = (h * 16777619) % 2**32
    return h


def ref_fnv64a(data: bytes) -> int:
    h = 14695981039346656037
    for byte in data:
        h ^= byte
        h = (h * 1099511628211) % 2**64
    return h


@pytest.mark.parametrize(("data", "expected"), FNV32)
def test_fnv32_vectors(core: ModuleType, data: bytes, expected: int) -> None:
    assert ref_fnv32(data) == expected
    assert core.fnv32(data) == expected


@pytest.mark.parametrize(("data", "expected"), FNV32A)
def test_fnv32a_vectors(core: ModuleType, data: bytes, expected: int) -> None:
    assert ref_fnv32a(data) == expected
    assert core.fnv32a(data) == expected


@pytest.mark.parametrize(("data", "expected"), FNV64A)
def test_fnv64a_vectors(core: ModuleType, data: bytes, expected: int) -> None:
    assert ref_fnv64a(data) == expected
    assert core.fnv64a(data) == expected


SAMPLES = [b"", b"\x00", b"\xff" * 3, b"hello world", bytes(range(256)), b"k" * 5000]


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"len{len(d)}")
def test_matches_reference(core: ModuleType, data: bytes) -> None:
    assert core.fnv32(data) == ref_fnv32(data)
    assert core.fnv32a(data) == ref_fnv32a(data)
    assert core.fnv64a(data) == ref_fnv64a(data)


@pytest.mark.parametrize("name", ["fnv32", "fnv32a", "fnv64a"])
def test_str_is_its_utf8(core: ModuleType, name: str) -> None:
    fn = getattr(core, name)
    for text in ["", "a", "foobar", "héllo", "日本語", "emoji \U0001f600"]:
        assert fn(text) == fn(text.encode("utf-8"))
    assert fn("é") != fn("é".encode("latin-1"))


@pytest.mark.parametrize("name", ["fnv32", "fnv32a", "fnv64a"])
def test_bytes_like_inputs(core: ModuleType, name: str) -> None:
    fn = getattr(core, name)
    expected = fn(b"foobar")
    assert fn(bytearray(b"foobar")) == expected
    assert fn(memoryview(b"foobar")) == expected
    assert fn(memoryview(b"xxfoobarxx")[2:-2]) == expected
    words = array.array("I", [1, 2, 3])
    assert fn(words) == fn(words.tobytes())


@pytest.mark.parametrize("name", ["fnv32", "fnv32a", "fnv64a"])
@pytest.mark.parametrize("bad", [None, 1, 1.5, ["a"], object()], ids=lambda b: type(b).__name__)
def test_bad_type(core: ModuleType, name: str, bad: object) -> None:
    with pytest.raises(TypeError):
        getattr(core, name)(bad)


@pytest.mark.parametrize("name", ["fnv32", "fnv32a", "fnv64a"])
def test_lone_surrogate(core: ModuleType, name: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        getattr(core, name)("\ud800")


def test_result_ranges(core: ModuleType) -> None:
    for data in SAMPLES:
        assert 0 <= core.fnv32(data) < 2**32
        assert 0 <= core.fnv32a(data) < 2**32
        assert 0 <= core.fnv64a(data) < 2**64
        assert type(core.fnv64a(data)) is int
