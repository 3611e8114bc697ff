"""asyncio: aget, aget_many, aset, adelete on both cores, and one load shared by threads and tasks.

Every wait is bounded (asyncio.wait_for, thread joins with timeouts, the
pytest timeout behind them), so a lost wake-up fails a test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from distcache.group import NotFound, new_group
from distcache.singleflight import LoadCancelled

from .fakes import FakeCluster
from .test_group import Source

BOUND = 20.0  # seconds any wait of these tests may take before it counts as a hang


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, BOUND))  # type: ignore[arg-type]


class SlowSource(Source):
    """A Source whose calls block until released (or a bound passes)."""

    def __init__(self, data: dict[str, bytes]) -> None:
        super().__init__(data)
        self.release = threading.Event()
        self.entered = threading.Event()
        self.threads: list[str] = []

    def __call__(self, key: str) -> bytes:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(BOUND), "never released"
        return super().__call__(key)


def test_aget_hits_and_misses_like_get(core: ModuleType) -> None:
    src = Source({"a": b"1"})
    g = new_group("async_basic", 1 << 20, src, _core=core)

    async def main() -> None:
        assert await g.aget("a") == b"1"
        assert await g.aget("a") == b"1"
        assert g.get("a") == b"1"
        with pytest.raises(NotFound):
            await g.aget("absent")
        with pytest.raises(NotFound):
            await g.aget("absent")  # remembered: the source is not asked again
        with pytest.raises(TypeError, match="key must be str or bytes-like, not int"):
            await g.aget(5)  # type: ignore[arg-type]

    run(main())
    assert src.calls == ["a", "absent"]
    stats = g.stats()
    assert stats["loaded"] == 1 and stats["local_hits"] == 2 and stats["negative_hits"] == 1


def test_a_sync_getter_runs_off_the_loop_and_an_async_one_on_it(core: ModuleType) -> None:
    src = SlowSource({"k": b"v"})
    src.release.set()
    g = new_group("async_where_sync", 1 << 20, src, _core=core)
    seen: list[int] = []

    async def agetter(key: str) -> bytes:
        seen.append(threading.get_ident())
        await asyncio.sleep(0)
        return b"async-" + key.encode()

    h = new_group("async_where_async", 1 << 20, agetter, _core=core)

    async def main() -> int:
        assert await g.aget("k") == b"v"
        assert await h.aget("x") == b"async-x"
        return threading.get_ident()

    loop_thread = run(main())
    assert src.threads[0].startswith("distcache-getter")  # the bounded pool, not the loop
    assert seen == [loop_thread]
    # A sync get of an async getter's key runs it on the background loop.
    assert h.get("y") == b"async-y" and seen[-1] != threading.get_ident()


def test_threads_and_tasks_share_one_load(core: ModuleType) -> None:
    """1,000 concurrent agets and 100 threads calling get on one cold key: one getter call."""
    src = SlowSource({"cold": b"value"})
    g = new_group("async_shared", 1 << 20, src, _core=core)
    results: list[bytes] = []
    lock = threading.Lock()

    def reader() -> None:
        value = g.get("cold")
        with lock:
            results.append(value)

    async def main() -> list[bytes]:
        tasks = [asyncio.ensure_future(g.aget("cold")) for _ in range(1000)]
        await asyncio.sleep(0)  # every task is now waiting on the one load
        threads = [threading.Thread(target=reader) for _ in range(100)]
        for t in threads:
            t.start()
        await asyncio.to_thread(src.entered.wait, BOUND)
        await asyncio.sleep(0.05)  # let the threads reach their wait
        src.release.set()
        values = await asyncio.gather(*tasks)
        for t in threads:
            await asyncio.to_thread(t.join, BOUND)
        return values

    values = run(main())
    assert src.calls == ["cold"]
    assert values == [b"value"] * 1000 and results == [b"value"] * 100
    assert g._flight.deduplicated == 1099  # noqa: SLF001


def test_a_cancelled_waiter_leaves_the_load_to_the_others(core: ModuleType) -> None:
    src = SlowSource({"k": b"v"})
    g = new_group("async_cancel", 1 << 20, src, _core=core)

    async def main() -> list[object]:
        tasks = [asyncio.ensure_future(g.aget("k")) for _ in range(10)]
        await asyncio.to_thread(src.entered.wait, BOUND)
        for t in tasks[:5]:  # the leader among them
            t.cancel()
        src.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = run(main())
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes[:5])
    assert outcomes[5:] == [b"v"] * 5
    assert src.calls == ["k"]
    assert g.get("k") == b"v" and src.calls == ["k"]  # the cancelled leader's load was stored


def test_a_load_cancelled_with_its_loop_gives_waiters_a_clear_error(core: ModuleType) -> None:
    started = threading.Event()

    async def never(key: str) -> bytes:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    g = new_group("async_loop_stops", 1 << 20, never, _core=core)
    errors: list[BaseException] = []

    def sync_reader() -> None:
        try:
            g.get("k")
        except BaseException as exc:  # noqa: BLE001 -- the test looks at what it is
            errors.append(exc)

    async def main() -> None:
        asyncio.ensure_future(g.aget("k"))
        await asyncio.to_thread(started.wait, BOUND)
        reader.start()
        await asyncio.sleep(0.1)
        # Returning ends asyncio.run, which cancels the load's task.

    reader = threading.Thread(target=sync_reader)
    run(main())
    reader.join(BOUND)
    assert not reader.is_alive(), "a thread waiting on a cancelled load hung"
    assert len(errors) == 1 and isinstance(errors[0], LoadCancelled)
    assert "'k' was cancelled" in str(errors[0])
    assert g._flight.in_flight() == 0  # noqa: SLF001 -- the next get starts afresh


def test_a_getter_awaiting_its_own_key_fails_instead_of_hanging(core: ModuleType) -> None:
    async def loop_back(key: str) -> bytes:
        return await g.aget(key)

    g = new_group("async_recursive", 1 << 20, loop_back, _core=core)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="awaits itself"):
            await g.aget("k")

    run(main())


def test_a_blocking_get_on_the_loop_that_loads_the_key_fails(core: ModuleType) -> None:
    opened: list[asyncio.Event] = []

    async def slow(key: str) -> bytes:
        await opened[0].wait()
        return b"v"

    g = new_group("async_blocking_get", 1 << 20, slow, _core=core)

    async def main() -> None:
        opened.append(asyncio.Event())
        task = asyncio.ensure_future(g.aget("k"))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="on the event loop that is loading it"):
            g.get("k")
        opened[0].set()
        assert await task == b"v"

    run(main())


@pytest.fixture
def cluster(core: ModuleType) -> Iterator[tuple[FakeCluster, Source]]:
    src = Source({f"k{i}": b"value-%d" % i for i in range(100)})
    c = FakeCluster(lambda node: new_group(f"async-{node}", 1 << 20, src, _core=core))
    yield c, src
    c.close()


def test_aget_many_aset_adelete_across_replicas(cluster: tuple[FakeCluster, Source]) -> None:
    c, src = cluster
    g = c.groups["node0"]
    keys = [f"k{i}" for i in range(30)] + ["absent"]

    async def main() -> None:
        got = await g.aget_many(keys)
        assert list(got) == keys[:-1] and got["k7"] == b"value-7"
        await g.aset("k3", b"new")
        assert await g.aget("k3") == b"new"
        for name in c.names:
            assert c.groups[name].get("k3") == b"new"
        assert await g.adelete("k3") is not None
        assert all(c.groups[n]._main.get("k3") is None for n in c.names)  # noqa: SLF001

    run(main())
    # Each key was loaded from the source by one replica only.
    loaded = [k for k in src.calls if k != "absent"]
    assert sorted(loaded) == sorted(set(loaded)) and len(loaded) == 30


def test_aget_fails_over_then_loads_degraded(cluster: tuple[FakeCluster, Source]) -> None:
    c, src = cluster
    me = c.names[0]
    key = next(f"k{i}" for i in range(100) if me not in c.picker(me).owners(f"k{i}"))
    for owner in c.picker(me).owners(key):
        c.set_down(owner)

    async def main() -> bytes:
        return await c.groups[me].aget(key)  # type: ignore[no-any-return]

    assert run(main()) == src.data[key]
    stats = c.groups[me].stats()
    assert stats["failovers"] == 1 and stats["degraded_loads"] == 1 and stats["peer_errors"] == 2


def test_async_getter_errors_reach_every_waiter(core: ModuleType) -> None:
    async def broken(key: str) -> bytes:
        await asyncio.sleep(0.01)
        raise OSError(f"database down for {key}")

    g = new_group("async_errors", 1 << 20, broken, _core=core)

    async def main() -> list[object]:
        return await asyncio.gather(*(g.aget("k") for _ in range(20)), return_exceptions=True)

    outcomes = run(main())
    assert all(isinstance(o, OSError) and "database down for k" in str(o) for o in outcomes)
    assert g.stats()["errors"] == 20


def test_aget_on_a_timed_out_caller_does_not_hang_later_ones(core: ModuleType) -> None:
    async def slow(key: str) -> bytes:
        await asyncio.sleep(0.3)
        return b"v"

    g = new_group("async_timeout", 1 << 20, slow, _core=core)

    async def main() -> bytes:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(g.aget("k"), 0.01)
        start = time.monotonic()
        value = await g.aget("k")  # joins the load still running
        assert time.monotonic() - start < BOUND
        return value  # type: ignore[no-any-return]

    assert run(main()) == b"v"


def watched(fn: Any, timeout: float = 10.0) -> Any:
    """fn() in a daemon thread joined with a timeout: a call still blocked fails the test."""
    out: list[tuple[str, Any]] = []

    def target() -> None:
        try:
            out.append(("value", fn()))
        except BaseException as exc:  # noqa: BLE001 -- handed back to the test
            out.append(("error", exc))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"still blocked after {timeout}s"
    kind, got = out[0]
    if kind == "error":
        raise got
    return got


def time_out_an_aget(g: Any, src: SlowSource) -> asyncio.AbstractEventLoop:
    """An aget of "k" on a loop of its own that times out while the getter is busy."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(g.aget("k"), 0.05))
    except asyncio.TimeoutError:
        pass
    else:
        raise AssertionError("the aget should have timed out")
    assert src.entered.is_set()
    return loop


