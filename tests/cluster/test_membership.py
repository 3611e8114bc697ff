"""DNS membership with an injected resolver: the ring follows the answer."""

from __future__ import annotations

import logging
import time

import pytest

from distcache.cluster import GRPCPool
from distcache.cluster.membership import DNSMembership, resolve_addresses
from distcache.cluster.peerwatch import PeerWatch


def test_the_ring_follows_the_dns_answer() -> None:
    pool = GRPCPool("10.9.0.1:7100")
    answer = ["10.9.0.1", "10.9.0.2"]
    dns = DNSMembership(pool, "cache.svc", 7100, resolve=lambda name: list(answer))
    try:
        assert dns.refresh() is True
        assert {p.addr for p in pool.peers()} == {"10.9.0.2:7100"}
        assert dns.refresh() is False  # the same answer: no swap
        old = pool.peers()[0]
        answer[:] = ["10.9.0.1", "10.9.0.3", "10.9.0.4"]
        assert dns.refresh() is True
        assert {p.addr for p in pool.peers()} == {"10.9.0.3:7100", "10.9.0.4:7100"}
        assert dns.swaps == 2 and pool.ring_version == 2
        assert old not in pool.peers()  # its channel was closed by set_peers
        answer[:] = ["10.9.0.5"]  # this node is missing from the answer: kept anyway
        dns.refresh()
        assert dns.members == {"10.9.0.1:7100", "10.9.0.5:7100"}
    finally:
        pool.stop()


def test_a_failed_resolution_keeps_the_ring() -> None:
    pool = GRPCPool("10.9.0.1:7100")
    calls = []

    def flaky(name: str) -> list[str]:
        calls.append(name)
        if len(calls) > 1:
            raise OSError("Temporary failure in name resolution")
        return ["10.9.0.1", "10.9.0.2"]

    dns = DNSMembership(pool, "cache.svc", 7100, resolve=flaky)
    try:
        dns.refresh()
        assert dns.refresh() is False
        assert dns.failures == 1 and "Temporary failure" in dns.last_error
        assert {p.addr for p in pool.peers()} == {"10.9.0.2:7100"}
    finally:
        pool.stop()


def test_localhost_resolves() -> None:
    assert "127.0.0.1" in resolve_addresses("localhost")


def test_a_resolution_that_starts_failing_is_logged_once_and_its_recovery_once(
        caplog: pytest.LogCaptureFixture) -> None:
    answers: list[list[str] | OSError] = [["10.0.0.2"], OSError("no such name"),
                                          OSError("no such name"), ["10.0.0.2"]]

    def resolve(name: str) -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer

    pool = GRPCPool("10.0.0.1:7100")
    try:
        dns = DNSMembership(pool, "nodes.example", 7100, resolve=resolve)
        with caplog.at_level(logging.INFO, logger="distcache.cluster"):
            for _ in range(4):
                dns.refresh()
    finally:
        pool.stop()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "distcache.cluster"]
    assert said == [
        ("WARNING", "DNS membership: nodes.example does not resolve (no such name); "
                    "the ring stays as it is"),
        ("INFO", "DNS membership: nodes.example resolves again"),
    ]


def test_the_peer_watch_logs_a_change_of_the_ring(caplog: pytest.LogCaptureFixture) -> None:
    pool = GRPCPool("127.0.0.1:1")
    watch = PeerWatch(pool, interval=0.05)
    try:
        with caplog.at_level(logging.INFO, logger="distcache.cluster"):
            watch.start()
            pool.set_peers("127.0.0.1:1", "127.0.0.1:2")
            deadline = time.monotonic() + 30
            while not any("ring changed" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no ring line within 30 s"
                time.sleep(0.02)
    finally:
        watch.stop()
        pool.stop()
    assert ("ring changed: joined 127.0.0.1:2; left none; peers now 127.0.0.1:2"
            in caplog.messages)
