"""Faults on real nodes under load: each scenario of tests/reliability/chaos.py, a few seconds each.

Every scenario starts its own `distcache serve` processes (stopped by pid
when it ends, also on failure), drives them with reader threads and a writer
through a client generated from the .proto, injects its fault and checks the
promises listed in chaos.py: no failed read where a replica or the local
getter can answer, every read and Set within the bound the design gives (two
peer deadlines plus a load, plus slack), no acknowledged Set missing from a
replica that could take it, and counters that tell what happened. `make
chaos` runs the same scenarios longer and writes their table into
docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.cluster.nodes import generate_stubs

from . import chaos, netns

# Short runs: the whole file takes about a minute and a half on an idle 2-core machine.
SETTINGS = chaos.Settings(seconds=2.5)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    return generate_stubs(tmp_path_factory.mktemp("chaos-client"))


def run(name: str, stubs: tuple[ModuleType, ModuleType], tmp_path: Path) -> chaos.Result:
    result = chaos.SCENARIOS[name](SETTINGS, stubs, tmp_path)
    if result.skipped:
        pytest.skip(f"{name}: {result.skipped}")
    print(chaos.table([result], SETTINGS))  # shown with -s, and with the failure
    assert result.problems == [], result.problems
    return result


@pytest.mark.timeout(120)
def test_calm_cluster_baseline(stubs, tmp_path: Path) -> None:
    """No fault: the history must show no stale read and no diverged key."""
    run("calm", stubs, tmp_path)


@pytest.mark.timeout(120)
def test_sigkill_and_restart_under_load(stubs, tmp_path: Path) -> None:
    run("sigkill", stubs, tmp_path)


@pytest.mark.timeout(120)
def test_sigstop_makes_deadlines_fire_and_sigcont_brings_the_node_back(stubs, tmp_path) -> None:
    run("sigstop", stubs, tmp_path)


@pytest.mark.timeout(120)
def test_a_slow_getter_past_the_peer_deadline(stubs, tmp_path: Path) -> None:
    """Loads slower than the peer deadline: failovers and degraded loads, no failed
    read, and (since writes are tried on peers marked down) no Set lost on the
    replica a slow load had marked down."""
    run("slow-getter", stubs, tmp_path)


@pytest.mark.timeout(120)
def test_a_raising_getter_is_reported_and_cached_keys_still_answer(stubs, tmp_path) -> None:
    """The source's table is dropped: cold keys get UNAVAILABLE with SQLite's
    text; cached keys keep answering (a getter error does not mark its node down)."""
    run("raising-getter", stubs, tmp_path)


@pytest.mark.timeout(120)
def test_a_hanging_getter_ends_at_the_deadline_and_the_node_answers(stubs, tmp_path) -> None:
    run("hanging-getter", stubs, tmp_path)


@pytest.mark.timeout(150)
def test_dns_membership_changes_under_load(stubs, tmp_path: Path) -> None:
    run("membership", stubs, tmp_path)


@pytest.mark.timeout(120)
def test_a_partition_between_two_nodes(stubs, tmp_path: Path) -> None:
    run("partition", stubs, tmp_path)


def test_namespaces_are_deleted_when_the_body_fails() -> None:
    why = netns.available()
    if why:
        pytest.skip(why)
    with pytest.raises(RuntimeError, match="inside"):
        with netns.mesh(3) as net:
            assert len(net.leftovers()) >= 3
            raise RuntimeError("inside")
    assert net.leftovers() == []
    net2, ns, hosts = netns.shared(2)
    with net2:
        netns.write_hosts(hosts, "members", [net2.node_ip(0), net2.node_ip(1)])
        assert f"{net2.node_ip(1)} members" in hosts.read_text()
    assert net2.leftovers() == [] and not hosts.exists()


def test_write_docs_replaces_only_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{chaos.BEGIN}\nold table\n{chaos.END}\nafter\n")
    chaos.write_docs("| new |", doc)
    assert doc.read_text() == f"before\n{chaos.BEGIN}\n| new |\n{chaos.END}\nafter\n"
