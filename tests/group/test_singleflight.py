"""SingleFlight: one run per key for concurrent callers, same outcome for all, no leftovers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from distcache import singleflight
from distcache.singleflight import LoadCancelled, SingleFlight

WAIT = 10.0  # seconds a test waits for threads before it fails instead of hanging


def wait_until(cond: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


def run_flight(
    flight: SingleFlight[object], fn: Callable[[], object], n: int
) -> tuple[list[object], list[BaseException]]:
    """n threads call flight.do("k", fn) while fn blocks until all n joined the flight."""
    release = threading.Event()
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def blocking() -> object:
        assert release.wait(WAIT)
        return fn()

    def worker() -> None:
        try:
            out = flight.do("k", blocking)
        except BaseException as exc:  # noqa: B036 - KeyboardInterrupt is the point
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(out)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    wait_until(lambda: flight.deduplicated == n - 1)
    release.set()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_single_caller_is_the_leader() -> None:
    flight: SingleFlight[int] = SingleFlight()
    assert flight.do("a", lambda: 7) == (7, False)
    assert (flight.leaders, flight.deduplicated, flight.in_flight()) == (1, 0, 0)


def test_concurrent_callers_share_one_run() -> None:
    flight: SingleFlight[object] = SingleFlight()
    calls = []
    results, errors = run_flight(flight, lambda: calls.append(1) or "v", 100)
    assert errors == []
    assert len(calls) == 1
    assert sorted(results, key=lambda r: r[1]) == [("v", False)] + [("v", True)] * 99
    assert (flight.leaders, flight.deduplicated, flight.in_flight()) == (1, 99, 0)


def test_exception_reaches_every_waiter_and_is_not_kept() -> None:
    flight: SingleFlight[object] = SingleFlight()
    boom = ValueError("source down")

    def fail() -> object:
        raise boom

    results, errors = run_flight(flight, fail, 20)
    assert results == []
    assert len(errors) == 20 and all(e is boom for e in errors)
    assert flight.in_flight() == 0
    assert flight.do("k", lambda: "again") == ("again", False)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_interrupt_removes_the_in_flight_entry(exc_type: type[BaseException]) -> None:
    flight: SingleFlight[object] = SingleFlight()

    def interrupted() -> object:
        raise exc_type()

    results, errors = run_flight(flight, interrupted, 5)
    assert results == []
    assert len(errors) == 5 and all(type(e) is exc_type for e in errors)
    assert flight.in_flight() == 0
    assert flight.do("k", lambda: 1) == (1, False)


def test_leader_interrupted_alone() -> None:
    flight: SingleFlight[object] = SingleFlight()

    def interrupted() -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        flight.do("k", interrupted)
    assert flight.in_flight() == 0


def test_distinct_keys_do_not_wait_for_each_other() -> None:
    flight: SingleFlight[object] = SingleFlight()
    inside = threading.Barrier(2, timeout=WAIT)

    def both_inside() -> object:
        inside.wait()  # deadlocks (BrokenBarrierError) if the keys were serialised
        return "ok"

    out: list[object] = []
    threads = [
        threading.Thread(target=lambda k=k: out.append(flight.do(k, both_inside)))
        for k in ("a", "b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert out == [("ok", False), ("ok", False)]


def test_recursive_call_for_the_same_key_raises() -> None:
    flight: SingleFlight[object] = SingleFlight()
    with pytest.raises(RuntimeError, match="recursive"):
        flight.do("k", lambda: flight.do("k", lambda: 1))
    assert flight.in_flight() == 0


def in_thread(fn: Callable[[], Any]) -> threading.Thread:
    """fn started in a daemon thread (one still blocked cannot keep pytest alive)."""
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def watched(fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    """fn() run in a thread joined with a timeout: a call still blocked fails the test."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(("value", fn()))
        except BaseException as exc:  # noqa: BLE001 -- handed back to the test
            out.append(("error", exc))

    t = in_thread(target)
    t.join(timeout)
    assert not t.is_alive(), f"still blocked after {timeout}s"
    kind, got = out[0]
    if kind == "error":
        raise got
    return got


async def forever() -> object:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def lead_on_a_loop_left_unfinished(flight: SingleFlight[object]) -> asyncio.AbstractEventLoop:
    """A loop whose task leads the call for "k", its caller timed out, the loop not closed."""
    loop = asyncio.new_event_loop()
    with pytest.raises(asyncio.TimeoutError):
        loop.run_until_complete(asyncio.wait_for(flight.ado("k", forever), 0.05))
    assert flight.in_flight() == 1
    return loop


def test_a_call_whose_loop_was_closed_unfinished_gives_way_to_a_fresh_one() -> None:
    flight: SingleFlight[object] = SingleFlight()
    lead_on_a_loop_left_unfinished(flight).close()  # its task is never cancelled
    assert watched(lambda: flight.do("k", lambda: "fresh")) == ("fresh", False)
    assert flight.in_flight() == 0
    assert (flight.leaders, flight.deduplicated) == (2, 0)
    assert watched(lambda: flight.do("k", lambda: "again")) == ("again", False)


def test_the_thread_that_ran_the_closed_loop_may_get_the_key() -> None:
    """The same thread led the dead call: not the blocking call on its own loading loop."""
    flight: SingleFlight[object] = SingleFlight()

    def same_thread() -> object:
        lead_on_a_loop_left_unfinished(flight).close()
        return flight.do("k", lambda: "fresh")

    assert watched(same_thread) == ("fresh", False)


