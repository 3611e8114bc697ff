"""The asv suite (asv_bench/benchmarks) imports, and every benchmark in it runs once.

asv runs a benchmark only when asked (`make asv`), so a suite broken by a
change would show up only in the next release's tracking. Here each
benchmark runs once with each of its parameters, found by asv's naming
rules (time_, track_, mem_, peakmem_, timeraw_ prefixes, on module
functions and on classes with setup/teardown); then asv itself checks the
suite (`asv check`), when installed (the bench extra, which CI installs).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import os
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import asv_bench.benchmarks as suite

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("time_", "track_", "mem_", "peakmem_", "timeraw_")


def _benchmarks() -> list[tuple[str, Callable[[], Any]]]:
    """(name, a callable running the benchmark once) for every benchmark of the suite."""
    found: list[tuple[str, Callable[[], Any]]] = []
    for info in pkgutil.iter_modules(suite.__path__):
        module = importlib.import_module(f"{suite.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) and name.startswith(PREFIXES):
                found.append((f"{info.name}.{name}", obj))
            elif inspect.isclass(obj):
                params = getattr(obj, "params", [])
                if params and not isinstance(params[0], list):
                    params = [params]
                for method in sorted(n for n in dir(obj) if n.startswith(PREFIXES)):
                    for combo in itertools.product(*params):
                        found.append((f"{info.name}.{name}.{method}{combo}",
                                      _bound(obj, method, combo)))
    return found


def _bound(cls: type, method: str, combo: tuple[Any, ...]) -> Callable[[], Any]:
    def run() -> Any:
        bench = cls()
        if hasattr(bench, "setup"):
            bench.setup(*combo)
        try:
            return getattr(bench, method)(*combo)
        finally:
            if hasattr(bench, "teardown"):
                bench.teardown(*combo)

    return run


BENCHMARKS = _benchmarks()


def test_the_suite_has_the_group_benchmarks() -> None:
    names = [name for name, _ in BENCHMARKS]
    assert len(names) >= 30
    assert "bench_group.track_group_get_over_lrucache_get" in names
    assert "bench_group.Hits.time_hits('Group.aget',)" in names


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "run"), BENCHMARKS, ids=[name for name, _ in BENCHMARKS])
def test_benchmark_runs_once(name: str, run: Callable[[], Any]) -> None:
    result = run()
    if ".track_" in name or name.split(".")[1].startswith("track_"):
        assert isinstance(result, int | float) and math.isfinite(result), result


@pytest.mark.timeout(300)
def test_asv_checks_the_suite() -> None:
    pytest.importorskip("asv", reason="asv is in the bench extra (make bench-deps)")
    out = subprocess.run(
        [sys.executable, "-m", "asv", "check", "--python=same"],
        cwd=ROOT / "asv_bench", capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No problems found" in out.stdout, out.stdout
