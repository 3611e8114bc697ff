"""RSS per entry: each library fills a cache in a process of its own (asv_bench/rss.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from asv_bench.compare.provenance import ROOT
from asv_bench.compare.sizes import Sizes
from asv_bench.libraries import Library


def measure_rss(libs: list[Library], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """RSS per entry, each library filled in a subprocess of its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    out: dict[str, dict[str, Any]] = {}
    for lib in libs:
        if "rss" not in lib.applies:
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "asv_bench.rss", lib.name, str(sizes.rss_entries)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"RSS measurement of {lib.name} failed:\n{proc.stderr}")
        out[lib.name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out
