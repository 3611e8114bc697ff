"""`distcache serve`'s startup line: the replicas it names are those each key has.

A key has min(--replicas, nodes in the cluster) replicas: a node alone (no
--peers, or --peers naming only itself) keeps every key once, whatever
--replicas says, and its line must say so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from distcache.cluster.pool import GRPCPool
from tests.cluster.nodes import Node, free_port, make_source


def serving_line(node: Node) -> str:
    return next(line for line in node.life_output().splitlines() if " serving " in line)


@pytest.mark.parametrize(
    ("peers", "replicas", "expected"),
    [
        ("none", None, "peers: 0, replicas: 1"),
        ("itself", None, "peers: 0, replicas: 1"),
        ("itself", "3", "peers: 0, replicas: 1"),
        ("two", "3", "peers: 1, replicas: 2"),  # the other node need not be up
        ("two", "1", "peers: 1, replicas: 1"),
    ],
)
def test_the_serving_line_names_the_replicas_a_key_has(
    tmp_path: Path, peers: str, replicas: str | None, expected: str
) -> None:
    db = make_source(tmp_path / "s.db", rows=3)
    addr = f"127.0.0.1:{free_port()}"
    args = ["--group", "g:1MiB", "--loader", f"sqlite:{db}:items"]
    if peers == "itself":
        args += ["--peers", addr]
    elif peers == "two":
        args += ["--peers", f"{addr},127.0.0.1:{free_port()}"]
    if replicas is not None:
        args += ["--replicas", replicas]
    with Node(addr, args) as node:
        node.start()
        line = serving_line(node)
    assert re.search(r"\(peers: \d+, replicas: \d+\)$", line), line
    assert line.endswith(f"({expected})"), line


def test_the_pool_says_how_many_replicas_a_key_has() -> None:
    pool = GRPCPool("127.0.0.1:1", replicas=2)
    try:
        assert (pool.replicas, pool.key_replicas) == (2, 1)
        pool.set_peers("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
        assert pool.key_replicas == 2
        pool.set_peers("127.0.0.1:1")
        assert pool.key_replicas == 1
    finally:
        pool.stop()
