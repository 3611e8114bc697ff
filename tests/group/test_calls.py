"""Group scenarios run through both APIs: get/get_many/set/delete and their asyncio twins.

Each test takes `core` (the C core or the twin) and `calls` (sync or async),
so one scenario is checked four ways: what a caller sees must not depend on
which API it used.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from distcache.group import NotFound, new_group

from ..conftest import AsyncCalls, SyncCalls
from .fakes import GroupPeer, RingPicker
from .test_group import Source

Calls = SyncCalls | AsyncCalls


def test_a_miss_loads_once_then_hits(core: ModuleType, calls: Calls) -> None:
    src = Source({"42": b"alice"})
    g = new_group("calls_hit", 1 << 20, src, _core=core)
    assert calls.get(g, "42") == b"alice"
    assert calls.get(g, "42") == b"alice"
    assert src.calls == ["42"]
    st = g.stats()
    assert st["getter_loads"] == 1 and st["local_hits"] == 1


def test_absent_keys_raise_not_found_and_are_remembered(core: ModuleType, calls: Calls) -> None:
    src = Source({})
    g = new_group("calls_absent", 1 << 20, src, _core=core, negative_ttl=60)
    for _ in range(3):
        with pytest.raises(NotFound):
            calls.get(g, "nobody")
    assert src.calls == ["nobody"]
    calls.set(g, "nobody", b"now here")  # a set clears the remembered absence at once
    assert calls.get(g, "nobody") == b"now here"


def test_a_getter_error_reaches_the_caller_and_is_not_cached(core: ModuleType,
                                                             calls: Calls) -> None:
    failing = [True]

    def getter(key: str) -> bytes:
        if failing[0]:
            raise RuntimeError("the source is down")
        return b"back"

    g = new_group("calls_error", 1 << 20, getter, _core=core)
    with pytest.raises(RuntimeError, match="the source is down"):
        calls.get(g, "k")
    failing[0] = False
    assert calls.get(g, "k") == b"back"


def test_set_then_get_then_delete(core: ModuleType, calls: Calls) -> None:
    src = Source({"k": b"source"})
    g = new_group("calls_write", 1 << 20, src, _core=core)
    calls.set(g, "k", b"written")
    assert calls.get(g, "k") == b"written"
    assert src.calls == []
    assert calls.delete(g, "k") is True
    assert calls.delete(g, "k") is False
    assert calls.get(g, "k") == b"source"  # the next get loads from the source again
    assert src.calls == ["k"]


def test_get_many_answers_the_keys_found(core: ModuleType, calls: Calls) -> None:
    src = Source({"a": b"1", "b": b"2"})
    g = new_group("calls_many", 1 << 20, src, _core=core)
    calls.set(g, "c", b"3")
    assert calls.get_many(g, ["a", "b", "c", "absent"]) == {"a": b"1", "b": b"2", "c": b"3"}
    assert sorted(src.calls) == ["a", "absent", "b"]


def test_bad_input_is_refused_alike(core: ModuleType, calls: Calls) -> None:
    g = new_group("calls_bad", 1 << 20, Source({}), _core=core)
    with pytest.raises(TypeError, match="key must be str or bytes-like, not int"):
        calls.get(g, 5)
    with pytest.raises(ValueError):
        calls.get(g, "x" * 70_000)
    with pytest.raises(TypeError):
        calls.set(g, "k", 12)  # type: ignore[arg-type]
    assert g.stats()["getter_loads"] == 0


def test_a_key_owned_elsewhere_is_asked_of_its_owner(core: ModuleType, calls: Calls) -> None:
    # Two in-process nodes over one ring: whichever node is asked, a key is
    # loaded once, by a replica, and both nodes answer the same value.
    src = Source({f"k{i}": f"v{i}".encode() for i in range(20)})
    peers = {"a": GroupPeer("a"), "b": GroupPeer("b")}
    groups = {}
    for name in peers:
        other = {n: p for n, p in peers.items() if n != name}
        groups[name] = new_group(f"calls_ring_{name}", 1 << 20, src, _core=core)
        groups[name].register_peers(RingPicker(name, other, replicas=1))
        peers[name].group = groups[name]
    for i in range(20):
        assert calls.get(groups["a"], f"k{i}") == f"v{i}".encode()
        assert calls.get(groups["b"], f"k{i}") == f"v{i}".encode()
    assert sorted(src.calls) == sorted(f"k{i}" for i in range(20))
    assert peers["a"].calls and peers["b"].calls  # each node asked the other for its keys
