"""Local nodes: `distcache serve` processes on this machine, for the demo, the tests and the
benchmarks.

A Node builds the command line of `distcache serve`, starts it as a child
process (its output in a log file, a new one each life), waits until it says
it serves, and stops it by its pid: SIGTERM, then SIGKILL after a grace.
kill() is a crash (SIGKILL), pause() a hang (SIGSTOP, SIGCONT); start() after
a stop or a kill starts it again on the same address. Process is the same for
any other program (a redis-server beside the nodes), ready when a callable
says so. A process started here and still running when the interpreter exits
is stopped then, so a caller that fails before its own cleanup leaves none
behind.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["START_TIMEOUT", "STOP_GRACE", "Node", "Process", "free_port", "serve_command",
           "start_all", "stop_all"]

START_TIMEOUT = 30.0
"""Seconds a process has to become ready."""
STOP_GRACE = 10.0
"""Seconds a process has to exit after SIGTERM (then SIGKILL) or after SIGKILL."""

SERVING = b" serving "
STATS = "distcache serve: stats "

P = TypeVar("P", bound="Process")

_running: set[Process] = set()
# Guards _running and _log_dir: processes start and stop from several threads.
_lock = threading.Lock()
_log_dir: str | None = None  # the logs of processes not given a log_dir; removed at exit


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_command(addr: str, args: Sequence[str]) -> list[str]:
    """The command line of `distcache serve --addr ADDR ARGS...`, run by this interpreter."""
    return [sys.executable, "-m", "distcache", "serve", "--addr", addr, *args]


class Process:
    """One child process on this machine: started, waited for until ready, stopped by its pid."""

    def __init__(self, argv: Sequence[str], ready: Callable[[], bool] | None = None, *,
                 prefix: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, log_dir: str | Path | None = None,
                 name: str | None = None) -> None:
        self.argv = list(argv)
        self.ready = ready  # None: ready once started
        # Run before the program, e.g. ["ip", "netns", "exec", NS]: it execs
        # the program in place, so proc.pid stays the program's own pid.
        self.prefix = list(prefix)
        self.env = dict(env or {})  # over this process's environment
        self.cwd = cwd
        self.log_dir = log_dir
        self.name = name or os.path.basename(self.argv[0])
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []  # stdout and stderr, one file a life, the last this one's

    def command(self) -> list[str]:
        """What is executed: the prefix, then the program and its arguments."""
        return [*self.prefix, *self.argv]

    @property
    def pid(self) -> int | None:
        """The pid of this life, None before the first start."""
        return None if self.proc is None else self.proc.pid

    def running(self) -> bool:
        """Whether this life has not ended."""
        return self.proc is not None and self.proc.poll() is None

    def start(self: P, timeout: float = START_TIMEOUT) -> P:
        """Starts the process and waits until it is ready; also a restart after a stop or
        a kill. On a failure the process is stopped and RuntimeError says why."""
        start_all([self], timeout)
        return self

    def restart(self: P, timeout: float = START_TIMEOUT) -> P:
        """Stops the process if it runs, then starts it again with the same command."""
        self.stop()
        return self.start(timeout)

    def is_ready(self) -> bool:
        """Whether the started process is ready to be used."""
        return self.ready is None or self.ready()

    def output(self) -> str:
        """What the process printed, over all its lives."""
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def life_output(self) -> str:
        """What the process printed in its last life."""
        if not self.logs or not self.logs[-1].exists():
            return ""
        return self.logs[-1].read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(STOP_GRACE)
        with _lock:
            _running.discard(self)

    def pause(self, paused: bool) -> None:
        """SIGSTOP or SIGCONT: a hang, not a crash."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after grace seconds; idempotent (its output stays readable)."""
        stop_all([self], grace)

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _launch(self) -> None:
        if self.running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        fd, log = tempfile.mkstemp(prefix=re.sub(r"[^\w.]+", "-", self.name) + "-",
                                   suffix=".log", dir=self.log_dir or _default_log_dir())
        with os.fdopen(fd, "wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        self.logs.append(Path(log))
        with _lock:
            _running.add(self)

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self.proc is not None
        while True:
            try:
                if self.is_ready():
                    return
            except Exception:  # e.g. a probe's connection refused: not ready yet
                pass
            if self.proc.poll() is not None:
                why = f"exited with status {self.proc.returncode}"
                break
            if time.monotonic() >= deadline:
                why = f"not ready after {timeout:g} s"
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start ({why}):\n{self.life_output()}")


class Node(Process):
    """One `distcache serve` process on this machine: ready when it says it serves."""

    def __init__(self, addr: str, args: Sequence[str], *, prefix: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                 log_dir: str | Path | None = None) -> None:
        super().__init__(serve_command(addr, args), prefix=prefix, env=env, cwd=cwd,
                         log_dir=log_dir, name=f"node {addr}")
        self.addr = addr
        self.args = list(args)

    def is_ready(self) -> bool:
        """Whether this life printed its serving line."""
        # The line comes after the gRPC server started and the SIGTERM handler
        # was set: a node that printed it answers, and stops gracefully (exit 0)
        # when told to, which a port accepting connections does not say; and
        # reading it needs no way into a network namespace the node runs in.
        return SERVING in self.logs[-1].read_bytes()

    def stats(self) -> dict[str, Any]:
        """The counters, by group, that this life printed on a graceful stop; {} if none."""
        for line in self.life_output().splitlines():
            if line.startswith(STATS):
                return json.loads(line[len(STATS):])  # type: ignore[no-any-return]
        return {}


def start_all(processes: Iterable[Process], timeout: float = START_TIMEOUT) -> None:
    """Starts every process at once, then waits until each is ready (timeout seconds from
    the start); if one fails, stops them all and raises RuntimeError."""
    procs = list(processes)
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p._launch()
        for p in procs:
            p._wait_ready(deadline, timeout)
    except BaseException:
        stop_all(procs)
        raise


def stop_all(processes: Iterable[Process], grace: float = STOP_GRACE) -> None:
    """SIGTERM to every running process at once, then waits for each, with SIGKILL for one
    still running after grace seconds; idempotent."""
    procs = [p for p in processes if p.proc is not None]
    for p in procs:
        assert p.proc is not None
        if p.proc.poll() is None:
            # SIGCONT first: a paused process would leave SIGTERM pending.
            os.kill(p.proc.pid, signal.SIGCONT)
            os.kill(p.proc.pid, signal.SIGTERM)
    for p in procs:
        assert p.proc is not None
        try:
            p.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(p.proc.pid, signal.SIGKILL)
            p.proc.wait(STOP_GRACE)
        with _lock:
            _running.discard(p)


def _default_log_dir() -> str:
    global _log_dir
    with _lock:
        if _log_dir is None:
            _log_dir = tempfile.mkdtemp(prefix="distcache-node-logs-")
        return _log_dir


@atexit.register
def _stop_leftovers() -> None:
    with _lock:
        left = list(_running)
    stop_all(left)
    if _log_dir is not None:
        shutil.rmtree(_log_dir, ignore_errors=True)
