"""Each result of a /metrics counter is counted by a counter of its own.

A result derived by subtracting one counter from another went negative
(replica pushes: successes exported as pushes minus failures, where pushes
already counted only the successes) or could go down (a set counted ok while
in flight, then an error). Here peers fail and hang on purpose, and /metrics
must agree with /stats and never show a negative or a decreasing counter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import distcache
from distcache.peers import Placement

from .conftest import fetch_json
from .test_metrics import scrape, value

BOUND = 20.0  # seconds any wait of these tests may take


class BrokenPeer:
    """A peer whose writes raise (after the gate opens); it holds no data."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        raise ConnectionError("peer down")

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                 ) -> dict[str, bytes]:
        raise ConnectionError("peer down")

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = True, version: int = 0) -> None:
        assert self.gate.wait(BOUND)
        raise ConnectionError("peer down")

    def delete(self, group: str, key: str, *, forwarded: bool = True, version: int = 0) -> bool:
        raise ConnectionError("peer down")


class SplitPicker:
    """Keys "mine..." live here and on the peer (pushed to it); the others on the peer only."""

    def __init__(self, peer: BrokenPeer) -> None:
        self.peer = peer

    def placement(self, key: str) -> Placement:
        if key.startswith("mine"):
            return Placement((None, self.peer))
        return Placement((self.peer,))

    def peers(self) -> tuple[BrokenPeer, ...]:
        return (self.peer,)


def counters_of(url: str, name: str) -> dict[str, int]:
    return next(g for g in fetch_json(url + "/stats")["groups"]  # type: ignore[no-any-return]
                if g["name"] == name)["counters"]


def no_negative_counter(samples: dict) -> None:
    negative = {k: v for k, v in samples.items() if k[0].startswith("distcache_") and v < 0}
    assert not negative, negative


def test_failed_replica_pushes_agree_with_stats(server) -> None:
    peer = BrokenPeer()
    g = distcache.new_group("pushes", 1 << 20, lambda key: b"v-" + key.encode())
    g.register_peers(SplitPicker(peer))
    for i in range(40):
        assert g.get(f"mine{i}") == b"v-mine%d" % i  # loaded here, pushed to the peer: fails
    assert g._pusher.flush(BOUND)  # noqa: SLF001
    samples = scrape(server.url)
    no_negative_counter(samples)
    counters = counters_of(server.url, "pushes")
    assert (counters["replica_pushes"], counters["replica_push_failures"],
            counters["replica_push_dropped"]) == (0, 40, 0)
    for result, n in (("ok", 0), ("failed", 40), ("dropped", 0)):
        assert value(samples, "distcache_replica_pushes_total", group="pushes",
                     result=result) == n, result


def test_a_set_in_flight_is_not_counted_ok_before_its_outcome(server) -> None:
    peer = BrokenPeer()
    g = distcache.new_group("sets", 1 << 20, lambda key: b"v")
    g.register_peers(SplitPicker(peer))
    peer.gate.clear()  # the peer holds the set: this node is not a replica, it waits
    failed: list[BaseException] = []

    def write() -> None:
        try:
            g.set("theirs", b"new")
        except ConnectionError as exc:
            failed.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        during = scrape(server.url)
    finally:
        peer.gate.set()
        writer.join(BOUND)
    assert not writer.is_alive() and len(failed) == 1
    after = scrape(server.url)
    for samples in (during, after):
        no_negative_counter(samples)
    # Neither ok nor error while the set waits; then an error, and ok never moved.
    for samples, error in ((during, 0), (after, 1)):
        assert value(samples, "distcache_requests_total", group="sets", method="set",
                     status="ok") == 0
        assert value(samples, "distcache_requests_total", group="sets", method="set",
                     status="error") == error
    # The one broadcast call failed: it is an error, not also an ok.
    assert value(after, "distcache_broadcasts_total", group="sets", result="ok") == 0
    assert value(after, "distcache_broadcasts_total", group="sets", result="error") == 1
    counters = counters_of(server.url, "sets")
    assert (counters["sets"], counters["set_errors"], counters["broadcast_errors"]) == (1, 1, 1)


def test_every_result_of_a_request_is_its_own_count(server) -> None:
    peer = BrokenPeer()
    g = distcache.new_group("mixed", 1 << 20, lambda key: b"v")
    g.register_peers(SplitPicker(peer))
    g.get("mine1")
    g.get("theirs1")  # the peer fails: a degraded load here, still an ok get
    g.get_many(["mine1", "mine2"])
    g.set("mine1", b"w")  # stored here; the push to the peer fails, the set is ok
    g.delete("mine2")
    samples = scrape(server.url)
    no_negative_counter(samples)

    def v(name: str, **labels: str) -> float:
        return value(samples, name, group="mixed", **labels)

    assert v("distcache_requests_total", method="get", status="ok") == 3  # mine2 via get
    assert v("distcache_requests_total", method="set", status="ok") == 1
    assert v("distcache_requests_total", method="set", status="error") == 0
    assert v("distcache_broadcasts_total", result="ok") == 0
    assert v("distcache_broadcasts_total", result="error") == 2  # the set's and the delete's
