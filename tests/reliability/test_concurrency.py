"""Eight threads mixing every operation, on every shard count, both cores, groups.

Each case runs tests/reliability/hammer.py in a child process (tests/isolated.py):
a livelock that holds the GIL would freeze a watchdog thread of this process,
and a crash would end it. The child's watchdog fails the run with every
thread's stack when a worker stops making progress; the child's last line is
its report, checked here: no worker raised (each value read was a whole
value written for its key, each thread's own keys read back as last stored
or gone, nothing read after its ttl), every worker and every operation ran,
the caches' invariants held afterwards, and the paths the workload aims at
were taken (evictions, expirations, admission refusals, promotions...).

The GIL-free paths are in the mix: get_many and set_many batches, and values
of 32 KiB and more (docs/optimization.md, "The GIL"). On a free-threaded
interpreter the same cases run with no GIL at all (test_free_threaded).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.isolated import run_python

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 1.5  # per case: ~10k-30k operations of each kind on the C core
STALL = 10.0  # a worker without progress this long is hung (the child's watchdog)

# Every operation CacheHammer has; each must have run at least once.
CACHE_OPS = {"get", "getitem", "set", "setitem", "get_many", "set_many", "delete", "delitem",
             "contains", "large_set", "large_hit", "own_set", "own_get", "own_delete", "stats",
             "clear", "bloom", "sketch"}
GROUP_OPS = {"get_hot", "get_cold", "get_many", "set", "set_large", "delete", "stats"}

CACHE_CASES = [(shards, admission) for shards in (1, 2, 16, 256) for admission in (None, "tinylfu")]
GROUP_CASES = [("group", None), ("group", "tinylfu"), ("cluster", "tinylfu")]


def hammer(config: dict[str, Any], *, python: str | None = None,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs one hammer.Config in a child (on python, default this one); its report."""
    code = f"from tests.reliability.hammer import main; main({json.dumps(config)!r})"
    if python is not None:
        # run_python starts this interpreter; it becomes the other one, same pid and pipes.
        code = f"import os; os.execv({python!r}, [{python!r}, '-c', {code!r}])"
    outcome = run_python(code, quiet=STALL + 10, limit=config["seconds"] + 90, env=env)
    assert outcome.returncode == 0 and not outcome.stalled, (
        outcome.describe() + "\n--- the child's whole stderr (thread stacks)\n" + outcome.stderr)
    report: dict[str, Any] = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], "\n".join(report["errors"])
    assert all(n > 0 for n in report["ops"]), report["ops"]  # every worker got through
    return report


def check_cache_report(report: dict[str, Any], admission: str | None) -> None:
    """What a cache run must have done besides raising nothing."""
    ops = CACHE_OPS | ({"frequency"} if admission else set())
    assert ops <= set(report["by_op"]), ops - set(report["by_op"])
    stats = report["stats"]
    assert stats["hits"] > 0 and stats["evictions"] > 0, stats
    assert stats["expirations"] > 0, stats
    assert report["expired_checked"] > 0  # own keys read after their ttl: all came back empty
    if admission:
        assert stats["admission_rejects"] > 0, stats
    assert report["sketch_halvings"] > 0


def check_group_report(report: dict[str, Any], kind: str) -> None:
    """What a group run must have done besides raising nothing."""
    assert GROUP_OPS <= set(report["by_op"]), GROUP_OPS - set(report["by_op"])
    stats = report["stats"]
    assert stats["errors"] == 0, stats
    assert stats["local_hits"] > 0 and stats["loaded"] > 0 and stats["getter_loads"] > 0, stats
    assert stats["not_found"] + stats["negative_hits"] > 0, stats
    if kind == "cluster":  # hot keys of other nodes copied, served and kept on replicas
        assert stats["promotions"] > 0 and stats["hot_hits"] > 0, stats
        assert stats["remote_hits"] > 0 and stats["replica_pushes"] > 0, stats
        assert stats["peer_errors"] == 0 and stats["broadcast_errors"] == 0, stats


