"""The asyncio side of the gRPC pool against real `distcache serve` nodes.

AsyncClient and the pool's _Peer are driven from coroutines (asyncio.run, no
plugin): aget, aget_many, aset and adelete, their errors (NotFound, unknown
group, a missing token, a stopped node), TLS, one loop reused and two loops
in one process, 1,000 concurrent calls, and the closing of each loop's
grpc.aio channel from every kind of thread. Warnings are errors here
(pyproject.toml), so a channel left open or a coroutine never awaited fails
the test. Every coroutine runs under asyncio.wait_for, the watchdog that
fails a test instead of letting it hang.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from distcache import NotFound
from distcache.cluster import (
    AsyncClient,
    Client,
    GRPCPool,
    PeerDown,
    TLSConfig,
    connect,
    connect_async,
)
from distcache.cluster.aiochannels import AioChannels
from distcache.cluster.hashring import HashRing
from distcache.peers import AsyncPeer

from .nodes import Cluster, Node, free_port, make_source
from .test_tls import make_certs

T = TypeVar("T")
WATCHDOG = 30.0  # seconds a test's coroutine may take; nodes answer in milliseconds
CALL = 5.0  # deadline of each call: generous, the machine is shared


def run(coro: Coroutine[Any, Any, T], limit: float = WATCHDOG) -> T:
    """coro on a new event loop, failed (TimeoutError) when it takes over limit seconds."""
    return asyncio.run(asyncio.wait_for(coro, limit))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_source(tmp_path / "source.db")


@pytest.fixture
def node(db: Path) -> Iterator[Node]:
    n = Node(f"127.0.0.1:{free_port()}", ["--group", "items:4MiB", "--loader",
                                          f"sqlite:{db}:items"])
    try:
        yield n.start()
    finally:
        n.stop()


def pool_peer(addr: str, **kw: Any) -> tuple[GRPCPool, Any]:
    """A pool that never serves, whose one peer is the node at addr (the pool's own _Peer)."""
    me = f"127.0.0.1:{free_port()}"
    pool = GRPCPool(me, timeout=CALL, **kw)
    pool.set_peers(me, addr)
    (peer,) = pool.peers()
    return pool, peer


def aio(peer: Any) -> AioChannels:
    """The grpc.aio channels of a pool's peer or of an AsyncClient's."""
    return getattr(peer, "_peer", peer)._aio


@pytest.mark.timeout(60)
def test_async_client_gets_sets_and_deletes(node: Node) -> None:
    async def main() -> None:
        async with connect_async(node.addr, timeout=CALL) as c:
            # No AsyncPeer as typed (its calls take no forwarded keyword), no Client.
            assert isinstance(c, AsyncClient) and not isinstance(c, Client)
            assert "forwarded" not in inspect.signature(c.aget).parameters
            assert await c.aget("items", "k1") == b"value-1"
            with pytest.raises(NotFound):
                await c.aget("items", "nope")
            with pytest.raises(LookupError, match="no group named 'other'"):
                await c.aget("other", "k1")
            got = await c.aget_many("items", ["k3", "nope", "k2"])
            assert list(got.items()) == [("k3", b"value-3"), ("k2", b"value-2")]
            await c.aset("items", "k4", b"changed", ttl=60)
            assert await c.aget("items", "k4") == b"changed"
            assert await c.adelete("items", "k4") is True
            assert await c.aget("items", "k4") == b"value-4"  # loaded from the source again
            assert c._peer.errors == 0 and not c._peer.down  # a client is never marked down

    run(main())
    with connect(node.addr, timeout=CALL) as sync:  # the sync twin agrees
        assert sync.get("items", "k1") == b"value-1"


@pytest.mark.timeout(90)
def test_a_pool_peer_with_forwarded_calls_never_forwards(db: Path) -> None:
    # Two nodes, each key on one of them: a forwarded call is answered by
    # its receiver alone, a client's call is passed on to the key's owner.
    c = Cluster(db, 2, extra=["--replicas", "1"])
    pools: list[GRPCPool] = []
    try:
        c.start()
        a, b = c.addrs
        ring = HashRing(c.addrs, vnodes=160)
        key, probe = [f"k{i}" for i in range(1000) if ring.get(f"k{i}") == b][:2]
        pool_a, peer_a = pool_peer(a)
        pool_b, peer_b = pool_peer(b)
        pools += [pool_a, pool_b]

        async def main() -> None:
            assert isinstance(peer_a, AsyncPeer)
            await peer_b.aset("items", key, b"only-on-b", forwarded=True)  # b owns it: stored
            await peer_b.aset("items", probe, b"probe-on-b", forwarded=True)
            async with AsyncClient(a, timeout=CALL) as client:  # not forwarded: a asks b
                # Until a's prober has seen b serve (b started after a, so a may
                # have marked it down), a loads b's keys itself, degraded. The
                # wait asks another key: asked often, key would turn hot on a.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while await client.aget("items", probe) != b"probe-on-b":
                    assert loop.time() < deadline, "a never asked b"
                    await asyncio.sleep(0.05)
                assert await client.aget("items", key) == b"only-on-b"
            # Forwarded: a answers from its own source, never asking b.
            assert await peer_a.aget("items", key) == key.replace("k", "value-").encode()
            assert await peer_a.aget_many("items", [key]) == {
                key: key.replace("k", "value-").encode()}
            assert await peer_b.aget("items", key) == b"only-on-b"
            assert await peer_b.adelete("items", key) is True
            assert await peer_b.aget("items", key) == key.replace("k", "value-").encode()
            with pytest.raises(NotFound):
                await peer_a.aget("items", "nope")
            with pytest.raises(LookupError):
                await peer_a.aget("other", key)
            assert peer_a.errors == peer_b.errors == 0  # an unknown group is no failure

        run(main())
    finally:
        for p in pools:
            p.stop(0)
        c.stop()


def test_a_client_is_sync_and_an_async_client_async_neither_forwarding() -> None:
    # No node: the channels connect on their first call, and none is made.
    sync, coro = Client("127.0.0.1:1"), AsyncClient("127.0.0.1:1")
    try:
        for name in ("aget", "aget_many", "aset", "adelete", "aclose", "__aenter__"):
            assert not hasattr(sync, name), name
        for name in ("get", "get_many", "set", "delete", "__enter__"):
            assert not hasattr(coro, name), name
        for method in (sync.get, sync.get_many, sync.set, sync.delete,
                       coro.aget, coro.aget_many, coro.aset, coro.adelete):
            assert "forwarded" not in inspect.signature(method).parameters, method
    finally:
        sync.close()
        coro.close()


@pytest.mark.timeout(90)
def test_an_async_client_s_get_is_passed_on_to_the_key_s_owner(db: Path) -> None:
    # As test_a_pool_peer_with_forwarded_calls_never_forwards: b alone holds a
    # value for key, set there forwarded; a answers a forwarded get from its
    # own source. The AsyncClient's aget through a gets b's value: a was asked
    # as a client is, not forwarded, and asked the key's owner.
    c = Cluster(db, 2, extra=["--replicas", "1"])
    pools: list[GRPCPool] = []
    try:
        c.start()
        a, b = c.addrs
        ring = HashRing(c.addrs, vnodes=160)
        key, probe = [f"k{i}" for i in range(1000) if ring.get(f"k{i}") == b][:2]
        pool_a, peer_a = pool_peer(a)
        pool_b, peer_b = pool_peer(b)
        pools += [pool_a, pool_b]

        async def main() -> None:
            await peer_b.aset("items", key, b"owner-b", forwarded=True)
            await peer_b.aset("items", probe, b"probe-b", forwarded=True)
            async with connect_async(a, timeout=CALL) as client:
                # a may have marked b down (b started after it) until its prober
                # sees b serve; meanwhile a loads b's keys itself.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while await client.aget("items", probe) != b"probe-b":
                    assert loop.time() < deadline, "a never asked b"
                    await asyncio.sleep(0.05)
                assert await client.aget("items", key) == b"owner-b"
            assert await peer_a.aget("items", key) == key.replace("k", "value-").encode()

        run(main())
    finally:
        for p in pools:
            p.stop(0)
        c.stop()


@pytest.mark.timeout(60)
def test_the_token_is_sent_and_required(db: Path) -> None:
    n = Node(f"127.0.0.1:{free_port()}", ["--group", "items:4MiB", "--loader",
                                          f"sqlite:{db}:items", "--token", "s3cret"])
    pools: list[GRPCPool] = []
    try:
        n.start()
        pool, with_token = pool_peer(n.addr, token="s3cret")
        pools.append(pool)
        pool, without = pool_peer(n.addr)
        pools.append(pool)

        async def main() -> None:
            async with AsyncClient(n.addr, timeout=CALL, token="s3cret") as c:
                assert await c.aget("items", "k5") == b"value-5"
            async with AsyncClient(n.addr, timeout=CALL) as c:
                with pytest.raises(ConnectionError, match="UNAUTHENTICATED"):
                    await c.aget("items", "k5")
            async with AsyncClient(n.addr, timeout=CALL, token="wrong") as c:
                with pytest.raises(ConnectionError, match="UNAUTHENTICATED"):
                    await c.aset("items", "k5", b"no")
            assert await with_token.aget("items", "k5") == b"value-5"  # the pool's token
            with pytest.raises(ConnectionError, match="UNAUTHENTICATED"):
                await without.aget("items", "k5")
            assert without.down and without.errors == 1

        run(main())
    finally:
        for p in pools:
            p.stop(0)
        n.stop()


@pytest.mark.timeout(90)
def test_mutual_tls(tmp_path: Path, db: Path) -> None:
    certs = make_certs(tmp_path)
    n = Node(f"127.0.0.1:{free_port()}", [
        "--group", "items:4MiB", "--loader", f"sqlite:{db}:items",
        "--tls-cert", str(certs["node.pem"]), "--tls-key", str(certs["node.key"]),
        "--tls-client-ca", str(certs["ca.pem"])])
    tls = TLSConfig(certs["node.pem"].read_bytes(), certs["node.key"].read_bytes(),
                    ca=certs["ca.pem"].read_bytes(), require_client_cert=True)
    no_cert = TLSConfig(b"", b"", ca=certs["ca.pem"].read_bytes())
    pool = None
    try:
        n.start()
        pool, peer = pool_peer(n.addr, tls=tls)

        async def main() -> None:
            async with AsyncClient(n.addr, timeout=CALL, tls=tls) as c:
                assert await c.aget("items", "k6") == b"value-6"
                assert await c.aget_many("items", ["k7"]) == {"k7": b"value-7"}
            assert await peer.aget("items", "k8") == b"value-8"
            for refused in (AsyncClient(n.addr, timeout=2.0, tls=no_cert),
                            AsyncClient(n.addr, timeout=2.0)):  # no certificate; no TLS
                async with refused as c:
                    with pytest.raises(ConnectionError):
                        await c.aget("items", "k6")

        run(main())
    finally:
        if pool is not None:
            pool.stop(0)
        n.stop()


@pytest.mark.timeout(90)
def test_a_stopped_node_is_marked_down_then_used_again(node: Node) -> None:
    pool, peer = pool_peer(node.addr)

    async def main() -> None:
        assert await peer.aget("items", "k1") == b"value-1"
        node.stop()
        with pytest.raises(ConnectionError, match=f"^{node.addr}: ") as info:
            await peer.aget("items", "k1")
        assert not isinstance(info.value, PeerDown)
        assert peer.down and not peer.up and peer.errors == 1
        with pytest.raises(PeerDown):  # within its back-off it is not called at all
            await peer.aget("items", "k1")
        assert peer.errors == 1
        node.start()
        # Back within seconds (channel back-off <= 1 s, peer back-off 0.2 s now);
        # the pool does not serve, so no prober helps: the calls themselves do.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:
            try:
                assert await peer.aget("items", "k2") == b"value-2"
                break
            except ConnectionError:
                assert loop.time() < deadline, "the restarted node was not used again"
                await asyncio.sleep(0.05)
        assert not peer.down and peer.up and peer.failures == 0

    try:
        run(main())
    finally:
        pool.stop(0)


@pytest.mark.timeout(90)
def test_one_loop_many_calls_and_two_loops_in_one_process(node: Node) -> None:
    pool, peer = pool_peer(node.addr)
    client = AsyncClient(node.addr, timeout=CALL)

    async def many(n: int) -> asyncio.AbstractEventLoop:
        for i in range(n):
            assert await peer.aget("items", f"k{i % 100}") == b"value-%d" % (i % 100)
            assert await client.aget("items", f"k{i % 50}") == b"value-%d" % (i % 50)
        return asyncio.get_running_loop()

    try:
        first = run(many(300))
        assert aio(peer).loops() == [first]  # one channel for the whole loop
        second = run(many(50))  # a second asyncio.run: a new loop, a new channel
        assert second is not first and first.is_closed()
        assert aio(peer).loops() == [second]  # the closed loop's channel was dropped
        assert aio(client).loops() == [second]
        # The sync path of the same peer still works beside them.
        assert peer.get("items", "k9") == b"value-9"
    finally:
        client.close()
        pool.stop(0)
    assert aio(peer).loops() == [] and aio(client).loops() == []


@pytest.mark.timeout(120)
def test_a_thousand_concurrent_agets_on_one_loop(node: Node) -> None:
    pool, peer = pool_peer(node.addr)

    async def main() -> None:
        async with AsyncClient(node.addr, timeout=20.0) as c:
            keys = [f"k{i % 1000}" for i in range(1000)]
            got = await asyncio.gather(*(c.aget("items", k) for k in keys))
            assert got == [k.replace("k", "value-").encode() for k in keys]
        got = await asyncio.gather(*(peer.aget("items", f"k{i}") for i in range(1000)))
        assert got == [b"value-%d" % i for i in range(1000)]
        assert peer.errors == 0

    # The pool's peer deadline is CALL; gathering 1,000 calls queues them at
    # the node's 32 workers, answered in well under a second each.
    try:
        run(main(), limit=90)
    finally:
        pool.stop(0)


def _shut(channel: Any) -> bool:
    return channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN


@pytest.mark.timeout(90)
def test_closing_from_every_kind_of_thread(node: Node) -> None:
    # The loop's channel is closed on the loop it belongs to, whatever thread
    # asks: the loop's own (a task), another thread's running loop
    # (run_coroutine_threadsafe), an idle loop (run to the close), a closed
    # loop (dropped). After close, a call fails instead of opening a channel.
    async def use(peer: Any) -> Any:
        assert await peer.aget("items", "k1") == b"value-1"
        return aio(peer).of(asyncio.get_running_loop()).channel

    # 1. From a coroutine of the channel's own loop, by the sync close().
    async def own_loop() -> None:
        c = AsyncClient(node.addr, timeout=CALL)
        channel = await use(c)
        c.close()
        for _ in range(100):
            if _shut(channel):
                break
            await asyncio.sleep(0.01)
        assert _shut(channel)
        with pytest.raises(ValueError, match="closed"):
            await c.aget("items", "k1")

    run(own_loop())

    # 2. A loop running in another thread, closed by pool.stop() from this one.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-aio-loop", daemon=True)
    thread.start()
    pool, peer = pool_peer(node.addr)
    try:
        channel = asyncio.run_coroutine_threadsafe(use(peer), loop).result(WATCHDOG)
        assert not _shut(channel)
        pool.stop(0)
        assert _shut(channel) and aio(peer).loops() == []
        later = asyncio.run_coroutine_threadsafe(peer.aget("items", "k1"), loop)
        with pytest.raises(ValueError, match="closed"):
            later.result(WATCHDOG)
    finally:
        pool.stop(0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WATCHDOG)
        loop.close()
    assert not thread.is_alive()

    # 3. An idle loop (created, run, not closed): close() runs the close on it.
    idle = asyncio.new_event_loop()
    c = AsyncClient(node.addr, timeout=CALL)
    try:
        channel = idle.run_until_complete(asyncio.wait_for(use(c), WATCHDOG))
        c.close()
        assert _shut(channel)
    finally:
        idle.close()

    # 4. A closed loop: its channel is dropped; and aclose() on a loop of its own.
    c = AsyncClient(node.addr, timeout=CALL)
    run(use(c))
    pool, peer = pool_peer(node.addr)
    run(use(peer))

    async def aclose_here() -> None:
        channel = await use(c)
        await c.aclose()  # the closed first loop's channel dropped, this one closed
        assert _shut(channel) and aio(c).loops() == []

    run(aclose_here())
    # set_peers dropping the node closes the peer, aio channels included.
    pool.set_peers(pool.self_addr)
    assert aio(peer).loops() == [] and pool.peers() == ()
    pool.stop(0)


@pytest.mark.timeout(60)
def test_the_loop_runs_while_a_call_waits_on_a_hung_node(node: Node) -> None:
    # A node that hangs (SIGSTOP) holds a call until its deadline; the loop
    # goes on meanwhile: a ticker task runs many times before the call fails.
    # A blocking call would let it run only once the call returned.
    async def main() -> None:
        ticks = 0
        ended_at: int | None = None

        async def ticker() -> None:
            nonlocal ticks
            while ended_at is None:
                ticks += 1
                await asyncio.sleep(0.01)

        async with AsyncClient(node.addr, timeout=1.0) as c:
            assert await c.aget("items", "k1") == b"value-1"
            node.pause(True)
            try:
                task = asyncio.create_task(ticker())
                with pytest.raises(ConnectionError, match="DEADLINE_EXCEEDED"):
                    await c.aget("items", "k2")
                ended_at = ticks
                await task
                # The caller's own cancellation stays a cancellation.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(c.aget("items", "k2"), 0.2)
            finally:
                node.pause(False)
            assert ended_at >= 5, ended_at  # ~100 expected in the call's 1 s
            assert await c.aget("items", "k3") == b"value-3"

    run(main())


@pytest.mark.timeout(60)
def test_closing_the_peer_fails_its_calls_in_flight(node: Node) -> None:
    # pool.stop() from another thread while a call waits on a hung node: the
    # caller gets ConnectionError (CANCELLED), as a sync call would, not a
    # CancelledError that reads as its own task cancelled.
    pool, peer = pool_peer(node.addr)

    async def main() -> None:
        assert await peer.aget("items", "k1") == b"value-1"
        node.pause(True)
        try:
            call = asyncio.create_task(peer.aget("items", "k2"))
            await asyncio.sleep(0.2)
            assert not call.done()
            await asyncio.to_thread(pool.stop, 0)
            with pytest.raises(ConnectionError, match="CANCELLED: the channel was closed"):
                await call
        finally:
            node.pause(False)

    try:
        run(main())
    finally:
        pool.stop(0)


@pytest.mark.timeout(60)
def test_the_grpc_page_asyncio_example_prints_its_comments(tmp_path: Path) -> None:
    # docs/grpc.md's connect_async example, run against a node serving its
    # table; each print must give what its comment says.
    import contextlib
    import io
    import re

    from distcache.sqlite_getter import create_table

    from .nodes import ROOT

    text = (ROOT / "docs" / "grpc.md").read_text(encoding="utf-8")
    (code,) = [c for c in re.findall(r"^```python\n(.*?)^```$", text,
                                     flags=re.MULTILINE | re.DOTALL) if "connect_async" in c]
    expected = re.findall(r"print\(.*\)\s+# (.*)$", code, flags=re.MULTILINE)
    assert len(expected) == 2
    create_table(tmp_path / "users.db", "users", {"42": b"alice", "43": b"bob"})
    n = Node(f"127.0.0.1:{free_port()}", ["--group", "users:64MiB", "--loader",
                                          f"sqlite:{tmp_path / 'users.db'}:users"])
    try:
        n.start()
        body = code.replace('asyncio.run(main("127.0.0.1:7101"))', "")
        assert body != code
        namespace: dict[str, Any] = {"__name__": "grpc_doc_async"}
        exec(compile(body, "docs/grpc.md", "exec"), namespace)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            run(namespace["main"](n.addr))
        assert out.getvalue().splitlines() == expected
    finally:
        n.stop()
