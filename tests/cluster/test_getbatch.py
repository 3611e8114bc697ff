"""Coalesced remote gets (distcache/cluster/getbatch.py) against a real gRPC server in this process.

The gets one event loop makes of one group in one turn go as one GetMany;
each caller still gets its own key's value, NotFound or getter error. The
server's group counts the GetMany calls it answered (get_many_calls) and the
gets (gets), which is how these tests see what went over the wire. Every
wait has a deadline (asyncio.wait_for): a lost wake-up fails, never hangs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from distcache.cluster import AsyncClient, GRPCPool
from distcache.cluster.wire import MAX_MESSAGE
from distcache.group import NotFound, new_group
from distcache.group.registry import _reset_groups

from .nodes import free_port

WAIT = 20.0  # seconds for any one gather below
BIG = 1 << 20  # 100 of these are over the 64 MiB message limit


def getter(key: str) -> bytes:
    if key.startswith("boom"):
        raise RuntimeError(f"the source failed on {key}")
    if key.startswith("absent"):
        raise NotFound(key)
    if key.startswith("big"):
        return b"B" * BIG
    return b"v:" + key.encode()


@pytest.fixture
def server() -> Iterator[tuple[str, Any]]:
    """(address, group) of a node serving group "things" over getter."""
    addr = f"127.0.0.1:{free_port()}"
    pool = GRPCPool(addr)
    group = new_group("things", 256 << 20, getter)
    group.register_peers(pool)
    pool.start()
    try:
        yield addr, group
    finally:
        pool.stop(0)
        group.close()
        _reset_groups()


def run(addr: str, body: Any, **client: Any) -> Any:
    """body(client) on a fresh loop with an AsyncClient of addr, closed afterwards."""

    async def main() -> Any:
        async with AsyncClient(addr, **{"timeout": 10.0, **client}) as c:
            return await asyncio.wait_for(body(c), WAIT)

    return asyncio.run(main())


async def gather_gets(c: AsyncClient, keys: list[str]) -> list[Any]:
    return await asyncio.gather(*(c.aget("things", k) for k in keys), return_exceptions=True)


def counts(group: Any) -> tuple[int, int]:
    s = group.stats()
    return s["get_many_calls"], s["gets"]


def test_concurrent_agets_go_as_one_get_many_and_each_gets_its_value(server) -> None:
    addr, group = server
    keys = [f"k{i}" for i in range(100)]
    answers = run(addr, lambda c: gather_gets(c, keys))
    assert answers == [b"v:" + k.encode() for k in keys]
    batches, _ = counts(group)
    assert 1 <= batches <= 2, batches  # 100 keys asked in one turn: one batch (128 at most)


def test_more_than_a_batch_is_split(server) -> None:
    addr, group = server
    keys = [f"k{i}" for i in range(300)]
    answers = run(addr, lambda c: gather_gets(c, keys))
    assert answers == [b"v:" + k.encode() for k in keys]
    assert counts(group)[0] == 3  # 128 + 128 + 44


def test_a_lone_aget_is_a_plain_get(server) -> None:
    addr, group = server

    async def one_by_one(c: AsyncClient) -> list[bytes]:
        return [await c.aget("things", f"k{i}") for i in range(5)]

    assert run(addr, one_by_one) == [b"v:k%d" % i for i in range(5)]
    assert counts(group) == (0, 5)


def test_batch_gets_false_sends_one_get_per_call(server) -> None:
    addr, group = server
    keys = [f"k{i}" for i in range(50)]
    answers = run(addr, lambda c: gather_gets(c, keys), batch_gets=False)
    assert answers == [b"v:" + k.encode() for k in keys]
    assert counts(group) == (0, 50)


def test_absent_keys_are_not_found_for_their_callers_only(server) -> None:
    addr, _ = server
    keys = ["k1", "absent1", "k2", "absent2", "k1"]
    answers = run(addr, lambda c: gather_gets(c, keys))
    assert answers[0] == b"v:k1" and answers[2] == b"v:k2" and answers[4] == b"v:k1"
    for i in (1, 3):
        assert isinstance(answers[i], NotFound) and answers[i].args == (keys[i],)


def test_a_failing_getter_fails_its_own_caller_only(server) -> None:
    """The GetMany fails for one key's sake: its keys are asked again one by one."""
    addr, group = server
    keys = [f"k{i}" for i in range(20)] + ["boom7"]
    answers = run(addr, lambda c: gather_gets(c, keys))
    assert answers[:20] == [b"v:k%d" % i for i in range(20)]
    err = answers[20]
    assert isinstance(err, ConnectionError)
    assert "UNAVAILABLE: RuntimeError: the source failed on boom7" in str(err)
    assert counts(group)[0] == 1


def test_answers_over_the_message_limit_are_asked_one_by_one(server) -> None:
    addr, group = server
    keys = [f"big{i}" for i in range(100)]
    assert 100 * BIG > MAX_MESSAGE
    answers = run(addr, lambda c: gather_gets(c, keys))
    assert all(a == b"B" * BIG for a in answers), [type(a) for a in answers if a != b"B" * BIG]
    batches, gets = counts(group)
    assert batches == 1  # refused as a whole, then 100 Gets
    assert gets >= 100


def test_a_cancelled_caller_leaves_the_batch_to_the_others(server) -> None:
    addr, _ = server

    async def body(c: AsyncClient) -> list[Any]:
        tasks = [asyncio.ensure_future(c.aget("things", f"k{i}")) for i in range(10)]
        await asyncio.sleep(0)  # every task has asked; the batch is not answered yet
        tasks[3].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers = run(addr, body)
    assert isinstance(answers[3], asyncio.CancelledError)
    assert [a for i, a in enumerate(answers) if i != 3] == [
        b"v:k%d" % i for i in range(10) if i != 3]


def test_a_stopped_node_fails_every_caller_of_the_batch() -> None:
    addr = f"127.0.0.1:{free_port()}"  # nothing listens
    answers = run(addr, lambda c: gather_gets(c, [f"k{i}" for i in range(10)]), timeout=2.0)
    assert all(isinstance(a, ConnectionError) for a in answers), answers
    assert all("UNAVAILABLE" in str(a) for a in answers)


def test_a_pool_s_peer_batches_the_forwarded_gets_of_a_group(server) -> None:
    """What Group.aget calls for a key another node owns: that node's peer in the
    pool, asked with forwarded=True, here batched into one GetMany."""
    addr, owner = server
    me = f"127.0.0.1:{free_port()}"
    pool = GRPCPool(me, replicas=1, timeout=10.0)
    pool.set_peers(me, addr)
    keys = [k for k in (f"k{i}" for i in range(400)) if not pool.placement(k).local][:60]
    assert len(keys) == 60
    peer = pool.placement(keys[0]).others[0]
    assert peer.addr == addr

    async def body() -> list[Any]:
        return await asyncio.wait_for(asyncio.gather(
            *(peer.aget("things", k) for k in keys), return_exceptions=True), WAIT)

    try:
        answers = asyncio.run(body())
    finally:
        pool.stop(0)
    assert answers == [b"v:" + k.encode() for k in keys]
    assert counts(owner)[0] == 1
