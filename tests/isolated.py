"""Runs Python code in a child process, so that a crash or a hang fails one test.

A livelock that spins with the GIL held freezes every thread of its process,
a watchdog thread included, and a segfault ends the process: neither can be
reported from inside. The child is stopped by its pid when it stops making
progress, also when the test fails.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Outcome:
    """What a child did: its exit status (negative: killed by that signal) and output."""

    returncode: int
    stdout: str
    stderr: str
    stalled: bool  # killed for printing nothing for `quiet` seconds

    def describe(self) -> str:
        """A failure message: how it ended and the tail of its output."""
        if self.stalled:
            how = "made no progress and was killed"
        elif self.returncode < 0:
            how = f"died of signal {signal.Signals(-self.returncode).name}"
        else:
            how = f"exited with status {self.returncode}"
        return f"child {how}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-4000:]}"


def run_python(code: str, *, quiet: float = 10.0, limit: float = 120.0,
               env: dict[str, str] | None = None) -> Outcome:
    """Runs code in `python -c`; kills it when it prints no line for `quiet` seconds
    (its progress heartbeat) or runs past `limit` seconds."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=child_env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    out: list[bytes] = []
    err: list[bytes] = []
    stalled = False
    try:
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        start = last = time.monotonic()
        open_streams = 2
        while open_streams:
            now = time.monotonic()
            if now - last > quiet or now - start > limit:
                stalled = True
                break
            for key, _ in sel.select(timeout=0.2):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                key.data.append(chunk)
                if key.data is out:
                    last = time.monotonic()
        sel.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    return Outcome(proc.returncode, b"".join(out).decode(errors="replace"),
                   b"".join(err).decode(errors="replace"), stalled)