@pytest.mark.parametrize(("shards", "admission"), CACHE_CASES)
def test_cache_under_eight_threads(core: ModuleType, shards: int, admission: str | None) -> None:
    report = hammer({"kind": "cache", "module": core.__name__, "shards": shards,
                     "admission": admission, "seconds": SECONDS, "stall": STALL})
    check_cache_report(report, admission)


@pytest.mark.parametrize(("kind", "admission"), GROUP_CASES)
def test_groups_under_eight_threads(core: ModuleType, kind: str, admission: str | None) -> None:
    """new_group with a getter (and three of them wired as an in-process cluster):
    get, get_many, set and delete of hot and cold keys, keys the source lacks."""
    report = hammer({"kind": kind, "module": core.__name__, "admission": admission,
                     "seconds": SECONDS, "stall": STALL})
    check_group_report(report, kind)


# ------------------------------------------------------------ free-threaded

FT_NAMES = ("python3.13t", "python3.14t", "python3.15t")
FT_BUILD = ROOT / "build" / "reliability-free-threaded"


def _gil_disabled(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))"],
            capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return out.stdout.strip() == "1"


def free_threaded_python() -> str | None:
    """A free-threaded CPython of this machine: $DISTCACHE_FREE_THREADED_PYTHON, a
    python3.1xt on PATH, or a pyenv version built with --disable-gil; or None."""
    candidates = [os.environ.get("DISTCACHE_FREE_THREADED_PYTHON", "")]
    candidates += [shutil.which(name) or "" for name in FT_NAMES]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*t/bin/python")))
    return next((c for c in candidates if c and _gil_disabled(c)), None)


def build_tree(python: str) -> Path:
    """A copy of distcache with the extension built for python, out of the work tree
    (whose distcache/_core*.so other processes import); rebuilt when a source changes."""
    package = [p for p in (ROOT / "distcache").iterdir()
               if p.suffix in (".py", ".pyx", ".pxd", ".pyi", ".html", ".typed")]
    sources = sorted([ROOT / "setup.py", *(ROOT / "csrc").glob("*.h"), *package])
    digest = hashlib.sha256(python.encode())
    for path in sources:
        digest.update(path.name.encode() + path.read_bytes())
    tree = FT_BUILD / digest.hexdigest()[:16]
    if (tree / "built").exists():
        return tree
    shutil.rmtree(FT_BUILD, ignore_errors=True)
    venv = FT_BUILD / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    vpy = str(venv / "bin" / "python")
    # Cython 3.1 is the first to generate free-threading-correct modules.
    subprocess.run([vpy, "-m", "pip", "install", "-q", "Cython>=3.1", "setuptools>=77"],
                   check=True)
    (tree / "distcache").mkdir(parents=True)
    shutil.copytree(ROOT / "csrc", tree / "csrc")
    shutil.copy(ROOT / "setup.py", tree)
    for path in package:
        shutil.copy(path, tree / "distcache")
    subprocess.run([vpy, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, check=True)
    (tree / "built").touch()
    return tree


def test_free_threaded() -> None:
    """The C core cases and the group cases with no GIL at all, when the machine has
    a free-threaded CPython; the child must report the GIL disabled (importing an
    extension that did not declare free-threading would have enabled it)."""
    python = free_threaded_python()
    if python is None:
        pytest.skip("no free-threaded CPython here (looked for $DISTCACHE_FREE_THREADED_PYTHON, "
                    f"{', '.join(FT_NAMES)} on PATH, ~/.pyenv/versions/*t; "
                    "Debian 12 ships none and PyPI has no interpreter package)")
    tree = build_tree(python)
    for shards, admission in CACHE_CASES:
        report = hammer({"kind": "cache", "module": "distcache._core", "shards": shards,
                         "admission": admission, "seconds": SECONDS, "stall": STALL,
                         "path": [str(tree)]}, python=python)
        assert report["gil_enabled"] is False, report["core_file"]
        assert report["core_file"].startswith(str(tree)), report["core_file"]
        check_cache_report(report, admission)
    for kind, admission in GROUP_CASES:
        report = hammer({"kind": kind, "module": "distcache._core", "admission": admission,
                         "seconds": SECONDS, "stall": STALL, "path": [str(tree)]},
                        python=python)
        assert report["gil_enabled"] is False
        check_group_report(report, kind)
