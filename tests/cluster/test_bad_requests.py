"""A bad request through Client and AsyncClient, and a node's refusal of one, on real nodes.

The clients check a request with a group's rules before sending it: a key
that is not str or bytes-like is a TypeError, one over 65,535 bytes a
ValueError naming its size and the limit, as Group.get raises them. So a bad
key never reaches the node, nor the GetMany it would have shared with the
other gets of its loop turn. A request the node refuses all the same
(INVALID_ARGUMENT; here the pool's _Peer, which checks nothing, sends one) is
a ValueError carrying the node's reason and never marks the peer down; a
batch of gets refused for one key's sake is asked again key by key, so that
the refusal reaches that key's caller only. Every coroutine runs under
asyncio.wait_for, the watchdog that fails a test instead of letting it hang.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from distcache.cluster import AsyncClient, Client, GRPCPool

from .nodes import Node, free_port, make_source

T = TypeVar("T")
WATCHDOG = 30.0  # seconds a test's coroutine may take; a node answers in milliseconds
CALL = 5.0  # deadline of each call: generous, the machine is shared
LONG = "k" * 65536  # one byte over the key limit (MAX_KEY_LEN = 65535)
LONG_TEXT = r"^key is 65536 bytes; the limit is 65535$"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """coro on a new event loop, failed (TimeoutError) when it takes over WATCHDOG seconds."""
    return asyncio.run(asyncio.wait_for(coro, WATCHDOG))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node serving group "items" over k<i> -> value-<i>; stopped by its pid."""
    db = make_source(tmp_path_factory.mktemp("bad-requests") / "source.db", rows=100)
    n = Node(f"127.0.0.1:{free_port()}", ["--group", "items:4MiB", "--loader",
                                          f"sqlite:{db}:items"])
    try:
        yield n.start()
    finally:
        n.stop()


def serving(node: Node) -> bool:
    """Whether the node's process is alive and answers a get."""
    assert node.proc is not None and node.proc.poll() is None
    with Client(node.addr, timeout=CALL) as c:
        return c.get("items", "k2") == b"value-2"


def assert_refused(answer: Any, exc: type[BaseException], message: str) -> None:
    """answer is an exc whose text matches message."""
    assert isinstance(answer, exc), repr(answer)
    assert re.search(message, str(answer)), str(answer)


def test_one_task_s_bad_key_fails_that_task_only(node: Node) -> None:
    """Two tasks ask in one loop turn, one with a 65,536-byte key: the valid get is
    answered, the bad one is a ValueError (their gets used to go as one GetMany,
    refused as a whole with INVALID_ARGUMENT, a ConnectionError for both)."""
    async def main() -> tuple[list[Any], int]:
        async with AsyncClient(node.addr, timeout=CALL) as c:
            bad = asyncio.ensure_future(c.aget("items", LONG))
            good = asyncio.ensure_future(c.aget("items", "k1"))
            return await asyncio.gather(bad, good, return_exceptions=True), c._peer.errors

    (bad, good), errors = run(main())
    assert good == b"value-1"
    assert_refused(bad, ValueError, LONG_TEXT)
    assert errors == 0
    assert serving(node)


def test_a_sync_client_s_bad_key_is_a_value_error_and_the_node_serves_on(node: Node) -> None:
    with Client(node.addr, timeout=CALL) as c:
        for call in (lambda: c.get("items", LONG),
                     lambda: c.get_many("items", ["k1", LONG]),
                     lambda: c.set("items", LONG, b"v"),
                     lambda: c.delete("items", LONG)):
            with pytest.raises(ValueError, match=LONG_TEXT):
                call()
        assert c._peer.errors == 0 and not c._peer.down and c._peer.last_error == ""
        assert c.get("items", "k1") == b"value-1"
    assert serving(node)