def test_a_get_after_a_loop_closed_without_cancelling_its_load_loads_the_key(
    core: ModuleType,
) -> None:
    src = SlowSource({"k": b"v"})
    g = new_group("async_closed_loop", 1 << 20, src, _core=core)
    loop = time_out_an_aget(g, src)
    loop.close()  # no asyncio.run: the load's task is never cancelled
    src.release.set()
    assert watched(lambda: g.get("k")) == b"v"
    assert watched(lambda: g.get("k")) == b"v"  # a hit now
    assert g._flight.in_flight() == 0  # noqa: SLF001


def test_a_get_waiting_when_the_loop_closes_loads_the_key(core: ModuleType) -> None:
    src = SlowSource({"k": b"v"})
    g = new_group("async_closed_while_waiting", 1 << 20, src, _core=core)
    loop = time_out_an_aget(g, src)
    got: list[bytes] = []
    waiting = threading.Thread(target=lambda: got.append(g.get("k")), daemon=True)
    waiting.start()
    deadline = time.monotonic() + BOUND
    while g._flight.deduplicated < 1:  # noqa: SLF001 -- it joined the load
        assert time.monotonic() < deadline, "the get never joined the load"
        time.sleep(0.001)
    loop.close()
    src.release.set()
    waiting.join(10.0)
    assert not waiting.is_alive(), "a get waiting on the closed loop's load hung"
    assert got == [b"v"]
    assert watched(lambda: g.get("k")) == b"v"


