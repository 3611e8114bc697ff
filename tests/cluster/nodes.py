"""Real nodes for the cluster tests: `distcache serve` subprocesses on 127.0.0.1.

Each node is a distcache.cli.nodes.Node started from the repository's root
(so the child runs this tree's distcache), on a free loopback port over an
SQLite database the test made; it is waited for until it says it serves and
stopped by its pid when the test ends, passed or failed (SIGTERM, then
SIGKILL). Beside it: the test's source of truth, a cluster of n nodes, and the
client stubs generated from the .proto as any client would.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from distcache.cli import nodes
from distcache.cli.nodes import free_port, stop_all
from distcache.sqlite_getter import create_table

__all__ = ["ROOT", "Cluster", "Node", "free_port", "generate_stubs", "make_source"]

ROOT = Path(__file__).resolve().parents[2]


def make_source(path: Path, rows: int = 1000) -> Path:
    """An SQLite source of truth: key "k<i>" -> b"value-<i>"."""
    create_table(path, "items", {f"k{i}": b"value-%d" % i for i in range(rows)})
    return path


def generate_stubs(out: Path) -> tuple[ModuleType, ModuleType]:
    """(messages, service stubs): the stubs generated into out from the .proto, as any
    client would; the messages are the package's, generated from the same file
    (protobuf allows one definition of distcache.GetRequest per process)."""
    from distcache.cluster import distcache_pb2

    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}",
         f"--grpc_python_out={out}", str(ROOT / "proto/distcache.proto")],
        check=True,
    )
    sys.modules["distcache_pb2"] = distcache_pb2  # what the generated stubs import
    sys.path.insert(0, str(out))
    try:
        sys.modules.pop("distcache_pb2_grpc", None)
        rpc = importlib.import_module("distcache_pb2_grpc")
    finally:
        sys.path.remove(str(out))
        del sys.modules["distcache_pb2"]
    return distcache_pb2, rpc


class Node(nodes.Node):
    """One `distcache serve` process, run from the repository's root."""

    def __init__(self, addr: str, args: Sequence[str], prefix: Sequence[str] = ()) -> None:
        super().__init__(addr, args, prefix=prefix, cwd=ROOT)


class Cluster:
    """n nodes sharing one source; every node listed in every --peers."""

    def __init__(self, db: Path, n: int = 3, extra: list[str] | None = None,
                 group: str = "items:4MiB", metrics: bool = False) -> None:
        self.addrs = [f"127.0.0.1:{free_port()}" for _ in range(n)]
        # With metrics, node i serves its pages at metrics_urls[i].
        self.metrics_urls = [f"http://127.0.0.1:{free_port()}" for _ in range(n)] if metrics else []
        peers = ",".join(self.addrs)
        self.nodes = [
            Node(a, ["--peers", peers, "--group", group, "--loader", f"sqlite:{db}:items",
                     *(["--metrics", self.metrics_urls[i][len("http://"):]] if metrics else []),
                     *(extra or [])])
            for i, a in enumerate(self.addrs)
        ]

    def start(self) -> Cluster:
        """Starts the nodes one after the other, each waited for."""
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        """Stops every node by its pid; idempotent."""
        stop_all(self.nodes)