def test_a_key_that_is_neither_text_nor_bytes_is_a_type_error(node: Node) -> None:
    with Client(node.addr, timeout=CALL) as c:
        with pytest.raises(TypeError, match=r"^key must be str or bytes-like, not int$"):
            c.get("items", 5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^key must be str or bytes-like, not NoneType$"):
            c.delete("items", None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^key must be str or bytes-like, not list$"):
            c.get_many("items", ["k1", []])
        with pytest.raises(TypeError, match=r"^value must be bytes-like, not int$"):
            c.set("items", "k1", 5)  # type: ignore[arg-type]
        assert c.get("items", b"k1") == b"value-1"  # a bytes key, as a group takes it

    async def main() -> None:
        async with AsyncClient(node.addr, timeout=CALL) as c:
            with pytest.raises(TypeError, match=r"^key must be str or bytes-like, not float$"):
                await c.aget("items", 1.5)  # type: ignore[arg-type]
            assert c._peer.errors == 0

    run(main())


def test_a_bad_request_is_never_sent() -> None:
    """To an address where nothing listens: a sent request would be UNAVAILABLE."""
    addr = f"127.0.0.1:{free_port()}"
    with Client(addr, timeout=CALL) as c:
        with pytest.raises(ValueError, match=LONG_TEXT):
            c.get("items", LONG)
        with pytest.raises(ValueError, match=r"^ttl must be a positive number of seconds"):
            c.set("items", "k1", b"v", ttl=-1)
        assert c._peer.errors == 0

    async def main() -> list[Any]:
        async with AsyncClient(addr, timeout=CALL) as c:
            return await asyncio.gather(c.aget("items", LONG), c.aget("items", 5),
                                        c.aget("items", "k1"), return_exceptions=True)

    too_long, not_text, valid = run(main())
    assert_refused(too_long, ValueError, LONG_TEXT)
    assert_refused(not_text, TypeError, r"^key must be str or bytes-like, not int$")
    assert_refused(valid, ConnectionError, r"UNAVAILABLE")  # the one sent


def test_a_batch_refused_for_one_key_is_asked_key_by_key(node: Node) -> None:
    """The pool's _Peer checks no key (a group does, before calling it): a GetMany
    with a 65,536-byte key among two good ones is refused with INVALID_ARGUMENT,
    then each key is asked alone; only the bad key's caller gets the refusal."""
    me = f"127.0.0.1:{free_port()}"
    pool = GRPCPool(me, timeout=CALL)
    pool.set_peers(me, node.addr)
    (peer,) = pool.peers()
    batches: list[list[str]] = []
    singles: list[str] = []
    batch, one = peer._aget_batch, peer._aget_one

    async def counted_batch(group: str, keys: list[str], forwarded: bool) -> Any:
        batches.append(keys)
        return await batch(group, keys, forwarded)

    async def counted_one(group: str, key: str, forwarded: bool) -> Any:
        singles.append(key)
        return await one(group, key, forwarded)

    peer._aget_batch, peer._aget_one = counted_batch, counted_one

    async def main() -> list[Any]:
        return await asyncio.gather(*(peer.aget("items", k) for k in ("k1", LONG, "k2")),
                                    return_exceptions=True)

    try:
        first, refused, second = run(main())
        assert (first, second) == (b"value-1", b"value-2")
        assert_refused(refused, ValueError, LONG_TEXT)
        assert batches == [["k1", LONG, "k2"]]
        assert sorted(singles) == sorted(["k1", LONG, "k2"])
        assert peer.errors == 0 and not peer.down and peer.up
    finally:
        pool.stop(0)


def test_a_pool_peer_whose_request_is_refused_is_not_marked_down(node: Node) -> None:
    """The node answered: a refusal of the request is a ValueError, not "the peer is down"."""
    me = f"127.0.0.1:{free_port()}"
    pool = GRPCPool(me, timeout=CALL)
    pool.set_peers(me, node.addr)
    (peer,) = pool.peers()
    try:
        for call in (lambda: peer.get("items", LONG),
                     lambda: peer.get_many("items", ["k1", LONG]),
                     lambda: peer.set("items", LONG, b"v"),
                     lambda: peer.delete("items", LONG),
                     lambda: run(peer.aget_many("items", [LONG])),
                     lambda: run(peer.aset("items", LONG, b"v"))):
            with pytest.raises(ValueError, match=LONG_TEXT):
                call()
        assert peer.errors == 0 and not peer.down and peer.up and peer.last_error == ""
        assert peer.get("items", "k1") == b"value-1"
    finally:
        pool.stop(0)
