"""SingleFlight: one run per key for concurrent callers, same outcome for all, no leftovers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from distcache.singleflight import SingleFlight

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