def test_threads_waiting_when_the_loop_closes_share_one_fresh_call() -> None:
    flight: SingleFlight[object] = SingleFlight()
    loop = lead_on_a_loop_left_unfinished(flight)
    runs: list[int] = []
    results: list[object] = []

    def fresh() -> object:
        runs.append(1)
        time.sleep(0.5)  # the other waiters retry within microseconds and join
        return "fresh"

    threads = [in_thread(lambda: results.append(flight.do("k", fresh))) for _ in range(8)]
    wait_until(lambda: flight.deduplicated == 8)
    loop.close()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads), "a waiter of the dead call hung"
    assert len(runs) == 1  # one of the eight removed and replaced it; the others joined
    assert sorted(results, key=lambda r: r[1]) == [("fresh", False)] + [("fresh", True)] * 7
    assert (flight.leaders, flight.deduplicated, flight.in_flight()) == (2, 7, 0)


def test_a_task_waiting_on_another_loop_is_woken_with_load_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Looks far apart, so the thread below, not the task's own look, finds the loop closed.
    monkeypatch.setattr(singleflight, "LOOP_CHECK", WAIT)
    flight: SingleFlight[object] = SingleFlight()
    loop = lead_on_a_loop_left_unfinished(flight)
    outcome: list[object] = []

    async def wait_on_it() -> None:
        try:
            outcome.append(await asyncio.wait_for(flight.ado("k", forever), WAIT))
        except BaseException as exc:  # noqa: BLE001 -- the test looks at what it is
            outcome.append(exc)

    other = in_thread(lambda: asyncio.run(wait_on_it()))
    wait_until(lambda: flight.deduplicated == 1)
    loop.close()
    assert watched(lambda: flight.do("k", lambda: "fresh")) == ("fresh", False)
    other.join(WAIT / 2)  # woken at once, not after its next look
    assert not other.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], LoadCancelled)
    assert "'k' was abandoned: its event loop was closed" in str(outcome[0])


def test_a_task_waiting_on_another_loop_finds_it_closed_and_loads() -> None:
    flight: SingleFlight[object] = SingleFlight()
    loop = lead_on_a_loop_left_unfinished(flight)
    outcome: list[object] = []

    async def fresh() -> object:
        return "fresh"

    async def wait_on_it() -> None:
        try:
            outcome.append(await asyncio.wait_for(flight.ado("k", fresh), WAIT))
        except BaseException as exc:  # noqa: BLE001 -- the test looks at what it is
            outcome.append(exc)

    other = in_thread(lambda: asyncio.run(wait_on_it()))
    wait_until(lambda: flight.deduplicated == 1)
    loop.close()
    other.join(WAIT)
    assert not other.is_alive()
    assert outcome == [("fresh", False)]
    assert (flight.leaders, flight.deduplicated, flight.in_flight()) == (2, 0, 0)


def test_an_ado_on_a_fresh_loop_replaces_the_dead_call() -> None:
    flight: SingleFlight[object] = SingleFlight()
    lead_on_a_loop_left_unfinished(flight).close()

    async def fresh() -> object:
        return "fresh"

    got = asyncio.run(asyncio.wait_for(flight.ado("k", fresh), WAIT))
    assert got == ("fresh", False) and flight.in_flight() == 0


def test_a_paused_loop_is_not_dead_its_call_finishes_when_it_runs_again() -> None:
    flight: SingleFlight[object] = SingleFlight()
    loop = asyncio.new_event_loop()
    opened = asyncio.Event()

    async def slow() -> object:
        await opened.wait()
        return "v"

    with pytest.raises(asyncio.TimeoutError):
        loop.run_until_complete(asyncio.wait_for(flight.ado("k", slow), 0.05))
    out: list[object] = []
    waiting = in_thread(lambda: out.append(flight.do("k", lambda: "not run")))
    time.sleep(5 * singleflight.LOOP_CHECK)  # several looks at a loop that is not running
    assert waiting.is_alive() and flight.in_flight() == 1

    async def open_and_join() -> object:
        opened.set()
        return await flight.ado("k", slow)

    assert loop.run_until_complete(open_and_join()) == ("v", True)
    waiting.join(WAIT)
    loop.close()
    assert out == [("v", True)]
    assert (flight.leaders, flight.deduplicated, flight.in_flight()) == (1, 2, 0)


@pytest.mark.parametrize("attempt", range(20))
def test_a_call_that_finished_just_before_its_loop_closed_is_not_abandoned(attempt: int) -> None:
    """The loop finishes its call, then closes at once: the waiters take its value."""
    flight: SingleFlight[object] = SingleFlight()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    go = threading.Event()

    async def lead() -> object:
        started.set()
        await asyncio.to_thread(go.wait, WAIT)
        return "v"

    def run_and_close() -> None:
        loop.run_until_complete(flight.ado("k", lead))
        loop.close()

    runner = in_thread(run_and_close)
    assert started.wait(WAIT)
    out: list[object] = []
    threads = [in_thread(lambda: out.append(flight.do("k", lambda: "rerun"))) for _ in range(4)]
    wait_until(lambda: flight.deduplicated == 4)
    time.sleep(attempt * singleflight.LOOP_CHECK / 20)  # the close falls across their looks
    go.set()
    for t in [runner, *threads]:
        t.join(WAIT)
    assert out == [("v", True)] * 4
    assert (flight.leaders, flight.in_flight()) == (1, 0)