def test_an_aget_on_a_fresh_loop_after_the_close_loads_the_key(core: ModuleType) -> None:
    src = SlowSource({"k": b"v"})
    g = new_group("async_closed_then_aget", 1 << 20, src, _core=core)
    time_out_an_aget(g, src).close()
    src.release.set()
    assert watched(lambda: asyncio.run(g.aget("k"))) == b"v"
    assert g._flight.in_flight() == 0  # noqa: SLF001


def test_a_paused_loop_delivers_its_load_when_it_runs_again(core: ModuleType) -> None:
    """A loop between two run_until_complete calls is not dead: its load goes on."""
    src = SlowSource({"k": b"v"})
    g = new_group("async_paused_loop", 1 << 20, src, _core=core)
    loop = time_out_an_aget(g, src)
    got: list[bytes] = []
    waiting = threading.Thread(target=lambda: got.append(g.get("k")), daemon=True)
    waiting.start()
    src.release.set()  # the getter returns; its task waits for the loop to run
    time.sleep(0.5)  # several looks of the waiting get at the loop
    assert waiting.is_alive() and got == []
    try:
        assert loop.run_until_complete(asyncio.wait_for(g.aget("k"), BOUND)) == b"v"
    finally:
        loop.close()
    waiting.join(10.0)
    assert not waiting.is_alive()
    assert got == [b"v"]
    assert src.calls == ["k"]  # one load, delivered late, for all three
