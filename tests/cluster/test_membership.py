"""DNS membership with an injected resolver: the ring follows the answer."""

from __future__ import annotations

from distcache.cluster import GRPCPool
from distcache.cluster.membership import DNSMembership, resolve_addresses


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
