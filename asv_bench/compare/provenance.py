"""What a run measured and where: the commit, the CPU, the interpreter, the versions."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asv_bench.compare.sizes import Sizes
from asv_bench.libraries import Library

ROOT = Path(__file__).resolve().parents[2]
"""The checkout measured (the repository's root)."""


def distribution_version(name: str) -> str:
    """The installed version of a distribution, "?" when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def commit(implementation: str) -> str:
    """The checkout measured: short commit, and the measured core's files that differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    paths = (
        ["csrc", "distcache/_core*", "setup.py"]
        if implementation == "c"
        else ["distcache/_pycore*"]
    )
    dirty = [line[3:] for line in git("status", "--porcelain", "--", *paths).splitlines()]
    return head + (f" + uncommitted changes to {', '.join(dirty)}" if dirty else "")


def describe(
    libs: list[Library], dc: Any, with_libcachesim: bool, quick: bool, sizes: Sizes
) -> dict[str, Any]:
    """The header of a run's results: date, machine, versions, commit, sizes, load before."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "load_before": os.getloadavg()[0],
        "platform": platform.platform(terse=True),
        "versions": {
            **{lib.name: lib.version() for lib in libs},
            **({"libcachesim": distribution_version("libcachesim")} if with_libcachesim else {}),
        },
        "commit": commit(dc.IMPLEMENTATION),
        "quick": quick,
        "sizes": asdict(sizes),
        "entry_overhead": dc.ENTRY_OVERHEAD,
    }
