"""Real nodes for the cluster tests: `distcache serve` subprocesses on 127.0.0.1.

Each node is started on a free loopback port over an SQLite database the test
made, is waited for until it says it serves, and is stopped by its pid when
the test ends, passed or failed (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from distcache.sqlite_getter import create_table

ROOT = Path(__file__).resolve().parents[2]
# Nodes' output, readable after they stop; removed when the test run ends.
_LOGS = tempfile.mkdtemp(prefix="distcache-node-logs-")
atexit.register(shutil.rmtree, _LOGS, True)
START_TIMEOUT = 30.0


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@dataclass
class Node:
    """One `distcache serve` process."""

    addr: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    # Run before the interpreter, e.g. ["ip", "netns", "exec", NS]: it execs
    # the node in place, so proc.pid stays the node's own pid.
    prefix: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, timeout: float = START_TIMEOUT) -> Node:
        """Starts the process and waits for its "serving" line."""
        fd, name = tempfile.mkstemp(prefix="node-", suffix=".log", dir=_LOGS)
        os.close(fd)
        log = Path(name)
        with open(log, "wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "distcache", "serve", "--addr", self.addr,
                 *self.args],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.logs.append(log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" serving " in log.read_bytes():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"node {self.addr} did not start: {self.output()}")

    def output(self) -> str:
        """What the node printed, over all its starts."""
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def pause(self, paused: bool) -> None:
        """SIGSTOP or SIGCONT: a hang, not a crash."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; idempotent (its output stays readable)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


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
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
